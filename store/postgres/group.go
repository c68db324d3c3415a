package postgres

import (
	"bytes"
	"context"
	"errors"
	"slices"
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
// ECONFLICT (consentTx then runs a group's appends one by one). In two
// trips, a job whose key is refused gets ECONFLICT and is left out. The
// others' entries are set on success. On error nothing was written.
func (s *Store) consentCommit(ctx context.Context, jobs []*appendJob) error {
	if head, ok := s.head.get(); ok {
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
	type stateRow struct {
		e   *lethe.ConsentEvent
		seq int // order of arrival, to keep the sort stable
	}
	var states []stateRow
	var records []lethe.AuditRecord
	for _, j := range live {
		for i := range j.events {
			e := &j.events[i]
			b.queue("append consent event", "a consent event with this id is already recorded", nil, sqlEventInsert,
				[16]byte(e.ID), e.SubjectRef[:], e.Purpose, e.Granted, e.PolicyVersion, e.Mechanism,
				string(e.Jurisdiction), e.Source, ts(e.RecordedAt), nilIfEmpty(e.Evidence))
			states = append(states, stateRow{e, len(states)})
		}
		records = append(records, j.records...)
	}
	// Upsert in (subject, purpose) order: concurrent transactions touching
	// the same states then lock them in the same order and cannot
	// deadlock, even without the audit head lock. The outcome does not
	// depend on the order: the newest event wins whatever came first.
	slices.SortFunc(states, func(a, b stateRow) int {
		if c := bytes.Compare(a.e.SubjectRef[:], b.e.SubjectRef[:]); c != 0 {
			return c
		}
		if a.e.Purpose != b.e.Purpose {
			if a.e.Purpose < b.e.Purpose {
				return -1
			}
			return 1
		}
		return a.seq - b.seq
	})
	for i, st := range states {
		e := st.e
		b.queue("update consent state", "", nil, sqlStateUpsert,
			e.SubjectRef[:], e.Purpose, e.Granted, e.PolicyVersion, [16]byte(e.ID), ts(e.RecordedAt))
		if i == 0 || states[i-1].e.SubjectRef != e.SubjectRef {
			b.queue("notify consent change", "", nil, sqlNotify, s.channel, consentPayload+e.SubjectRef.String())
		}
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
		s.head.forget()
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
