package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// RawInsertBaseline is a benchmark aid: it measures n plain INSERTs of a
// consent_events-shaped row, one per transaction, into a scratch table with
// the same columns and primary key but no triggers, no projection and no
// audit log, through the same writer connection and durability settings as
// the store, issued from the given number of goroutines (at least one).
// Benchmarks report the consent ledger's append rate as a ratio against
// it. The scratch table (lethe_bench_raw) is created and dropped by the
// call, so do not run it against a production database at peak.
func (s *Store) RawInsertBaseline(ctx context.Context, n, writers int) (time.Duration, error) {
	st, err := s.rawSetup(ctx)
	if err != nil {
		return 0, err
	}
	defer s.rawTeardown(context.WithoutCancel(ctx), st)
	var ref [32]byte
	evidence := make([]byte, 160)
	_, _ = rand.Read(ref[:])
	_, _ = rand.Read(evidence)
	start := time.Now()
	err = concurrently(n, writers, func() error {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		return s.rawInsert(ctx, st, id, ref[:], evidence)
	})
	return time.Since(start), err
}

// concurrently calls fn n times from max(writers, 1) goroutines and returns
// the first error.
func concurrently(n, writers int, fn func() error) error {
	var (
		left atomic.Int64
		g    errgroup.Group
	)
	left.Store(int64(n))
	for range max(writers, 1) {
		g.Go(func() error {
			for left.Add(-1) >= 0 {
				if err := fn(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// rawInsert holds the write lock as the store's own writes do, and counts
// its commit, so that the background checkpointer treats both alike.
func (s *Store) rawInsert(ctx context.Context, st *sql.Stmt, id uuid.UUID, ref, evidence []byte) error {
	s.writing.Lock()
	defer s.writing.Unlock()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return translate("raw insert", err)
	}
	if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, id[:], ref, "marketing_email", true, "2026-03",
		"signup_form", "gdpr", "bench", time.Now().UnixMicro(), evidence); err != nil {
		return errors.Join(fmt.Errorf("raw insert: %w", err), tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return translate("raw insert", err)
	}
	s.commits.Add(1)
	return nil
}

// rawSetup creates the scratch table and prepares its insert, holding the
// write lock as every use of the writer connection does.
func (s *Store) rawSetup(ctx context.Context) (*sql.Stmt, error) {
	s.writing.Lock()
	defer s.writing.Unlock()
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS lethe_bench_raw (
 id BLOB NOT NULL PRIMARY KEY, subject_ref BLOB NOT NULL, purpose TEXT NOT NULL, granted INTEGER NOT NULL,
 policy_version TEXT NOT NULL, mechanism TEXT NOT NULL, jurisdiction TEXT NOT NULL, source TEXT NOT NULL,
 recorded_at INTEGER NOT NULL, evidence BLOB) WITHOUT ROWID`); err != nil {
		return nil, translate("create raw insert table", err)
	}
	st, err := s.writer.PrepareContext(ctx, `INSERT INTO lethe_bench_raw
 (id, subject_ref, purpose, granted, policy_version, mechanism, jurisdiction, source, recorded_at, evidence)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, translate("prepare raw insert", err)
	}
	return st, nil
}

func (s *Store) rawTeardown(ctx context.Context, st *sql.Stmt) {
	s.writing.Lock()
	defer s.writing.Unlock()
	_ = st.Close()
	_, _ = s.writer.ExecContext(ctx, `DROP TABLE IF EXISTS lethe_bench_raw`)
}
