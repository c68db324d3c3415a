package postgres

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lethe-privacy/lethe"
)

// Consent appends are committed in groups. Every audited write holds the
// audit head's row lock from its first statement to its COMMIT, so appends
// are serial whatever the pool size, and each pays a WAL flush at commit
// while the others wait for the lock. Concurrent ConsentAppend calls of one
// Store therefore share transactions: the first caller leads a transaction
// with every append that queued meanwhile (one head lock, one pipelined
// batch, one WAL flush), while the next callers queue for the one after.
// Leadership passes to the first of them when a transaction ends, so a
// caller never commits more than one group.
//
// Each append still succeeds or fails on its own and is acknowledged only
// after its transaction committed. An append whose new subject key lost a
// race is refused alone (its key insert does nothing, and its events are
// not sent). When a statement of a group fails, PostgreSQL has rolled the
// transaction back, so each append of the group is retried in a
// transaction of its own to get its own outcome; when the outcome of a
// commit is unknown (the connection broke), every append of the group
// reports that error, as a lone append would.

// maxGroup bounds how many appends share one transaction.
const maxGroup = 128

// groupTimeout bounds a shared transaction: it runs without any one
// caller's cancellation, since cancelling it would fail the others too.
const groupTimeout = 30 * time.Second

// appendJob is one ConsentAppend call.
type appendJob struct {
	ctx     context.Context
	events  []lethe.ConsentEvent
	records []lethe.AuditRecord
	newKey  *lethe.SubjectKey
	// Outcome.
	entries []lethe.AuditEntry
	err     error
	// done receives true when the job must lead the next group, false
	// when its outcome is set. Only queued jobs have one.
	done chan bool
}

// appendGroup queues ConsentAppend calls into shared transactions.
type appendGroup struct {
	mu      sync.Mutex
	busy    bool // a group is being committed
	pending []*appendJob
}

// run commits j, alone or with the appends queued meanwhile, through
// commit, and returns once j's outcome is set.
func (g *appendGroup) run(j *appendJob, commit func(jobs []*appendJob)) {
	g.mu.Lock()
	if g.busy {
		j.done = make(chan bool, 1)
		g.pending = append(g.pending, j)
		g.mu.Unlock()
		// Once queued, the outcome must be awaited even if j.ctx ends: the
		// group may be committing.
		if lead := <-j.done; !lead {
			return
		}
		g.mu.Lock()
	} else {
		g.busy = true
	}
	n := min(len(g.pending), maxGroup-1)
	jobs := append(make([]*appendJob, 0, n+1), j)
	jobs = append(jobs, g.pending[:n]...)
	g.pending = slices.Delete(g.pending, 0, n)
	g.mu.Unlock()

	commit(jobs)

	g.mu.Lock()
	if len(g.pending) == 0 {
		g.busy = false
		g.mu.Unlock()
	} else {
		next := g.pending[0]
		g.pending = slices.Delete(g.pending, 0, 1)
		g.mu.Unlock()
		next.done <- true
	}
	for _, o := range jobs[1:] {
		o.done <- false
	}
}

// consentTx commits jobs in one transaction and sets each one's outcome.
func (s *Store) consentTx(jobs []*appendJob) {
	live := make([]*appendJob, 0, len(jobs))
	for _, j := range jobs {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		if err := s.consentCommit(live[0].ctx, live); err != nil {
			live[0].err = err
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), groupTimeout)
	defer cancel()
	err := s.consentCommit(ctx, live)
	if err == nil {
		return
	}
	if refused(err) {
		// Nothing was committed: find whose append fails by running each
		// alone.
		for _, j := range live {
			j.entries, j.err = nil, nil
			if err := s.consentCommit(j.ctx, []*appendJob{j}); err != nil {
				j.err = err
			}
		}
		return
	}
	for _, j := range live {
		if j.err == nil {
			j.err = err
		}
	}
}

// refused reports whether err is PostgreSQL refusing a statement, after
// which the transaction is rolled back: nothing of it was committed.
func refused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Severity == "ERROR"
}

// consentCommit appends jobs in one transaction. When this store knows the
// audit head from its own last append, the whole transaction is one
// pipelined round trip: BEGIN, the head locked and checked by
// lethe_lock_audit_head, the new subject keys stored by
// lethe_add_subject_key, every write, COMMIT. If another node or process
// appended meanwhile, the head check refuses it and the transaction is
// sent again the two-trip way; a refused key fails the transaction with
// ECONFLICT. In two trips, a job whose key is refused gets ECONFLICT and
// is left out. The others' entries are set on success. On error nothing
// was written.
func (s *Store) consentCommit(ctx context.Context, jobs []*appendJob) error {
	// In one trip a refused key fails the whole transaction, and a group
	// is then run one append at a time. A keyring that guesses new
	// subjects (keyring.Options.GuessNewSubjects) has keys refused now and
	// then, so a group of several appends that brings a new key takes two
	// trips, where a refused key is left out alone.
	keys := false
	for _, j := range jobs {
		keys = keys || j.newKey != nil
	}
	if head, ok := s.head.get(); ok && (!keys || len(jobs) == 1) {
		err := s.consentTxOnce(ctx, jobs, &head)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "40001" {
			return err
		}
		s.head.moved()
	}
	return s.consentTxOnce(ctx, jobs, nil)
}

// consentTxOnce runs one attempt of consentCommit: in one round trip when
// known is the head to expect, otherwise in two, BEGIN with the audit head
// lock and the new subject keys first.
func (s *Store) consentTxOnce(ctx context.Context, jobs []*appendJob, known *lethe.AuditHead) error {
	const op = "append consent events"
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return translate(op, err)
	}
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_, _ = conn.Exec(rctx, "ROLLBACK")
		}
	}()

	b := &batch{}
	var head lethe.AuditHead
	if known != nil {
		head = *known
		b.queue("begin", "", nil, "BEGIN")
		b.queue("lock audit head", "", nil, `SELECT lethe_lock_audit_head($1, $2)`, int64(head.Size), head.LastHash[:])
		for _, j := range jobs {
			if k := j.newKey; k != nil {
				b.queue("store subject key", keyExists().Message, nil, `SELECT lethe_add_subject_key($1, $2, $3, $4)`,
					k.SubjectRef[:], int32(k.Generation), k.Wrapped, ts(s.keyCreatedAt(k)))
			}
		}
	} else {
		if head, err = s.beginConsentTx(ctx, conn, jobs); err != nil {
			return translate(op, err)
		}
	}

	live := make([]*appendJob, 0, len(jobs))
	for _, j := range jobs {
		if j.err == nil {
			live = append(live, j)
		}
	}
	if len(live) == 0 {
		return nil
	}
	// Every event of the group in one statement, every state change in
	// one, and the notifications in one: a group of dozens of appends
	// costs the server a handful of statements. A duplicate event id fails
	// the whole statement; consentTx then runs the appends one by one,
	// each with its own outcome.
	var (
		evs     []*lethe.ConsentEvent
		records []lethe.AuditRecord
	)
	for _, j := range live {
		for i := range j.events {
			evs = append(evs, &j.events[i])
		}
		records = append(records, j.records...)
	}
	if len(evs) > 0 {
		var (
			ids                                   = make([][16]byte, len(evs))
			refs, evidence                        = make([][]byte, len(evs)), make([][]byte, len(evs))
			purposes, versions, mechs, juris, src = make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs))
			granted                               = make([]bool, len(evs))
			at                                    = make([]time.Time, len(evs))
		)
		for i, e := range evs {
			ids[i], refs[i], purposes[i], granted[i], versions[i] = [16]byte(e.ID), e.SubjectRef[:], e.Purpose, e.Granted, e.PolicyVersion
			mechs[i], juris[i], src[i], at[i], evidence[i] = e.Mechanism, string(e.Jurisdiction), e.Source, ts(e.RecordedAt), nilIfEmpty(e.Evidence)
		}
		b.queue("append consent event", "a consent event with this id is already recorded", nil, sqlEventsInsert,
			ids, refs, purposes, granted, versions, mechs, juris, src, at, evidence)
		s.queueStates(b, evs)
	}
	var (
		entries []lethe.AuditEntry
		hashes  []lethe.AuditTreeHash
	)
	next := head
	if len(records) > 0 {
		if entries, hashes, next, err = s.sealInto(ctx, conn, b, head, records); err != nil {
			return err
		}
	}
	b.queue(op, "", nil, "COMMIT")
	if err := b.send(ctx, conn); err != nil {
		// A refused key or a duplicate event id comes after the head lock
		// passed: the head is still the one known, and the next append
		// may go in one trip (a keyring guessing new subjects has keys
		// refused now and then).
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			s.head.forget()
		}
		return err
	}
	committed = true
	s.cacheHashes(hashes)
	s.head.saw(next)
	for _, j := range live {
		j.entries, entries = entries[:len(j.records):len(j.records)], entries[len(j.records):]
	}
	return nil
}

// queueStates moves the consent state of every (subject, purpose) of evs
// to its newest event, and announces the subjects on the change feed. The
// rows go in (subject, purpose) order: concurrent transactions touching
// the same states then lock them in the same order and cannot deadlock,
// even without the audit head lock. One statement cannot update a row
// twice, so only the newest event of each (subject, purpose) is sent; the
// statement keeps a stored state that is newer still.
func (s *Store) queueStates(b *batch, evs []*lethe.ConsentEvent) {
	sorted := slices.Clone(evs)
	slices.SortFunc(sorted, func(a, b *lethe.ConsentEvent) int {
		if c := bytes.Compare(a.SubjectRef[:], b.SubjectRef[:]); c != 0 {
			return c
		}
		return strings.Compare(a.Purpose, b.Purpose)
	})
	var newest []*lethe.ConsentEvent
	for _, e := range sorted {
		if n := len(newest); n > 0 && newest[n-1].SubjectRef == e.SubjectRef && newest[n-1].Purpose == e.Purpose {
			if newer(e, newest[n-1]) {
				newest[n-1] = e
			}
			continue
		}
		newest = append(newest, e)
	}
	var (
		refs, versions, purposes = make([][]byte, len(newest)), make([]string, len(newest)), make([]string, len(newest))
		granted                  = make([]bool, len(newest))
		ids                      = make([][16]byte, len(newest))
		at                       = make([]time.Time, len(newest))
		notes                    []string
	)
	for i, e := range newest {
		refs[i], purposes[i], granted[i], versions[i], ids[i], at[i] = e.SubjectRef[:], e.Purpose, e.Granted, e.PolicyVersion, [16]byte(e.ID), ts(e.RecordedAt)
		if i == 0 || newest[i-1].SubjectRef != e.SubjectRef {
			notes = append(notes, consentPayload+e.SubjectRef.String())
		}
	}
	b.queue("update consent state", "", nil, sqlStatesUpsert, refs, purposes, granted, versions, ids, at)
	b.queue("notify consent change", "", nil, sqlNotifyEach, s.channel, notes)
}

// newer reports whether a is the later event of the same state: later
// recording time, or the same instant and the greater id, as
// sqlStatesUpsert decides.
func newer(a, b *lethe.ConsentEvent) bool {
	ta, tb := ts(a.RecordedAt), ts(b.RecordedAt)
	if !ta.Equal(tb) {
		return ta.After(tb)
	}
	return bytes.Compare(a.ID[:], b.ID[:]) > 0
}

// beginConsentTx opens the transaction in one round trip: BEGIN, the audit
// head read and locked, and the jobs' new subject keys stored. A job whose
// key is not stored (the subject has an active key or that generation)
// gets ECONFLICT.
func (s *Store) beginConsentTx(ctx context.Context, conn txConn, jobs []*appendJob) (lethe.AuditHead, error) {
	var open pgx.Batch
	open.Queue("BEGIN")
	open.Queue(sqlLockHead)
	var keyed []*appendJob
	for _, j := range jobs {
		if k := j.newKey; k != nil {
			open.Queue(sqlKeyAppend, k.SubjectRef[:], int32(k.Generation), k.Wrapped, ts(s.keyCreatedAt(k)))
			keyed = append(keyed, j)
		}
	}
	br := conn.SendBatch(ctx, &open)
	_, err := br.Exec()
	var head lethe.AuditHead
	if err == nil {
		head, err = scanHead(br.QueryRow())
	}
	for _, j := range keyed {
		if err != nil {
			break
		}
		var ct pgconn.CommandTag
		if ct, err = br.Exec(); err == nil && ct.RowsAffected() == 0 {
			j.err = keyExists()
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return head, err
}

// keyCreatedAt is a new key's creation time, the store's clock for a zero
// one.
func (s *Store) keyCreatedAt(k *lethe.SubjectKey) time.Time {
	if k.CreatedAt.IsZero() {
		return s.clock.Now()
	}
	return k.CreatedAt
}
