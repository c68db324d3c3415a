package consent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/keyring"
)

// Sealer turns identities into subject references and seals evidence with
// the subject's key. *keyring.Keyring implements it. A new subject's key
// comes unstored from SealingKey and is stored by the store's
// ConsentAppend, in the transaction that appends the events sealed with it.
type Sealer interface {
	SubjectRef(id lethe.Identity) (lethe.SubjectRef, error)
	SealingKey(ctx context.Context, ref lethe.SubjectRef) (*keyring.SealingKey, error)
	Stored(key *keyring.SealingKey)
	// Refused is told when the store refused the unstored key (ECONFLICT).
	Refused(key *keyring.SealingKey)
	Decrypt(ctx context.Context, ref lethe.SubjectRef, ciphertext, associatedData []byte) ([]byte, error)
}

// Limits on recorded input, so that one call cannot grow the ledger without
// bound.
const (
	MaxPurposesPerCall = 100
	maxTextLen         = 200
	maxEvidenceLen     = 64 << 10
)

// Options configures a Ledger.
type Options struct {
	Config *lethe.Config // required
	Store  lethe.Store   // required
	Sealer Sealer        // required
	// Clock defaults to lethe.SystemClock.
	Clock lethe.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Mail queues the notice that a restriction is about to be lifted
	// (Art. 18(3)); *mail.Outbox implements it. Without it, a restriction
	// can only be lifted with the person notified out of band.
	Mail Mailer
	// CacheSubjects bounds the consent-state cache, in subjects. Defaults to
	// 100,000. The cache is used only when the store implements
	// lethe.ChangeFeed; a negative value disables it.
	CacheSubjects int
}

// Ledger is the consent ledger. It is safe for concurrent use.
type Ledger struct {
	cfg    *lethe.Config
	store  lethe.Store
	sealer Sealer
	mail   Mailer
	clock  lethe.Clock
	log    *slog.Logger
	cache  *stateCache // nil when not caching
	stop   context.CancelFunc
	done   chan struct{}
}

// New returns a ledger. When the store implements lethe.ChangeFeed, New
// subscribes to it (until Close) so that the cache never serves state that
// another process changed.
func New(ctx context.Context, opts Options) (*Ledger, error) {
	if opts.Config == nil || opts.Store == nil || opts.Sealer == nil {
		return nil, errors.New("consent: Config, Store and Sealer are required")
	}
	l := &Ledger{
		cfg:    opts.Config,
		store:  opts.Store,
		sealer: opts.Sealer,
		mail:   opts.Mail,
		clock:  cmp.Or[lethe.Clock](opts.Clock, lethe.SystemClock{}),
		log:    cmp.Or(opts.Logger, slog.Default()),
	}
	feed, ok := opts.Store.(lethe.ChangeFeed)
	if ok && opts.CacheSubjects >= 0 {
		c, err := newStateCache(cmp.Or(opts.CacheSubjects, 100_000))
		if err != nil {
			return nil, fmt.Errorf("consent: create cache: %w", err)
		}
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		changes, err := feed.SubjectChanges(fctx)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("consent: subscribe to changes: %w", err)
		}
		l.cache, l.stop, l.done = c, cancel, make(chan struct{})
		go l.follow(changes)
	}
	return l, nil
}

// Close stops following the store's changes. It does not close the store.
func (l *Ledger) Close() error {
	if l.stop != nil {
		l.stop()
		<-l.done
	}
	return nil
}

func (l *Ledger) follow(changes <-chan lethe.SubjectRef) {
	defer close(l.done)
	for ref := range changes {
		if ref.IsZero() {
			l.cache.purge()
		} else {
			l.cache.invalidate(ref)
		}
	}
}

// Forget drops a subject from the cache; a caller that changed consent state
// behind the ledger's back (a restore, a migration) uses it.
func (l *Ledger) Forget(ref lethe.SubjectRef) {
	if l.cache != nil {
		l.cache.invalidate(ref)
	}
}

// Purposes returns the declared purposes.
func (l *Ledger) Purposes() []lethe.Purpose { return l.cfg.Purposes }

// Config returns the configuration the ledger checks against.
func (l *Ledger) Config() *lethe.Config { return l.cfg }

// SubjectRef returns the reference of the subject with the given user_id.
func (l *Ledger) SubjectRef(subjectID string) (lethe.SubjectRef, error) {
	ref, err := l.sealer.SubjectRef(lethe.Identity{Type: lethe.IdentityUserID, Value: subjectID})
	if err != nil {
		var le *lethe.Error
		if errors.As(err, &le) && le.Code == lethe.EINVALID {
			return ref, &lethe.Error{Code: lethe.EINVALID, Fields: []lethe.FieldError{{Path: "subject_id", Message: stripPath(le)}}}
		}
		return ref, err
	}
	return ref, nil
}

func stripPath(e *lethe.Error) string {
	if len(e.Fields) > 0 {
		return e.Fields[0].Message
	}
	return e.Message
}

// PurposeChoice is the subject's choice for one purpose on a consent form.
type PurposeChoice struct {
	Purpose string
	Granted bool
	// PolicyVersion overrides RecordParams.PolicyVersion for this purpose.
	PolicyVersion string
}

// RecordParams is one consent form submitted by a subject.
type RecordParams struct {
	SubjectID string // the subject's user_id
	// PolicyVersion is the version of the notice the subject was shown.
	// Required for grants; a withdrawal without one records the purpose's
	// current version.
	PolicyVersion string
	Mechanism     string             // how it was collected: signup_form_v3. Required.
	Jurisdiction  lethe.Jurisdiction // defaults to the config's
	Source        string             // the actor recording it: api:<key>, cli, library
	Evidence      lethe.ConsentEvidence
	Purposes      []PurposeChoice
	// GPC is set when the request carried a Global Privacy Control signal
	// (Sec-GPC: 1): every purpose marked gpc: true that the form does not
	// decide explicitly is recorded as opted out, with mechanism "gpc".
	GPC bool
}

// RecordResult lists the events appended, in the order of the form's
// purposes (GPC opt-outs last).
type RecordResult struct {
	Events []lethe.ConsentEvent
}

// sealedEvidence is what is encrypted with the subject's key: the evidence
// and the subject id itself, so a receipt can name the subject until the
// key is shredded.
type sealedEvidence struct {
	SubjectID string                `json:"subject_id"`
	Evidence  lethe.ConsentEvidence `json:"evidence"`
}

// Record appends one event per purpose choice, atomically: either every
// event is recorded (with its audit entry) or none is. Withdrawal uses the
// same call with Granted false. It returns EINVALID naming the field for an
// unknown purpose (listing the valid ones), a purpose not based on consent,
// a missing or unaccepted policy version, a missing mechanism, or bad
// evidence.
func (l *Ledger) Record(ctx context.Context, p RecordParams) (RecordResult, error) {
	ref, err := l.SubjectRef(p.SubjectID)
	if err != nil {
		return RecordResult{}, err
	}
	choices, err := l.validate(&p)
	if err != nil {
		return RecordResult{}, err
	}
	now := l.clock.Now().UTC().Truncate(time.Microsecond)
	plain, err := json.Marshal(sealedEvidence{SubjectID: p.SubjectID, Evidence: p.Evidence})
	if err != nil {
		return RecordResult{}, fmt.Errorf("encode evidence: %w", err)
	}
	// A new subject's key is stored with the events. If the subject had a
	// key after all (the keyring guessed it was new) or a concurrent call
	// stored one first, the store refuses ours: seal again, with that key.
	for attempt := 1; ; attempt++ {
		key, err := l.sealer.SealingKey(ctx, ref)
		if err != nil {
			return RecordResult{}, fmt.Errorf("seal consent evidence: %w", err)
		}
		events, audits, err := l.seal(key, ref, &p, choices, plain, now)
		if err != nil {
			return RecordResult{}, err
		}
		_, err = l.store.ConsentAppend(ctx, events, audits, key.Unstored())
		if l.cache != nil {
			// Drop the subject even when the append failed: the outcome of
			// a commit that errored is unknown.
			l.cache.invalidate(ref)
		}
		if err == nil {
			l.sealer.Stored(key)
			return RecordResult{Events: events}, nil
		}
		if key.Unstored() == nil || lethe.ErrorCode(err) != lethe.ECONFLICT || attempt == 3 {
			return RecordResult{}, fmt.Errorf("record consent: %w", err)
		}
		l.sealer.Refused(key)
	}
}

// seal builds the events of one consent form, their evidence sealed with
// key, and their audit records.
func (l *Ledger) seal(key *keyring.SealingKey, ref lethe.SubjectRef, p *RecordParams, choices []choice, plain []byte, now time.Time) ([]lethe.ConsentEvent, []lethe.AuditRecord, error) {
	events := make([]lethe.ConsentEvent, len(choices))
	audits := make([]lethe.AuditRecord, len(choices))
	for i, c := range choices {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, nil, fmt.Errorf("new event id: %w", err)
		}
		sealed, err := key.Encrypt(plain, id[:])
		if err != nil {
			return nil, nil, fmt.Errorf("seal consent evidence: %w", err)
		}
		events[i] = lethe.ConsentEvent{
			ID: id, SubjectRef: ref, Purpose: c.Purpose, Granted: c.Granted, PolicyVersion: c.PolicyVersion,
			Mechanism: c.mechanism, Jurisdiction: p.Jurisdiction, Source: p.Source, RecordedAt: now, Evidence: sealed,
		}
		sum := sha256.Sum256(sealed)
		action := "consent.granted"
		if !c.Granted {
			action = "consent.withdrawn"
		}
		audits[i] = lethe.AuditRecord{
			Actor: p.Source, Action: action, SubjectRef: ref, Object: id.String(), PayloadHash: sum[:],
			Details: map[string]string{
				"purpose": c.Purpose, "policy_version": c.PolicyVersion, "mechanism": c.mechanism, "jurisdiction": string(p.Jurisdiction),
			},
		}
	}
	return events, audits, nil
}

type choice struct {
	PurposeChoice
	mechanism string
}

func (l *Ledger) validate(p *RecordParams) ([]choice, error) {
	var fields []lethe.FieldError
	bad := func(path, format string, args ...any) {
		fields = append(fields, lethe.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	p.Jurisdiction = lethe.Jurisdiction(strings.ToLower(string(p.Jurisdiction)))
	if p.Jurisdiction == "" {
		p.Jurisdiction = cmp.Or(l.cfg.Jurisdiction, lethe.GDPR)
	} else if !slices.Contains(lethe.Jurisdictions, p.Jurisdiction) {
		bad("jurisdiction", "%q is not one of gdpr, ccpa, lgpd", p.Jurisdiction)
	}
	checkText := func(path, v string, required bool) {
		switch {
		case v == "" && required:
			bad(path, "required")
		case len(v) > maxTextLen:
			bad(path, "longer than %d bytes", maxTextLen)
		case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			bad(path, "holds control characters")
		}
	}
	checkText("mechanism", p.Mechanism, true)
	checkText("policy_version", p.PolicyVersion, false)
	if p.Mechanism == "gpc" {
		bad("mechanism", `"gpc" is reserved for Global Privacy Control opt-outs; send the Sec-GPC header instead`)
	}
	if n := evidenceLen(p.Evidence); n > maxEvidenceLen {
		bad("evidence", "larger than %d bytes", maxEvidenceLen)
	}
	if len(p.Purposes) == 0 && !p.GPC {
		bad("purposes", "at least one purpose is required")
	}
	if len(p.Purposes) > MaxPurposesPerCall {
		bad("purposes", "at most %d purposes per call", MaxPurposesPerCall)
	}
	var out []choice
	seen := map[string]bool{}
	for i, c := range p.Purposes {
		path := fmt.Sprintf("purposes[%d]", i)
		pur, ok := l.cfg.Purpose(c.Purpose)
		switch {
		case c.Purpose == "":
			bad(path+".purpose", "required")
			continue
		case !ok:
			bad(path+".purpose", "unknown purpose %q; declared purposes: %s", truncate(c.Purpose), strings.Join(l.cfg.PurposeIDs(), ", "))
			continue
		case pur.LawfulBasis != lethe.BasisConsent:
			bad(path+".purpose", "%q is processed under %s; consent does not apply", c.Purpose, pur.LawfulBasis)
			continue
		case seen[c.Purpose]:
			bad(path+".purpose", "%q appears twice in one call", c.Purpose)
			continue
		}
		seen[c.Purpose] = true
		v := cmp.Or(c.PolicyVersion, p.PolicyVersion)
		checkText(path+".policy_version", c.PolicyVersion, false)
		switch {
		case v == "" && c.Granted:
			bad("policy_version", "required: the version of the notice the subject agreed to (current for %q: %s)", c.Purpose, pur.PolicyVersion)
		case v == "":
			v = pur.PolicyVersion
		case c.Granted && !pur.AcceptsPolicy(v):
			field := "policy_version"
			if c.PolicyVersion != "" {
				field = path + ".policy_version"
			}
			bad(field, "%q is not an accepted version of the notice for %q (accepted: %s)", truncate(v), c.Purpose, strings.Join(append([]string{pur.PolicyVersion}, pur.AlsoAccept...), ", "))
		}
		c.PolicyVersion = v
		out = append(out, choice{PurposeChoice: c, mechanism: p.Mechanism})
	}
	if p.GPC {
		for _, pur := range l.cfg.Purposes {
			if pur.GPC && !seen[pur.ID] {
				out = append(out, choice{PurposeChoice: PurposeChoice{Purpose: pur.ID, Granted: false, PolicyVersion: pur.PolicyVersion}, mechanism: "gpc"})
			}
		}
	}
	if len(fields) > 0 {
		return nil, &lethe.Error{Code: lethe.EINVALID, Message: "consent not recorded", Fields: fields}
	}
	return out, nil
}

func evidenceLen(e lethe.ConsentEvidence) int {
	n := len(e.IP) + len(e.UserAgent) + len(e.Locale) + len(e.NoticeText) + len(e.NoticeHash)
	for k, v := range e.Extra {
		n += len(k) + len(v)
	}
	return n
}

// truncate keeps error messages short when echoing a caller's token back.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Check answers whether processing the subject's data for the purpose is
// allowed now. It returns EINVALID for an unknown purpose or a bad subject
// id; any other answer is a decision, not an error.
func (l *Ledger) Check(ctx context.Context, subjectID, purpose string) (lethe.ConsentDecision, error) {
	pur, ok := l.cfg.Purpose(purpose)
	if !ok {
		return lethe.ConsentDecision{}, l.unknownPurpose(purpose)
	}
	ref, err := l.SubjectRef(subjectID)
	if err != nil {
		return lethe.ConsentDecision{}, err
	}
	// Every purpose reads the subject's state, whatever its basis: a
	// restriction or an objection stops purposes not based on consent too.
	v, err := l.view(ctx, ref)
	if err != nil {
		return lethe.ConsentDecision{}, err
	}
	return l.decide(pur, v, l.clock.Now()), nil
}

func (l *Ledger) unknownPurpose(purpose string) error {
	return &lethe.Error{Code: lethe.EINVALID, Fields: []lethe.FieldError{{Path: "purpose",
		Message: fmt.Sprintf("unknown purpose %q; declared purposes: %s", truncate(purpose), strings.Join(l.cfg.PurposeIDs(), ", "))}}}
}

// State returns a decision for every declared purpose, in declaration order.
func (l *Ledger) State(ctx context.Context, subjectID string) ([]lethe.ConsentDecision, error) {
	ref, err := l.SubjectRef(subjectID)
	if err != nil {
		return nil, err
	}
	v, err := l.view(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := l.clock.Now()
	out := make([]lethe.ConsentDecision, len(l.cfg.Purposes))
	for i := range l.cfg.Purposes {
		out[i] = l.decide(&l.cfg.Purposes[i], v, now)
	}
	return out, nil
}

// decide answers for one purpose: a restriction beats everything, then an
// objection that stands, then the consent state.
func (l *Ledger) decide(pur *lethe.Purpose, v *subjectView, now time.Time) lethe.ConsentDecision {
	d := l.decideConsent(pur, v.states, now)
	switch {
	case v.controls.Restricted():
		d.Allowed, d.Reason = false, lethe.ReasonRestricted
	case objectionStops(pur, v.controls):
		d.Allowed, d.Reason = false, lethe.ReasonObjected
	}
	return d
}

func (l *Ledger) decideConsent(pur *lethe.Purpose, states []lethe.ConsentState, now time.Time) lethe.ConsentDecision {
	d := lethe.ConsentDecision{Purpose: pur.ID, LawfulBasis: pur.LawfulBasis}
	if pur.LawfulBasis != lethe.BasisConsent {
		d.Allowed, d.Reason = true, lethe.ReasonLawfulBasis(pur.LawfulBasis)
		return d
	}
	i := slices.IndexFunc(states, func(s lethe.ConsentState) bool { return s.Purpose == pur.ID })
	if i < 0 {
		d.Reason = lethe.ReasonNeverGiven
		return d
	}
	s := states[i]
	id, at := s.EventID, s.RecordedAt
	d.EventID, d.RecordedAt, d.PolicyVersion = &id, &at, s.PolicyVersion
	switch {
	case !s.Granted:
		d.Reason = lethe.ReasonWithdrawn
	case !pur.AcceptsPolicy(s.PolicyVersion):
		d.Reason = lethe.ReasonPolicyOutdated
	default:
		if !pur.ConsentMaxAge.IsZero() {
			exp := pur.ConsentMaxAge.AddTo(s.RecordedAt)
			d.ExpiresAt = &exp
			if !now.Before(exp) {
				d.Reason = lethe.ReasonExpired
				return d
			}
		}
		d.Allowed, d.Reason = true, lethe.ReasonGranted
	}
	return d
}

// subjectView is what a check reads about a subject: the consent state
// and the restriction and objections. Cached values are shared: never
// modified.
type subjectView struct {
	states   []lethe.ConsentState
	controls lethe.SubjectControls
}

// view returns the subject's view, from the cache when possible.
func (l *Ledger) view(ctx context.Context, ref lethe.SubjectRef) (*subjectView, error) {
	if l.cache == nil {
		return l.load(ctx, ref)
	}
	if v, ok := l.cache.get(ref); ok {
		return v, nil
	}
	epoch := l.cache.epoch.Load()
	v, err := l.load(ctx, ref)
	if err != nil {
		return nil, err
	}
	l.cache.add(ref, v, epoch)
	return v, nil
}

func (l *Ledger) load(ctx context.Context, ref lethe.SubjectRef) (*subjectView, error) {
	s, err := l.store.ConsentStateList(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("read consent state: %w", err)
	}
	c, err := l.store.SubjectControls(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("read restriction and objections: %w", err)
	}
	return &subjectView{states: s, controls: c}, nil
}

// stateCache is a bounded LRU of subject views. Loads race with
// invalidations, so a load may only fill the cache if no invalidation
// happened since it started (epoch unchanged); both take mu.
type stateCache struct {
	mu    sync.Mutex
	epoch atomic.Uint64
	lru   *lru.Cache[lethe.SubjectRef, *subjectView]
}

func newStateCache(size int) (*stateCache, error) {
	c, err := lru.New[lethe.SubjectRef, *subjectView](size)
	if err != nil {
		return nil, err
	}
	return &stateCache{lru: c}, nil
}

func (c *stateCache) get(ref lethe.SubjectRef) (*subjectView, bool) { return c.lru.Get(ref) }

func (c *stateCache) add(ref lethe.SubjectRef, s *subjectView, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() == epoch {
		c.lru.Add(ref, s)
	}
}

func (c *stateCache) invalidate(ref lethe.SubjectRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch.Add(1)
	c.lru.Remove(ref)
}

func (c *stateCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch.Add(1)
	c.lru.Purge()
}
