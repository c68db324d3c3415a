package events

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Store is what the bus keeps its state in; every lethe.Store is one.
type Store interface {
	lethe.EventStore
	AuditHead(ctx context.Context) (lethe.AuditHead, error)
	AuditEntries(ctx context.Context, from, to uint64, fn func(lethe.AuditEntry) error) error
}

// DefaultBackoff is the delay before each retry of a failing subscriber;
// the last one repeats.
var DefaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}

// Options configures a Bus.
type Options struct {
	// Config gives the subscribers (events:) and the recipients of each
	// purpose. Required.
	Config *lethe.Config
	// Store keeps events and delivery state. Required.
	Store Store
	// Key seals identities (32 bytes; see KeyFromSecret). Required.
	Key []byte
	// ConsentIdentities returns the identities of the subject of a consent
	// event (by its id), for subscribers that take identities; nil or an
	// error means consent.changed goes out with the subject reference only.
	ConsentIdentities func(ctx context.Context, eventID string) ([]lethe.Identity, error)
	// Sinks are subscribers beyond those the config declares (library
	// use, tests).
	Sinks []Sink
	// HTTPClient sends webhooks. Defaults to a client with a 30s timeout.
	HTTPClient *http.Client
	// MaxAttempts defaults to Config.Events.MaxAttempts, then 10.
	MaxAttempts int
	// Backoff defaults to DefaultBackoff.
	Backoff []time.Duration
	// IdentitiesMaxAge defaults to Config.Events.IdentitiesMaxAge, then 7
	// days.
	IdentitiesMaxAge time.Duration
	// Lease is how long a dispatcher holds a subscriber. Defaults to 2
	// minutes.
	Lease time.Duration
	// Batch bounds the audit entries one delivery pass reads per
	// subscriber. Defaults to 500.
	Batch int
	// Interval is how often Run looks for new entries. Defaults to 1s.
	Interval time.Duration
	Clock    lethe.Clock
	Logger   *slog.Logger
}

// Bus records events and delivers them. It is safe for concurrent use;
// several processes may run dispatchers on one store (a subscriber is
// leased to one at a time).
type Bus struct {
	opts    Options
	store   Store
	aead    cipher.AEAD
	sinks   []Sink
	clock   lethe.Clock
	log     *slog.Logger
	max     int
	backoff []time.Duration
	maxAge  time.Duration

	ensureOnce sync.Mutex
	ensured    bool
}

// keyInfo separates the event key from every other use of the secret.
const keyInfo = "lethe event identities key v1"

// KeyFromSecret derives the key that seals event identities from a server
// secret (the master key): every node sharing the store derives the same.
func KeyFromSecret(secret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, nil, keyInfo, 32)
}

// New returns a Bus. It does no I/O: NATS is connected on the first
// delivery. EINVALID for missing options or a bad key.
func New(opts Options) (*Bus, error) {
	if opts.Config == nil || opts.Store == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "events: Config and Store are required")
	}
	if len(opts.Key) != 32 {
		return nil, lethe.Errorf(lethe.EINVALID, "events: the key must be 32 bytes")
	}
	block, err := aes.NewCipher(opts.Key)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	ev := opts.Config.Events
	if ev == nil {
		ev = &lethe.Events{}
	}
	b := &Bus{
		opts: opts, store: opts.Store, aead: aead,
		clock:   cmp.Or[lethe.Clock](opts.Clock, lethe.SystemClock{}),
		log:     cmp.Or(opts.Logger, slog.Default()),
		max:     cmp.Or(opts.MaxAttempts, ev.MaxAttempts, 10),
		backoff: opts.Backoff,
		maxAge:  cmp.Or(opts.IdentitiesMaxAge, ev.IdentitiesMaxAge.Clock, 7*24*time.Hour),
	}
	if len(b.backoff) == 0 {
		b.backoff = DefaultBackoff
	}
	client := cmp.Or(opts.HTTPClient, &http.Client{Timeout: 30 * time.Second})
	b.sinks, err = sinksFor(opts.Config, client, b.clock)
	if err != nil {
		return nil, err
	}
	b.sinks = append(b.sinks, opts.Sinks...)
	seen := map[string]bool{}
	for _, s := range b.sinks {
		if seen[s.Name()] {
			return nil, lethe.Errorf(lethe.EINVALID, "events: two subscribers are named %q", s.Name())
		}
		seen[s.Name()] = true
	}
	return b, nil
}

// Close closes the subscribers' connections (NATS).
func (b *Bus) Close() error {
	var errs []error
	for _, s := range b.sinks {
		if c, ok := s.(interface{ Close() error }); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Ensure creates the delivery state of subscribers that have none yet,
// starting at the current end of the audit log: a subscriber added later
// gets what happens from then on, not the history. Open calls it where
// events are configured, so that changes made before the first dispatcher
// runs are not skipped.
func (b *Bus) Ensure(ctx context.Context) error {
	b.ensureOnce.Lock()
	defer b.ensureOnce.Unlock()
	if b.ensured || len(b.sinks) == 0 {
		return nil
	}
	list, err := b.store.EventSubscriptionList(ctx)
	if err != nil {
		return fmt.Errorf("list event subscribers: %w", err)
	}
	var missing []string
	for _, s := range b.sinks {
		if !slices.ContainsFunc(list, func(x lethe.EventSubscription) bool { return x.Name == s.Name() }) {
			missing = append(missing, s.Name())
		}
	}
	if len(missing) > 0 {
		head, err := b.store.AuditHead(ctx)
		if err != nil {
			return fmt.Errorf("read audit head: %w", err)
		}
		if err := b.store.EventSubscriptionEnsure(ctx, missing, head.Size, b.clock.Now()); err != nil {
			return fmt.Errorf("create event subscribers: %w", err)
		}
	}
	b.ensured = true
	return nil
}

// Identity is an identity as subscribers receive it.
type Identity struct {
	Type  lethe.IdentityType `json:"type"`
	Value string             `json:"value"`
}

// Message is the JSON body of every event, on NATS and webhooks alike.
type Message struct {
	// ID is stable across redeliveries: deduplicate on it.
	ID   string          `json:"id"`
	Type lethe.EventType `json:"type"`
	Time time.Time       `json:"time"`
	// SubjectRef is the subject's pseudonymous reference (hex).
	SubjectRef string `json:"subject_ref,omitempty"`
	// Recipient names the recipient a recipient.notice is for.
	Recipient string          `json:"recipient,omitempty"`
	Data      json.RawMessage `json:"data"`
	// Identities are present only for subscribers allowed to see them.
	Identities []Identity `json:"identities,omitempty"`
}

// ConsentChange is the data of consent.changed.
type ConsentChange struct {
	ConsentEventID string `json:"consent_event_id"`
	Purpose        string `json:"purpose"`
	Granted        bool   `json:"granted"`
	PolicyVersion  string `json:"policy_version,omitempty"`
	Mechanism      string `json:"mechanism,omitempty"`
	Jurisdiction   string `json:"jurisdiction,omitempty"`
}

// ProcessingChange is the data of subject.restricted (Restricted false:
// the restriction was lifted) and subject.objected (Objected true for an
// objection to Purpose, Overridden true when it was overridden on
// compelling grounds).
type ProcessingChange struct {
	RequestID  string `json:"request_id,omitempty"`
	Purpose    string `json:"purpose,omitempty"`
	Restricted bool   `json:"restricted"`
	Objected   bool   `json:"objected"`
	Overridden bool   `json:"overridden,omitempty"`
}

// RequestOutcome is the data of request.completed and subject.erased.
type RequestOutcome struct {
	RequestID    string              `json:"request_id"`
	RequestType  lethe.RequestType   `json:"request_type"`
	Status       lethe.RequestStatus `json:"status"`
	Jurisdiction lethe.Jurisdiction  `json:"jurisdiction,omitempty"`
	CompletedAt  *time.Time          `json:"completed_at,omitempty"`
	Categories   []string            `json:"categories,omitempty"`
}

// RecipientNotice is the data of recipient.notice (Art. 19).
type RecipientNotice struct {
	RequestID   string            `json:"request_id"`
	RequestType lethe.RequestType `json:"request_type"`
	Recipient   string            `json:"recipient"`
	// Purposes are the purposes whose data the recipient received and the
	// request touched.
	Purposes   []string `json:"purposes"`
	Categories []string `json:"categories,omitempty"`
}

// Art. 19 applies to these request types.
var noticeTypes = []lethe.RequestType{lethe.RequestRectification, lethe.RequestErasure, "restriction"}

// RequestFinished durably records what subscribers learn when a request
// finishes: request.completed, subject.erased for an erasure that
// completed (or partly), and, after a rectification, erasure or
// restriction that did not fail, one recipient.notice (Art. 19) to every
// recipient with a notify webhook of the purposes whose categories
// intersect categories (see RecipientsFor). identities are sealed with
// the server key. It is idempotent: event ids derive from the request id,
// and calling it again for the same request records nothing new.
func (b *Bus) RequestFinished(ctx context.Context, req lethe.Request, identities []lethe.Identity, categories []string) error {
	if req.ID == "" {
		return lethe.FieldErrorf("id", "a request needs an id")
	}
	now := b.clock.Now().UTC()
	outcome := RequestOutcome{RequestID: req.ID, RequestType: req.Type, Status: req.Status, Jurisdiction: req.Jurisdiction,
		CompletedAt: req.CompletedAt, Categories: categories}
	type pending struct {
		id        string
		typ       lethe.EventType
		recipient string
		data      any
	}
	evs := []pending{{id: req.ID + ":" + string(lethe.EventRequestCompleted), typ: lethe.EventRequestCompleted, data: outcome}}
	done := req.Status == lethe.RequestCompleted || req.Status == lethe.RequestPartiallyCompleted
	if req.Type == lethe.RequestErasure && done {
		evs = append(evs, pending{id: req.ID + ":" + string(lethe.EventSubjectErased), typ: lethe.EventSubjectErased, data: outcome})
	}
	if slices.Contains(noticeTypes, req.Type) && done {
		for _, a := range affected(b.opts.Config, categories) {
			if a.recipient.Notify == nil {
				continue
			}
			sum := sha256.Sum256([]byte(a.recipient.Name))
			evs = append(evs, pending{
				id:  req.ID + ":" + string(lethe.EventRecipientNotice) + ":" + hex.EncodeToString(sum[:8]),
				typ: lethe.EventRecipientNotice, recipient: a.recipient.Name,
				data: RecipientNotice{RequestID: req.ID, RequestType: req.Type, Recipient: a.recipient.Name, Purposes: a.purposes, Categories: categories},
			})
		}
	}
	var plain []byte
	if len(identities) > 0 {
		ids := make([]Identity, len(identities))
		for i, id := range identities {
			ids[i] = Identity{Type: id.Type, Value: id.Value}
		}
		var err error
		if plain, err = json.Marshal(ids); err != nil {
			return fmt.Errorf("encode identities: %w", err)
		}
	}
	events := make([]lethe.Event, len(evs))
	audits := make([]lethe.AuditRecord, len(evs))
	for i, p := range evs {
		data, err := json.Marshal(p.data)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		e := lethe.Event{ID: p.id, Type: p.typ, SubjectRef: req.SubjectRef, Recipient: p.recipient, CreatedAt: now, Data: data}
		if plain != nil {
			if e.Identities, err = b.seal(plain, p.id); err != nil {
				return err
			}
		}
		events[i] = e
		details := map[string]string{"type": string(p.typ), "request_id": req.ID}
		if p.recipient != "" {
			details["recipient"] = p.recipient
		}
		sum := sha256.Sum256(e.Identities)
		audits[i] = lethe.AuditRecord{Actor: "system", Action: "event.recorded", SubjectRef: req.SubjectRef, Object: p.id, Details: details}
		if e.Identities != nil {
			audits[i].PayloadHash = sum[:]
		}
	}
	err := b.store.EventRecord(ctx, events, audits)
	if lethe.ErrorCode(err) == lethe.ECONFLICT {
		if _, gerr := b.store.EventGet(ctx, events[0].ID); gerr == nil {
			return nil // recorded by an earlier call for this request
		}
	}
	if err != nil {
		return fmt.Errorf("record events of request %s: %w", req.ID, err)
	}
	return nil
}

func (b *Bus) seal(plain []byte, id string) ([]byte, error) {
	out := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("seal identities: %w", err)
	}
	return b.aead.Seal(out, out, plain, []byte("lethe-event:"+id)), nil
}

func (b *Bus) open(box []byte, id string) ([]Identity, error) {
	n := b.aead.NonceSize()
	if len(box) < n {
		return nil, lethe.Errorf(lethe.EINVALID, "the sealed identities of event %s are truncated", id)
	}
	plain, err := b.aead.Open(nil, box[:n], box[n:], []byte("lethe-event:"+id))
	if err != nil {
		return nil, lethe.Errorf(lethe.EINVALID, "the sealed identities of event %s do not open (another key, or altered)", id)
	}
	var ids []Identity
	if err := json.Unmarshal(plain, &ids); err != nil {
		return nil, fmt.Errorf("decode identities of event %s: %w", id, err)
	}
	return ids, nil
}

type affectedRecipient struct {
	recipient lethe.Recipient
	purposes  []string
}

// affected returns the recipients of the purposes whose categories
// intersect categories, once each by name, in declaration order, with the
// purposes they receive data of. No categories means every category the
// data map declares (the request may have touched any of them); a config
// without a data map then affects every purpose.
func affected(cfg *lethe.Config, categories []string) []affectedRecipient {
	if len(categories) == 0 {
		for _, c := range cfg.Collections() {
			for _, f := range c.Fields {
				if f != nil && !slices.Contains(categories, f.Category) {
					categories = append(categories, f.Category)
				}
			}
		}
	}
	var out []affectedRecipient
	for _, p := range cfg.Purposes {
		if len(categories) > 0 && !slices.ContainsFunc(p.Categories, func(c string) bool { return slices.Contains(categories, c) }) {
			continue
		}
		for _, r := range p.Recipients {
			i := slices.IndexFunc(out, func(a affectedRecipient) bool { return a.recipient.Name == r.Name })
			if i < 0 {
				out = append(out, affectedRecipient{recipient: r})
				i = len(out) - 1
			} else if out[i].recipient.Notify == nil {
				out[i].recipient.Notify = r.Notify
			}
			if !slices.Contains(out[i].purposes, p.ID) {
				out[i].purposes = append(out[i].purposes, p.ID)
			}
		}
	}
	return out
}

// RecipientsFor returns the recipients of the purposes whose data
// categories intersect categories (the categories of the fields a request
// touched), once each, in declaration order: the recipients told of a
// rectification, erasure or restriction, whom the person may ask to be
// named (Art. 19, last sentence). No categories means every category of
// the data map.
func RecipientsFor(cfg *lethe.Config, categories []string) []lethe.Recipient {
	var out []lethe.Recipient
	for _, a := range affected(cfg, categories) {
		out = append(out, a.recipient)
	}
	return out
}
