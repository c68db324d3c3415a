package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lethe-privacy/lethe"
)

// consentActions are the audit actions that become consent.changed.
var consentActions = map[string]bool{"consent.granted": true, "consent.withdrawn": true}

// controlActions are the audit actions of restrictions and objections.
var controlActions = map[string]lethe.EventType{
	"subject.restricted":           lethe.EventSubjectRestricted,
	"subject.restriction_lifted":   lethe.EventSubjectRestricted,
	"subject.objected":             lethe.EventSubjectObjected,
	"subject.objection_overridden": lethe.EventSubjectObjected,
}

// DeliverResult counts what a DeliverDue did.
type DeliverResult struct {
	Delivered int // events sent to subscribers
	Failed    int // subscribers whose delivery failed this time
}

// errStop ends an audit walk at a failed delivery.
var errStop = errors.New("stop")

// DeliverDue runs one delivery pass: every subscriber that is active, due
// and behind the end of the audit log gets the events since its cursor, in
// order, up to Batch entries. An error means the store could not be used;
// a subscriber's failure is recorded on its state and counted.
func (b *Bus) DeliverDue(ctx context.Context) (DeliverResult, error) {
	var res DeliverResult
	if len(b.sinks) == 0 {
		return res, nil
	}
	if err := b.Ensure(ctx); err != nil {
		return res, err
	}
	head, err := b.store.AuditHead(ctx)
	if err != nil {
		return res, fmt.Errorf("read audit head: %w", err)
	}
	subs, err := b.store.EventSubscriptionList(ctx)
	if err != nil {
		return res, fmt.Errorf("list event subscribers: %w", err)
	}
	byName := map[string]lethe.EventSubscription{}
	for _, s := range subs {
		byName[s.Name] = s
	}
	now := b.clock.Now()
	moved := false
	for _, sink := range b.sinks {
		s, ok := byName[sink.Name()]
		if !ok || s.Status != lethe.EventSubscriptionActive || s.Cursor >= head.Size || s.NextAttemptAt.After(now) {
			continue
		}
		s, ok, err := b.store.EventSubscriptionClaim(ctx, sink.Name(), now, b.lease())
		if err != nil {
			return res, fmt.Errorf("claim event subscriber %s: %w", sink.Name(), err)
		}
		if !ok {
			continue // another dispatcher has it
		}
		n, failed, err := b.deliver(ctx, sink, s, head.Size)
		res.Delivered += n
		if failed {
			res.Failed++
		}
		if n > 0 {
			moved = true
		}
		if err != nil {
			return res, err
		}
	}
	if moved {
		if err := b.purge(ctx); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (b *Bus) lease() time.Duration {
	if b.opts.Lease > 0 {
		return b.opts.Lease
	}
	return 2 * time.Minute
}

// deliver sends one subscriber its events from s.Cursor up to head (at
// most Batch entries) and stores where it got to. It reports how many it
// delivered and whether an attempt failed.
func (b *Bus) deliver(ctx context.Context, sink Sink, s lethe.EventSubscription, head uint64) (int, bool, error) {
	batch := uint64(b.opts.Batch)
	if batch == 0 {
		batch = 500
	}
	to := min(head, s.Cursor+batch)
	var (
		delivered int
		failure   error
		audits    []lethe.AuditRecord
	)
	walkErr := b.store.AuditEntries(ctx, s.Cursor, to, func(e lethe.AuditEntry) error {
		m, ok, err := b.message(ctx, e)
		if err != nil {
			return err
		}
		if ok && sink.Accepts(m) {
			if sink.Identities() {
				if m.Identities, err = b.identities(ctx, e, m); err != nil {
					return err
				}
			}
			body, err := json.Marshal(m)
			if err != nil {
				return fmt.Errorf("encode event %s: %w", m.ID, err)
			}
			if err := sink.Deliver(ctx, m, body); err != nil {
				failure = err
				return errStop
			}
			now := b.clock.Now().UTC()
			delivered++
			s.Delivered++
			s.LastDeliveredAt = &now
			s.Attempts, s.LastError = 0, ""
			if m.Type == lethe.EventRecipientNotice {
				// The Art. 19 notice reached the recipient: evidence.
				audits = append(audits, lethe.AuditRecord{Actor: "system", Action: "recipient.notified", SubjectRef: e.SubjectRef, Object: m.ID,
					Details: map[string]string{"recipient": m.Recipient}})
			}
		}
		s.Cursor = e.Seq + 1
		return nil
	})
	// Keep the progress made, also when ctx ended (the process stops).
	uctx := context.WithoutCancel(ctx)
	now := b.clock.Now().UTC()
	s.UpdatedAt = now
	stopping := ctx.Err() != nil
	switch {
	case walkErr != nil && !errors.Is(walkErr, errStop):
		if err := b.store.EventSubscriptionUpdate(uctx, s, audits); err != nil {
			return delivered, false, errors.Join(walkErr, err)
		}
		if stopping {
			return delivered, false, nil
		}
		return delivered, false, fmt.Errorf("deliver events to %s: %w", sink.Name(), walkErr)
	case failure != nil && !stopping:
		s.Attempts++
		s.LastError = failure.Error() // our own messages: no personal data, no URL
		if s.Attempts >= b.max {
			s.Status = lethe.EventSubscriptionFailed
			s.LastError = fmt.Sprintf("out of attempts (%d); the last: %s", s.Attempts, s.LastError)
			b.log.ErrorContext(ctx, "event subscriber failed for good; `lethe events retry` resumes it", "subscriber", sink.Name(), "attempts", s.Attempts, "reason", s.LastError)
		} else {
			s.NextAttemptAt = now.Add(b.backoff[min(s.Attempts, len(b.backoff))-1])
			b.log.WarnContext(ctx, "event delivery failed, will retry", "subscriber", sink.Name(), "attempts", s.Attempts, "next_attempt", s.NextAttemptAt, "reason", s.LastError)
		}
	}
	if err := b.store.EventSubscriptionUpdate(uctx, s, audits); err != nil {
		return delivered, failure != nil, fmt.Errorf("store delivery state of %s: %w", sink.Name(), err)
	}
	return delivered, failure != nil && !stopping, nil
}

// message turns an audit entry into the event it stands for; ok is false
// for entries that are no event.
func (b *Bus) message(ctx context.Context, e lethe.AuditEntry) (*Message, bool, error) {
	var ref string
	if !e.SubjectRef.IsZero() {
		ref = e.SubjectRef.String()
	}
	switch {
	case consentActions[e.Action]:
		data, err := json.Marshal(ConsentChange{ConsentEventID: e.Object, Purpose: e.Details["purpose"], Granted: e.Action == "consent.granted",
			PolicyVersion: e.Details["policy_version"], Mechanism: e.Details["mechanism"], Jurisdiction: e.Details["jurisdiction"]})
		if err != nil {
			return nil, false, err
		}
		return &Message{ID: e.Object, Type: lethe.EventConsentChanged, Time: e.Time, SubjectRef: ref, Data: data}, true, nil
	case controlActions[e.Action] != "":
		// Restrictions and objections (package consent) have no event id
		// of their own: their audit sequence number is as stable.
		data, err := json.Marshal(ProcessingChange{RequestID: e.Details["request_id"], Purpose: e.Details["purpose"],
			Restricted: e.Action == "subject.restricted", Objected: e.Action == "subject.objected", Overridden: e.Action == "subject.objection_overridden"})
		if err != nil {
			return nil, false, err
		}
		return &Message{ID: "audit:" + strconv.FormatUint(e.Seq, 10), Type: controlActions[e.Action], Time: e.Time, SubjectRef: ref, Data: data}, true, nil
	case e.Action == "event.recorded":
		ev, err := b.store.EventGet(ctx, e.Object)
		if lethe.ErrorCode(err) == lethe.ENOTFOUND {
			b.log.WarnContext(ctx, "an audited event is missing from the events table; skipped", "event", e.Object, "seq", e.Seq)
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read event %s: %w", e.Object, err)
		}
		return &Message{ID: ev.ID, Type: ev.Type, Time: ev.CreatedAt, SubjectRef: ref, Recipient: ev.Recipient, Data: ev.Data}, true, nil
	}
	return nil, false, nil
}

// identities returns the identities for a subscriber that may see them,
// or nil when there are none (purged, erased). Failing to find them does
// not hold the event back: its subject reference still tells the
// subscriber enough to stop processing.
func (b *Bus) identities(ctx context.Context, e lethe.AuditEntry, m *Message) ([]Identity, error) {
	if m.Type == lethe.EventConsentChanged {
		if b.opts.ConsentIdentities == nil {
			return nil, nil
		}
		ids, err := b.opts.ConsentIdentities(ctx, e.Object)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			b.log.WarnContext(ctx, "the identities of a consent event could not be read; published without them", "event", e.Object, "code", lethe.ErrorCode(err))
			return nil, nil
		}
		out := make([]Identity, len(ids))
		for i, id := range ids {
			out[i] = Identity{Type: id.Type, Value: id.Value}
		}
		return out, nil
	}
	ev, err := b.store.EventGet(ctx, e.Object)
	if err != nil {
		return nil, fmt.Errorf("read event %s: %w", e.Object, err)
	}
	if ev.Identities == nil {
		return nil, nil
	}
	ids, err := b.open(ev.Identities, ev.ID)
	if err != nil {
		b.log.ErrorContext(ctx, "sealed identities do not open; delivered without them", "event", ev.ID, "err", err)
		return nil, nil
	}
	return ids, nil
}

// purge drops the identities every subscriber is past, and those older
// than the maximum age.
func (b *Bus) purge(ctx context.Context) error {
	subs, err := b.store.EventSubscriptionList(ctx)
	if err != nil {
		return fmt.Errorf("list event subscribers: %w", err)
	}
	floor := ^uint64(0)
	for _, sink := range b.sinks {
		for _, s := range subs {
			if s.Name == sink.Name() {
				floor = min(floor, s.Cursor)
			}
		}
	}
	n, err := b.store.EventPurgeIdentities(ctx, floor, b.clock.Now().Add(-b.maxAge))
	if err != nil {
		return fmt.Errorf("purge event identities: %w", err)
	}
	if n > 0 {
		b.log.InfoContext(ctx, "purged delivered event identities", "events", n)
	}
	return nil
}

// Run delivers every Interval until ctx ends, then returns nil. Store
// failures are logged and retried at the next tick. Without subscribers
// it returns at once.
func (b *Bus) Run(ctx context.Context) error {
	if len(b.sinks) == 0 {
		return nil
	}
	interval := b.opts.Interval
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	purged := time.Time{}
	for {
		res, err := b.DeliverDue(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			b.log.ErrorContext(ctx, "event dispatcher", "err", err)
		case res.Delivered == 0 && time.Since(purged) > 10*time.Minute:
			// Identities past their maximum age go even when nothing moves.
			purged = time.Now()
			if err := b.purge(ctx); err != nil {
				b.log.ErrorContext(ctx, "event dispatcher", "err", err)
			}
		}
		if res.Delivered > 0 && err == nil {
			continue // more may be waiting beyond the batch
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// SubscriberStatus is one subscriber's delivery state, for
// `lethe events status`.
type SubscriberStatus struct {
	lethe.EventSubscription
	// Behind counts the audit entries the subscriber has not looked at
	// yet (not all of them are events for it).
	Behind uint64
}

// Status returns the state of every configured subscriber, by name.
func (b *Bus) Status(ctx context.Context) ([]SubscriberStatus, error) {
	if err := b.Ensure(ctx); err != nil {
		return nil, err
	}
	head, err := b.store.AuditHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("read audit head: %w", err)
	}
	subs, err := b.store.EventSubscriptionList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list event subscribers: %w", err)
	}
	var out []SubscriberStatus
	for _, s := range subs {
		for _, sink := range b.sinks {
			if sink.Name() == s.Name {
				out = append(out, SubscriberStatus{EventSubscription: s, Behind: head.Size - min(head.Size, s.Cursor)})
			}
		}
	}
	return out, nil
}

// Retry makes a failed (or backing-off) subscriber due at once, with its
// attempts counted from zero. ENOTFOUND for a name no subscriber has.
func (b *Bus) Retry(ctx context.Context, name string) error {
	list, err := b.Status(ctx)
	if err != nil {
		return err
	}
	for _, s := range list {
		if s.Name != name {
			continue
		}
		sub := s.EventSubscription
		sub.Status, sub.Attempts, sub.NextAttemptAt, sub.UpdatedAt = lethe.EventSubscriptionActive, 0, b.clock.Now(), b.clock.Now()
		sub.LastError = "retried by hand after: " + sub.LastError
		return b.store.EventSubscriptionUpdate(ctx, sub, []lethe.AuditRecord{{Actor: "cli", Action: "events.retried", Object: name,
			Details: map[string]string{"attempts": strconv.Itoa(s.Attempts)}}})
	}
	return lethe.Errorf(lethe.ENOTFOUND, "no event subscriber named %q; `lethe events status` lists them", name)
}
