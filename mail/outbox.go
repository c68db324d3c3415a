package mail

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"time"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
)

// Sealer encrypts and decrypts with a subject's key; *keyring.Keyring is
// one. Decrypt returns lethe.ESHREDDED once the subject's key was shredded.
type Sealer interface {
	Encrypt(ctx context.Context, ref lethe.SubjectRef, plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ctx context.Context, ref lethe.SubjectRef, ciphertext, associatedData []byte) ([]byte, error)
}

// DefaultBackoff is the delay before each retry: the first retry 1 minute
// after the first failure, then 5 minutes, ...; the last delay repeats.
var DefaultBackoff = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// Options configures an Outbox.
type Options struct {
	// Store keeps the messages. Required.
	Store lethe.OutboxStore
	// Sealer seals recipients and data with the subject's key. Required.
	Sealer Sealer
	// SMTP is the server to send through. Defaults to none: messages are
	// queued and wait until an Outbox with SMTP sends them.
	SMTP *SMTPConfig
	// Templates renders the e-mails. Defaults to DefaultTemplates().
	Templates *Templates
	// Clock defaults to lethe.SystemClock.
	Clock lethe.Clock
	// Logger gets one line per attempt, with message ids and outcomes
	// only. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxAttempts is how many attempts a message gets before it is left
	// failed. Defaults to 8.
	MaxAttempts int
	// Backoff is the delay before each retry. Defaults to DefaultBackoff.
	Backoff []time.Duration
	// Lease is how long a claimed message is kept from other workers
	// while it is being sent. Defaults to 5 minutes.
	Lease time.Duration
	// Batch is how many messages one SendDue claims. Defaults to 50.
	Batch int
	// Interval is how often Run looks for due messages. Defaults to 30
	// seconds.
	Interval time.Duration
}

// Outbox queues e-mails durably and sends them. It is safe for concurrent
// use, and several processes may run outboxes on the same store: a message
// is claimed by one of them at a time.
type Outbox struct {
	store       lethe.OutboxStore
	sealer      Sealer
	smtp        *SMTPConfig
	templates   *Templates
	clock       lethe.Clock
	log         *slog.Logger
	maxAttempts int
	backoff     []time.Duration
	lease       time.Duration
	batch       int
	interval    time.Duration
}

// New returns an Outbox. It returns EINVALID for a missing store or
// sealer, or an invalid SMTP configuration (naming the smtp.* field).
func New(opts Options) (*Outbox, error) {
	if opts.Store == nil || opts.Sealer == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "mail outbox: Store and Sealer are required")
	}
	o := &Outbox{
		store:       opts.Store,
		sealer:      opts.Sealer,
		templates:   cmp.Or(opts.Templates, DefaultTemplates()),
		clock:       cmp.Or[lethe.Clock](opts.Clock, lethe.SystemClock{}),
		log:         cmp.Or(opts.Logger, slog.Default()),
		maxAttempts: cmp.Or(opts.MaxAttempts, 8),
		backoff:     opts.Backoff,
		lease:       cmp.Or(opts.Lease, 5*time.Minute),
		batch:       cmp.Or(opts.Batch, 50),
		interval:    cmp.Or(opts.Interval, 30*time.Second),
	}
	if len(o.backoff) == 0 {
		o.backoff = DefaultBackoff
	}
	if opts.SMTP != nil {
		c, err := opts.SMTP.validate()
		if err != nil {
			return nil, err
		}
		o.smtp = &c
	}
	return o, nil
}

// sealed is the plaintext of OutboxMessage.Sealed.
type sealed struct {
	To   string         `json:"to"`
	Data map[string]any `json:"data"`
}

// associatedData binds a sealed message to its id, so that one message's
// ciphertext cannot be passed off as another's.
func associatedData(id string) []byte { return []byte("lethe-outbox:" + id) }

// Enqueue queues the named template for `to`, the address of the subject
// ref, and returns the message id. The address and data are sealed with
// the subject's key before they are stored, with a mail.queued audit entry
// in the same transaction. It checks the address and that the template
// renders with data (EINVALID, naming neither value). The message is sent
// by the next SendDue, of this process or another, once SMTP is configured.
func (o *Outbox) Enqueue(ctx context.Context, ref lethe.SubjectRef, to, template string, data map[string]any) (string, error) {
	id := "mail_" + uuid.NewString()
	return id, o.EnqueueID(ctx, id, ref, to, template, data)
}

// EnqueueID is Enqueue with an id the caller chose, deterministic for the
// notice it sends (the request and the code's issue, say), so that a retry
// cannot queue the same notice twice: ECONFLICT when a message with this id
// was queued already. The id must hold no personal data.
func (o *Outbox) EnqueueID(ctx context.Context, id string, ref lethe.SubjectRef, to, template string, data map[string]any) error {
	if id == "" {
		return lethe.FieldErrorf("id", "an outbox message needs an id")
	}
	if _, err := netmail.ParseAddress(to); err != nil {
		return lethe.FieldErrorf("to", "the recipient is not a valid e-mail address")
	}
	if _, _, err := o.templates.Render(template, data); err != nil {
		return err
	}
	plain, err := json.Marshal(sealed{To: to, Data: data})
	if err != nil {
		return lethe.FieldErrorf("data", "the e-mail data does not encode as JSON")
	}
	box, err := o.sealer.Encrypt(ctx, ref, plain, associatedData(id))
	if err != nil {
		return fmt.Errorf("seal e-mail: %w", err)
	}
	now := o.clock.Now()
	hash := sha256.Sum256(box)
	msg := lethe.OutboxMessage{ID: id, SubjectRef: ref, Template: template, Sealed: box, Status: lethe.OutboxPending, CreatedAt: now, NextAttemptAt: now}
	rec := lethe.AuditRecord{Actor: "system", Action: "mail.queued", SubjectRef: ref, Object: id,
		Details: map[string]string{"template": template}, PayloadHash: hash[:]}
	if err := o.store.OutboxEnqueue(ctx, msg, rec); err != nil {
		return fmt.Errorf("queue e-mail: %w", err)
	}
	return nil
}

// SendResult counts what a SendDue did.
type SendResult struct {
	Sent     int // accepted by the SMTP server
	Retrying int // failed, another attempt is scheduled
	Failed   int // given up: failed for good, or out of attempts
	// Waiting counts the pending messages when no SMTP server is
	// configured (then nothing is claimed or sent).
	Waiting int
}

// SendDue sends the messages that are due, one claim of at most Batch.
// Without SMTP configured it sends nothing and counts the pending
// messages. An error means the store could not be used; failures of
// single messages are recorded on them and counted, not returned.
func (o *Outbox) SendDue(ctx context.Context) (SendResult, error) {
	var res SendResult
	if o.smtp == nil {
		pending, err := o.store.OutboxList(ctx, true, 0)
		if err != nil {
			return res, fmt.Errorf("count queued e-mails: %w", err)
		}
		res.Waiting = len(pending)
		return res, nil
	}
	msgs, err := o.store.OutboxClaim(ctx, o.clock.Now(), o.lease, o.batch)
	if err != nil {
		return res, fmt.Errorf("claim due e-mails: %w", err)
	}
	for _, m := range msgs {
		if err := o.deliver(ctx, m, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// deliver makes one attempt at m and records its outcome.
func (o *Outbox) deliver(ctx context.Context, m lethe.OutboxMessage, res *SendResult) error {
	attempts := m.Attempts + 1
	plain, err := o.sealer.Decrypt(ctx, m.SubjectRef, m.Sealed, associatedData(m.ID))
	switch lethe.ErrorCode(err) {
	case "":
	case lethe.ESHREDDED:
		return o.giveUp(ctx, m, attempts, "the subject was erased (its key was shredded): the message can no longer be read, and was not sent", res)
	case lethe.EINVALID:
		return o.giveUp(ctx, m, attempts, "the sealed message does not open (altered, or sealed for another subject)", res)
	default:
		return o.retry(ctx, m, attempts, "the subject's key could not be read: "+string(lethe.ErrorCode(err)), res)
	}
	var s sealed
	if err := json.Unmarshal(plain, &s); err != nil {
		return o.giveUp(ctx, m, attempts, "the sealed message is not the outbox's JSON", res)
	}
	subject, body, err := o.templates.Render(m.Template, s.Data)
	if err != nil {
		return o.giveUp(ctx, m, attempts, "the template does not render: "+err.Error(), res)
	}
	if err := o.smtp.send(ctx, s.To, subject, body); err != nil {
		var se *sendError
		if !errors.As(err, &se) {
			return err // the context ended: the lease runs out and another attempt follows
		}
		if se.permanent {
			return o.giveUp(ctx, m, attempts, se.msg, res)
		}
		return o.retry(ctx, m, attempts, se.msg, res)
	}
	if err := o.store.OutboxMarkSent(ctx, m.ID, o.clock.Now()); err != nil {
		// Sent but not recorded: once the lease runs out it may be sent
		// again. Rare, and a duplicate e-mail is the lesser harm.
		return fmt.Errorf("record e-mail %s sent: %w", m.ID, err)
	}
	res.Sent++
	o.log.InfoContext(ctx, "e-mail sent", "id", m.ID, "template", m.Template, "attempts", attempts)
	return nil
}

func (o *Outbox) retry(ctx context.Context, m lethe.OutboxMessage, attempts int, reason string, res *SendResult) error {
	if attempts >= o.maxAttempts {
		return o.giveUp(ctx, m, attempts, fmt.Sprintf("out of attempts (%d); the last: %s", attempts, reason), res)
	}
	next := o.clock.Now().Add(o.backoff[min(attempts, len(o.backoff))-1])
	if err := o.store.OutboxMarkFailed(ctx, m.ID, attempts, next, reason); err != nil {
		return fmt.Errorf("record e-mail %s attempt: %w", m.ID, err)
	}
	res.Retrying++
	o.log.WarnContext(ctx, "e-mail attempt failed, will retry", "id", m.ID, "template", m.Template, "attempts", attempts, "next_attempt", next, "reason", reason)
	return nil
}

func (o *Outbox) giveUp(ctx context.Context, m lethe.OutboxMessage, attempts int, reason string, res *SendResult) error {
	if err := o.store.OutboxMarkFailed(ctx, m.ID, attempts, time.Time{}, reason); err != nil {
		return fmt.Errorf("record e-mail %s failed: %w", m.ID, err)
	}
	res.Failed++
	o.log.ErrorContext(ctx, "e-mail failed for good", "id", m.ID, "template", m.Template, "attempts", attempts, "reason", reason)
	return nil
}

// Run calls SendDue every Interval until ctx ends, then returns nil. A
// store failure is logged and retried at the next tick. Without SMTP it
// logs, once, how many messages wait.
func (o *Outbox) Run(ctx context.Context) error {
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	warned := false
	for {
		res, err := o.SendDue(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			o.log.ErrorContext(ctx, "mail outbox", "err", err)
		case o.smtp == nil && res.Waiting > 0 && !warned:
			warned = true
			o.log.WarnContext(ctx, "e-mails are waiting in the outbox: no SMTP server is configured", "waiting", res.Waiting)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
