package intake

import (
	"cmp"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mail"
)

// CodeDigits is the length of a verification code.
const CodeDigits = 8

// Store keeps codes and rate limit counters; lethe.Store is one.
type Store interface {
	lethe.VerificationStore
	lethe.RateLimitStore
}

// Mailer queues e-mail under an id the caller chose; *mail.Outbox is one.
type Mailer interface {
	EnqueueID(ctx context.Context, id string, ref lethe.SubjectRef, to, template string, data map[string]any) error
}

// Options configures a Service.
type Options struct {
	// Store keeps codes and counters. Required.
	Store Store
	// Mailer sends the codes. Required.
	Mailer Mailer
	// Secret is the server secret the code and rate limit keys are
	// derived from (HKDF-SHA256, one key per use), at least 32 bytes; every
	// node sharing the store must use the same. keyring.Secrets.RefKey
	// serves. Required.
	Secret []byte
	// CodeTTL is how long a code stays valid. Defaults to 30 minutes.
	CodeTTL time.Duration
	// MaxAttempts is how many times a code may be tried. Defaults to 5.
	MaxAttempts int
	// ResendAfter is the wait before a new code for the same request.
	// Defaults to 1 minute.
	ResendAfter time.Duration
	// PerIdentity bounds LimitIdentity. Defaults to 5/1h.
	PerIdentity lethe.Rate
	// PerClient bounds LimitClient. Defaults to 20/1h.
	PerClient lethe.Rate
	// Controller signs the e-mail (the controller's name). Optional.
	Controller string
	// PurgeInterval is how often Run purges. Defaults to 10 minutes.
	PurgeInterval time.Duration
	// Clock defaults to lethe.SystemClock.
	Clock lethe.Clock
	// Logger gets request ids and outcomes only. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// Service issues and checks verification codes and applies the rate
// limits of public intake. It is safe for concurrent use, also by several
// processes sharing the store.
type Service struct {
	opts    Options
	codeKey []byte
	rateKey []byte
	clock   lethe.Clock
	log     *slog.Logger
}

// HKDF labels: one key per use of the secret.
const (
	codeKeyInfo = "lethe verification code v1"
	rateKeyInfo = "lethe rate limit key v1"
)

// New returns a Service. EINVALID for a missing store, mailer or secret,
// or an out-of-range setting.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Mailer == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "intake: Store and Mailer are required")
	}
	if len(opts.Secret) < 32 {
		return nil, lethe.Errorf(lethe.EINVALID, "intake: a secret of at least 32 bytes is required")
	}
	opts.CodeTTL = cmp.Or(opts.CodeTTL, lethe.DefaultCodeTTL)
	opts.MaxAttempts = cmp.Or(opts.MaxAttempts, lethe.DefaultMaxAttempts)
	opts.ResendAfter = cmp.Or(opts.ResendAfter, lethe.DefaultResendAfter)
	opts.PurgeInterval = cmp.Or(opts.PurgeInterval, 10*time.Minute)
	if opts.PerIdentity.IsZero() {
		opts.PerIdentity = lethe.DefaultPerIdentity
	}
	if opts.PerClient.IsZero() {
		opts.PerClient = lethe.DefaultPerClient
	}
	if opts.CodeTTL < 0 || opts.MaxAttempts < 1 || opts.ResendAfter < 0 || opts.PerIdentity.Limit < 1 || opts.PerIdentity.Window <= 0 ||
		opts.PerClient.Limit < 1 || opts.PerClient.Window <= 0 {
		return nil, lethe.Errorf(lethe.EINVALID, "intake: code TTL, attempts, resend wait and rate limits must be positive")
	}
	codeKey, err := hkdf.Key(sha256.New, opts.Secret, nil, codeKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the verification code key: %w", err)
	}
	rateKey, err := hkdf.Key(sha256.New, opts.Secret, nil, rateKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the rate limit key: %w", err)
	}
	return &Service{opts: opts, codeKey: codeKey, rateKey: rateKey,
		clock: cmp.Or[lethe.Clock](opts.Clock, lethe.SystemClock{}), log: cmp.Or(opts.Logger, slog.Default())}, nil
}

// Settings returns the service's effective settings.
func (s *Service) Settings() lethe.IntakeSettings {
	return lethe.IntakeSettings{CodeTTL: s.opts.CodeTTL, MaxAttempts: s.opts.MaxAttempts, ResendAfter: s.opts.ResendAfter,
		PerIdentity: s.opts.PerIdentity, PerClient: s.opts.PerClient}
}

// Issued is what Issue sent.
type Issued struct {
	// Issue is 1 for the request's first code, then 2, 3, ...
	Issue     int
	ExpiresAt time.Time
	// MessageID is the outbox message that carries the code.
	MessageID string
}

// MessageID is the outbox id of the e-mail that carries the given issue
// of the request's code.
func MessageID(requestID string, issue int) string {
	return "mail_verification_" + requestID + "_" + strconv.Itoa(issue)
}

// Issue makes a new code for the request, stores its hash (with an audit
// entry) and queues the e-mail that carries it to email, the address of
// ref. Called again for the same request, it replaces the earlier code,
// but only ResendAfter after it (ERATELIMITED with the wait, see
// RetryAfter). EINVALID (field email) for an address that is not one;
// ECONFLICT once the request was verified.
func (s *Service) Issue(ctx context.Context, requestID string, ref lethe.SubjectRef, email string) (Issued, error) {
	addr, err := (lethe.Identity{Type: lethe.IdentityEmail, Value: email}).Normalise()
	if err != nil {
		return Issued{}, lethe.FieldErrorf("email", "not an e-mail address")
	}
	now := s.clock.Now().UTC()
	next := 1
	cur, err := s.opts.Store.VerificationGet(ctx, requestID)
	switch {
	case err == nil:
		if cur.UsedAt != nil {
			return Issued{}, lethe.Errorf(lethe.ECONFLICT, "this request was verified already; no new code is sent")
		}
		if wait := cur.CreatedAt.Add(s.opts.ResendAfter).Sub(now); wait > 0 {
			return Issued{}, limited("a code was sent for this request a moment ago; check your inbox, or ask again", wait)
		}
		next = cur.Issue + 1
	case lethe.ErrorCode(err) != lethe.ENOTFOUND:
		return Issued{}, fmt.Errorf("issue verification code: %w", err)
	}
	code, err := newCode()
	if err != nil {
		return Issued{}, err
	}
	c := lethe.VerificationCode{RequestID: requestID, SubjectRef: ref, Issue: next, Hash: s.hash(requestID, code),
		CreatedAt: now, ExpiresAt: now.Add(s.opts.CodeTTL), MaxAttempts: s.opts.MaxAttempts}
	if err := s.opts.Store.VerificationIssue(ctx, c, lethe.AuditRecord{
		Actor: "system", Action: "request.verification_sent", SubjectRef: ref, Object: requestID,
		Details: map[string]string{"issue": strconv.Itoa(next), "expires_at": c.ExpiresAt.Format(time.RFC3339)},
	}); err != nil {
		return Issued{}, fmt.Errorf("issue verification code: %w", err)
	}
	data := map[string]any{"code": code, "expires_in": humanDuration(s.opts.CodeTTL)}
	if s.opts.Controller != "" {
		data["controller"] = s.opts.Controller
	}
	id := MessageID(requestID, next)
	if err := s.opts.Mailer.EnqueueID(ctx, id, ref, addr.Value, mail.TemplateVerificationCode, data); err != nil && lethe.ErrorCode(err) != lethe.ECONFLICT {
		return Issued{}, fmt.Errorf("send verification code: %w", err)
	}
	s.log.InfoContext(ctx, "verification code sent", "request", requestID, "issue", next, "message", id)
	return Issued{Issue: next, ExpiresAt: c.ExpiresAt, MessageID: id}, nil
}

// Checked is the outcome of a Check.
type Checked struct {
	// Verified is true when the code was right.
	Verified bool
	// AttemptsLeft is how many more attempts the code allows.
	AttemptsLeft int
}

// Check compares code with the request's current code in constant time
// and counts the attempt. A right code is used up. A wrong one is EINVALID
// on the field code, saying how many attempts are left (also in Checked).
// ECONFLICT when the code is used, expired or locked (a new one must be
// asked for), ENOTFOUND when no code was sent for the request; neither
// counts as an attempt, nor does a code that is not 8 digits (EINVALID).
func (s *Service) Check(ctx context.Context, requestID, code string) (Checked, error) {
	code, ok := normaliseCode(code)
	if !ok {
		return Checked{}, lethe.FieldErrorf("code", "a verification code is %d digits, as in the e-mail", CodeDigits)
	}
	now := s.clock.Now().UTC()
	cur, err := s.opts.Store.VerificationGet(ctx, requestID)
	if err != nil {
		return Checked{}, err
	}
	if err := cur.Usable(now); err != nil {
		return Checked{AttemptsLeft: cur.AttemptsLeft()}, err
	}
	matched := hmac.Equal(s.hash(requestID, code), cur.Hash)
	action := "request.verification_failed"
	if matched {
		action = "request.verification_passed"
	}
	got, err := s.opts.Store.VerificationAttempt(ctx, requestID, cur.Issue, matched, now, lethe.AuditRecord{
		Actor: "requester", Action: action, SubjectRef: cur.SubjectRef, Object: requestID,
		Details: map[string]string{"issue": strconv.Itoa(cur.Issue)},
	})
	if err != nil {
		return Checked{}, err
	}
	res := Checked{Verified: matched, AttemptsLeft: got.AttemptsLeft()}
	s.log.InfoContext(ctx, "verification code tried", "request", requestID, "issue", got.Issue, "right", matched, "attempts_left", res.AttemptsLeft)
	if matched {
		return res, nil
	}
	if res.AttemptsLeft == 0 {
		return res, lethe.FieldErrorf("code", "wrong code; no attempts left: this code is locked, ask for a new one")
	}
	return res, lethe.FieldErrorf("code", "wrong code; %d %s left", res.AttemptsLeft, plural(res.AttemptsLeft, "attempt", "attempts"))
}

// LimitIdentity counts a request for the e-mail address against
// PerIdentity and returns ERATELIMITED (see RetryAfter) once the window's
// limit is passed. EINVALID (field email) for an address that is not one.
func (s *Service) LimitIdentity(ctx context.Context, email string) error {
	addr, err := (lethe.Identity{Type: lethe.IdentityEmail, Value: email}).Normalise()
	if err != nil {
		return lethe.FieldErrorf("email", "not an e-mail address")
	}
	return s.limit(ctx, "identity:"+s.rateKeyOf("email:"+addr.Value), s.opts.PerIdentity)
}

// LimitClient counts a call from the client address against PerClient
// (an IPv6 address counts for its /64) and returns ERATELIMITED (see
// RetryAfter) once the window's limit is passed.
func (s *Service) LimitClient(ctx context.Context, client netip.Addr) error {
	return s.limit(ctx, "client:"+s.rateKeyOf(ClientKey(client)), s.opts.PerClient)
}

// ClientKey is the part of a client address that rate limits count: the
// address for IPv4, its /64 for IPv6.
func ClientKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func (s *Service) limit(ctx context.Context, key string, r lethe.Rate) error {
	now := s.clock.Now().UTC()
	start := now.Truncate(r.Window)
	end := start.Add(r.Window)
	hits, err := s.opts.Store.RateLimitHit(ctx, key, start, end)
	if err != nil {
		return fmt.Errorf("count rate limit: %w", err)
	}
	if hits > r.Limit {
		return limited("too many requests", end.Sub(now))
	}
	return nil
}

// LimitError is the cause of an ERATELIMITED error: how long to wait.
type LimitError struct{ RetryAfter time.Duration }

func (e *LimitError) Error() string { return "retry after " + e.RetryAfter.String() }

func limited(msg string, wait time.Duration) error {
	wait = max(wait, time.Second).Round(time.Second)
	return &lethe.Error{Code: lethe.ERATELIMITED, Message: msg + "; try again in " + humanDuration(wait),
		Err: &LimitError{RetryAfter: wait}}
}

// RetryAfter returns how long to wait after an ERATELIMITED error of this
// package.
func RetryAfter(err error) (time.Duration, bool) {
	var le *LimitError
	if errors.As(err, &le) {
		return le.RetryAfter, true
	}
	return 0, false
}

// PurgeResult counts what a Purge deleted.
type PurgeResult struct {
	Codes    int // expired codes, used or not
	Counters int // rate limit counters whose window ended
}

// Purge deletes the expired codes and the counters of windows that ended.
func (s *Service) Purge(ctx context.Context) (PurgeResult, error) {
	now := s.clock.Now().UTC()
	var res PurgeResult
	var err error
	if res.Codes, err = s.opts.Store.VerificationPurge(ctx, now); err != nil {
		return res, fmt.Errorf("purge verification codes: %w", err)
	}
	if res.Counters, err = s.opts.Store.RateLimitPurge(ctx, now); err != nil {
		return res, fmt.Errorf("purge rate limit counters: %w", err)
	}
	return res, nil
}

// Run calls Purge every PurgeInterval until ctx ends, then returns nil.
// A failed purge is logged and tried again at the next tick.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.PurgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		res, err := s.Purge(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.ErrorContext(ctx, "purge intake state", "err", err)
		case res.Codes+res.Counters > 0:
			s.log.DebugContext(ctx, "purged intake state", "codes", res.Codes, "counters", res.Counters)
		}
	}
}

// hash is HMAC-SHA256(codeKey, request id NUL code): bound to the request,
// so a code cannot be replayed against another.
func (s *Service) hash(requestID, code string) []byte {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte(requestID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

func (s *Service) rateKeyOf(v string) string {
	m := hmac.New(sha256.New, s.rateKey)
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

var codeSpace = big.NewInt(100_000_000) // 10^CodeDigits

// newCode returns CodeDigits uniformly random decimal digits.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, codeSpace)
	if err != nil {
		return "", fmt.Errorf("make verification code: %w", err)
	}
	return fmt.Sprintf("%0*d", CodeDigits, n), nil
}

// normaliseCode drops the spaces and dashes people type or paste with a
// code, and reports whether what is left is CodeDigits digits.
func normaliseCode(code string) (string, bool) {
	if len(code) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range code {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '\t':
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == CodeDigits
}

// humanDuration writes d for a person: "30 minutes", "1 hour 30 minutes",
// "45 seconds".
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		n := int(max(d.Round(time.Second)/time.Second, 1))
		return strconv.Itoa(n) + " " + plural(n, "second", "seconds")
	}
	d = d.Round(time.Minute)
	var parts []string
	if h := int(d / time.Hour); h > 0 {
		parts = append(parts, strconv.Itoa(h)+" "+plural(h, "hour", "hours"))
	}
	if m := int(d % time.Hour / time.Minute); m > 0 {
		parts = append(parts, strconv.Itoa(m)+" "+plural(m, "minute", "minutes"))
	}
	return strings.Join(parts, " ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
