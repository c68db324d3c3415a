package lethe

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// VerificationCode is the stored form of a one-time code sent to the
// person who made a request (package intake), to prove they hold the
// identity they named. It holds no personal data and never the code
// itself: only a keyed hash of the request id and the code.
type VerificationCode struct {
	RequestID string
	// SubjectRef is the reference of the identity the code was sent to.
	SubjectRef SubjectRef
	// Issue is 1 for the first code of a request and one more for each
	// code sent again; a new issue replaces the previous code.
	Issue int
	// Hash is HMAC-SHA256 over the request id and the code.
	Hash        []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
	Attempts    int // attempts made at this issue, right or wrong
	MaxAttempts int
	UsedAt      *time.Time
}

// VerificationState is where a verification code stands.
type VerificationState string

// Verification code states.
const (
	VerificationActive  VerificationState = "active"  // may be tried
	VerificationUsed    VerificationState = "used"    // the right code was given once; never again
	VerificationExpired VerificationState = "expired" // past ExpiresAt
	VerificationLocked  VerificationState = "locked"  // out of attempts
)

// State returns the code's state at now. A used code stays used whatever
// the time.
func (c VerificationCode) State(now time.Time) VerificationState {
	switch {
	case c.UsedAt != nil:
		return VerificationUsed
	case c.Attempts >= c.MaxAttempts:
		return VerificationLocked
	case !now.Before(c.ExpiresAt):
		return VerificationExpired
	}
	return VerificationActive
}

// AttemptsLeft is how many more attempts the code allows.
func (c VerificationCode) AttemptsLeft() int { return max(0, c.MaxAttempts-c.Attempts) }

// Usable returns nil when the code may be tried at now, and otherwise an
// ECONFLICT that tells the person what to do.
func (c VerificationCode) Usable(now time.Time) error {
	switch c.State(now) {
	case VerificationUsed:
		return Errorf(ECONFLICT, "this verification code was already used; it cannot be used again")
	case VerificationLocked:
		return Errorf(ECONFLICT, "too many wrong codes: this code is locked; ask for a new code")
	case VerificationExpired:
		return Errorf(ECONFLICT, "this verification code expired; ask for a new code")
	}
	return nil
}

// CheckNextIssue returns nil when a code of the given issue may replace
// cur (the zero VerificationCode when the request has none), and ECONFLICT
// otherwise. Stores implementing VerificationIssue call it.
func CheckNextIssue(cur VerificationCode, issue int) error {
	switch {
	case cur.UsedAt != nil:
		return Errorf(ECONFLICT, "this request was verified already; no new code is sent")
	case issue != cur.Issue+1:
		return Errorf(ECONFLICT, "another verification code was just sent for this request; use that one")
	}
	return nil
}

// AttemptRefused says why an attempt at the given issue of the request's
// current code cur was refused at now (ECONFLICT). Stores implementing
// VerificationAttempt call it.
func AttemptRefused(cur VerificationCode, issue int, now time.Time) error {
	if cur.Issue != issue && cur.UsedAt == nil {
		return Errorf(ECONFLICT, "a newer verification code was sent for this request; use the latest one")
	}
	if err := cur.Usable(now); err != nil {
		return err
	}
	return Errorf(ECONFLICT, "this verification code cannot be used now; ask for a new code")
}

// VerificationStore keeps the verification codes of requests. Every
// method is atomic, also across processes sharing the database.
type VerificationStore interface {
	// VerificationIssue stores code as its request's current code and
	// appends the audit record, in one transaction. code.Issue must be 1
	// for a request without a code, and one more than the current code's
	// issue otherwise: the new code then replaces the current one (hash,
	// expiry, attempts). ECONFLICT when it is not (another issue won the
	// race) or when the current code was used.
	VerificationIssue(ctx context.Context, code VerificationCode, audit AuditRecord) error
	// VerificationGet returns the request's current code (ENOTFOUND if
	// none was issued).
	VerificationGet(ctx context.Context, requestID string) (VerificationCode, error)
	// VerificationAttempt counts one attempt at the request's code and
	// appends the audit record, in one transaction, only while the
	// current code is the given issue and active at now (checked and
	// counted in one step, so concurrent attempts never exceed
	// MaxAttempts). matched marks the code used. It returns the code as
	// stored afterwards; ECONFLICT (with Usable's message) when the code
	// is used, locked, expired or was replaced by a later issue, and
	// ENOTFOUND when the request has no code.
	VerificationAttempt(ctx context.Context, requestID string, issue int, matched bool, now time.Time, audit AuditRecord) (VerificationCode, error)
	// VerificationPurge deletes the codes that expired before `before`,
	// used or not, and returns how many it deleted.
	VerificationPurge(ctx context.Context, before time.Time) (int, error)
}

// RateLimitStore keeps fixed-window counters for rate limits shared by
// every node on the database.
type RateLimitStore interface {
	// RateLimitHit counts one hit of key in the window [start, end) and
	// returns the window's hits, this one included; concurrent hits from
	// any process are all counted. key must not hold personal data in the
	// clear: callers pass a keyed hash of an identity or an address.
	RateLimitHit(ctx context.Context, key string, start, end time.Time) (int, error)
	// RateLimitPurge deletes the counters of windows that ended at or
	// before `before`, and returns how many it deleted.
	RateLimitPurge(ctx context.Context, before time.Time) (int, error)
}

// Rate is a rate limit: at most Limit events per Window. It is written
// "5/1h": a count, a slash and a window of one or more <number><unit>
// parts with units d (24 hours), h, m and s.
type Rate struct {
	Limit  int
	Window time.Duration
}

// ParseRate reads a rate written as "5/1h", "20/30m" or "100/1d".
func ParseRate(s string) (Rate, error) {
	in := strings.TrimSpace(s)
	count, window, ok := strings.Cut(in, "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q is not a rate; write a count and a window, e.g. 5/1h or 20/30m", in)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || n > 1_000_000 {
		return Rate{}, fmt.Errorf("%q: the count before the slash is a whole number from 1 to 1000000", in)
	}
	d, err := ParseDuration(window)
	if err != nil || d.Months != 0 {
		return Rate{}, fmt.Errorf("%q: the window after the slash is a duration in d, h, m or s, e.g. 1h or 30m", in)
	}
	w := time.Duration(d.Days)*24*time.Hour + d.Clock
	if w < time.Second || w > 31*24*time.Hour {
		return Rate{}, fmt.Errorf("%q: the window is from 1s to 31d", in)
	}
	return Rate{Limit: n, Window: w}, nil
}

// IsZero reports whether r is the zero rate (commonly: not set).
func (r Rate) IsZero() bool { return r == Rate{} }

// String writes r as ParseRate reads it.
func (r Rate) String() string {
	if r.IsZero() {
		return ""
	}
	w := r.Window
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Limit))
	b.WriteByte('/')
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := w / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			w -= n * u.d
		}
	}
	return b.String()
}

// MarshalText writes r as ParseRate reads it.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a rate written as ParseRate reads it.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// RequestsConfig configures how requests are received from the people
// they are about (the requests: block of lethe.yaml).
type RequestsConfig struct {
	// Verification configures the one-time codes sent by e-mail to people
	// who make a request without a trusted API key.
	Verification *VerificationConfig `yaml:"verification,omitempty" json:"verification,omitempty"`
	// RateLimits bound how often requests may be made without a trusted
	// API key.
	RateLimits *RateLimitsConfig `yaml:"rate_limits,omitempty" json:"rate_limits,omitempty"`
	// TrustedProxies are the CIDR ranges of the reverse proxies in front
	// of Lethe: only a connection from one of them may name the client's
	// address in X-Forwarded-For. Defaults to none (the connection's own
	// address is the client's).
	TrustedProxies []string `yaml:"trusted_proxies,omitempty" json:"trusted_proxies,omitempty"`
	// PublicIntake accepts requests without an API key from the people
	// they are about (POST /v1/requests, verified by an e-mailed code).
	// Defaults to true; false leaves intake to applications with a key.
	PublicIntake *bool `yaml:"public_intake,omitempty" json:"public_intake,omitempty"`
	// Run configures the workers that run requests.
	Run *RequestRunConfig `yaml:"run,omitempty" json:"run,omitempty"`
	// KeepRecords is how long a finished request's record is kept (date,
	// type, channel, response date, outcome, reason). At least 24 months;
	// defaults to 24mo.
	KeepRecords Duration `yaml:"keep_records,omitempty" json:"keep_records,omitempty"`
	// ExportMaxAge is how long an access or portability package stays
	// downloadable. Defaults to 30d.
	ExportMaxAge Duration `yaml:"export_max_age,omitempty" json:"export_max_age,omitempty"`
	// SupervisoryAuthority is named in rejection notices, where the person
	// may lodge a complaint (Art. 12(4)).
	SupervisoryAuthority string `yaml:"supervisory_authority,omitempty" json:"supervisory_authority,omitempty"`
}

// RequestRunConfig configures the request workers.
type RequestRunConfig struct {
	// Concurrency is how many requests one process runs at once.
	// Defaults to 4.
	Concurrency int `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
	// Lease is how long a worker holds a request between renewals; a
	// request whose worker died is resumed once it runs out. Defaults to
	// 30s.
	Lease Duration `yaml:"lease,omitempty" json:"lease,omitempty"`
	// MaxAttempts is how many runs a request gets when a datastore fails
	// before it is left failed or partially completed. Defaults to 5.
	MaxAttempts int `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
}

// VerificationConfig configures verification codes.
type VerificationConfig struct {
	// CodeTTL is how long a code stays valid. Defaults to 30m.
	CodeTTL Duration `yaml:"code_ttl,omitempty" json:"code_ttl,omitempty"`
	// MaxAttempts is how many times a code may be tried, right or wrong.
	// Defaults to 5.
	MaxAttempts int `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	// ResendAfter is how long a person waits before a new code is sent
	// for the same request. Defaults to 1m.
	ResendAfter Duration `yaml:"resend_after,omitempty" json:"resend_after,omitempty"`
}

// RateLimitsConfig configures the rate limits of public intake.
type RateLimitsConfig struct {
	// PerIdentity bounds the requests (and resent codes) for one e-mail
	// address. Defaults to 5/1h.
	PerIdentity Rate `yaml:"per_identity,omitempty" json:"per_identity,omitempty"`
	// PerClient bounds the public calls from one client address (an IPv6
	// client counts per /64). Defaults to 20/1h.
	PerClient Rate `yaml:"per_client,omitempty" json:"per_client,omitempty"`
}

// Defaults of RequestsConfig.
const (
	DefaultCodeTTL     = 30 * time.Minute
	DefaultMaxAttempts = 5
	DefaultResendAfter = time.Minute
)

// Default rate limits of public intake.
var (
	DefaultPerIdentity = Rate{Limit: 5, Window: time.Hour}
	DefaultPerClient   = Rate{Limit: 20, Window: time.Hour}
)

// IntakeSettings are a RequestsConfig with its defaults applied.
type IntakeSettings struct {
	CodeTTL        time.Duration
	MaxAttempts    int
	ResendAfter    time.Duration
	PerIdentity    Rate
	PerClient      Rate
	TrustedProxies []netip.Prefix
	PublicIntake   bool

	// The request workers and records (zero: package dsr's defaults).
	Concurrency          int
	Lease                time.Duration
	RunAttempts          int
	KeepRecords          Duration
	ExportMaxAge         time.Duration
	SupervisoryAuthority string
}

// Settings applies the defaults to c (which may be nil) and checks the
// ranges: EINVALID naming each offending key (requests.verification.code_ttl).
func (c *RequestsConfig) Settings() (IntakeSettings, error) {
	s := IntakeSettings{CodeTTL: DefaultCodeTTL, MaxAttempts: DefaultMaxAttempts, ResendAfter: DefaultResendAfter,
		PerIdentity: DefaultPerIdentity, PerClient: DefaultPerClient, PublicIntake: true}
	if c == nil {
		return s, nil
	}
	if c.PublicIntake != nil {
		s.PublicIntake = *c.PublicIntake
	}
	var fields []FieldError
	bad := func(path, format string, args ...any) {
		fields = append(fields, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if v := c.Verification; v != nil {
		if !v.CodeTTL.IsZero() {
			d, ok := v.CodeTTL.fixed()
			if !ok || d < time.Minute || d > 24*time.Hour {
				bad("requests.verification.code_ttl", "a code is valid from 1m to 24h (months are not allowed)")
			}
			s.CodeTTL = d
		}
		if v.MaxAttempts != 0 {
			if v.MaxAttempts < 1 || v.MaxAttempts > 20 {
				bad("requests.verification.max_attempts", "allow from 1 to 20 attempts")
			}
			s.MaxAttempts = v.MaxAttempts
		}
		if !v.ResendAfter.IsZero() {
			d, ok := v.ResendAfter.fixed()
			if !ok || d > time.Hour {
				bad("requests.verification.resend_after", "the wait before a new code is at most 1h (months are not allowed)")
			}
			s.ResendAfter = d
		}
	}
	if r := c.RateLimits; r != nil {
		if !r.PerIdentity.IsZero() {
			s.PerIdentity = r.PerIdentity
		}
		if !r.PerClient.IsZero() {
			s.PerClient = r.PerClient
		}
	}
	for i, p := range c.TrustedProxies {
		pfx, err := ParseTrustedProxy(p)
		if err != nil {
			bad(fmt.Sprintf("requests.trusted_proxies[%d]", i), "%s", err.Error())
			continue
		}
		s.TrustedProxies = append(s.TrustedProxies, pfx)
	}
	if r := c.Run; r != nil {
		if r.Concurrency != 0 && (r.Concurrency < 1 || r.Concurrency > 64) {
			bad("requests.run.concurrency", "run from 1 to 64 requests at once")
		}
		if r.MaxAttempts != 0 && (r.MaxAttempts < 1 || r.MaxAttempts > 50) {
			bad("requests.run.max_attempts", "allow from 1 to 50 runs")
		}
		if !r.Lease.IsZero() {
			d, ok := r.Lease.fixed()
			if !ok || d < 3*time.Second || d > time.Hour {
				bad("requests.run.lease", "a lease lasts from 3s to 1h (months are not allowed)")
			}
			s.Lease = d
		}
		s.Concurrency, s.RunAttempts = r.Concurrency, r.MaxAttempts
	}
	if !c.KeepRecords.IsZero() {
		if c.KeepRecords.SubFrom(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)).After(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)) {
			bad("requests.keep_records", "keep request records at least 24 months (24mo)")
		}
		s.KeepRecords = c.KeepRecords
	}
	if !c.ExportMaxAge.IsZero() {
		d, ok := c.ExportMaxAge.fixed()
		if !ok || d < time.Hour || d > 365*24*time.Hour {
			bad("requests.export_max_age", "keep export packages from 1h to 365d (months are not allowed)")
		}
		s.ExportMaxAge = d
	}
	s.SupervisoryAuthority = c.SupervisoryAuthority
	if len(fields) > 0 {
		return s, &Error{Code: EINVALID, Fields: fields}
	}
	return s, nil
}

// fixed converts a duration without months to a fixed length (a day is
// 24 hours); ok is false when it has months.
func (d Duration) fixed() (time.Duration, bool) {
	return time.Duration(d.Days)*24*time.Hour + d.Clock, d.Months == 0
}

// ParseTrustedProxy reads a proxy's CIDR range (10.0.0.0/8, fd00::/8) or
// single address (192.0.2.10, a /32 or /128).
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range or an IP address (write e.g. 10.0.0.0/8 or 192.0.2.10)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
