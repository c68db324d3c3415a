package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// RawInsertBaseline is a benchmark aid: it measures n plain INSERTs of a
// consent_events-shaped row, one per transaction, into a scratch table with
// the same columns and primary key but no triggers, no projection and no
// audit log, through the same pool and server settings as the store,
// issued from the given number of goroutines (at least one). Benchmarks
// report the consent ledger's append rate as a ratio against it. The scratch table (lethe_bench_raw, in the store's schema) is created
// and dropped by the call, so do not run it against a production database
// at peak.
func (s *Store) RawInsertBaseline(ctx context.Context, n, writers int) (time.Duration, error) {
	if _, err := s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS lethe_bench_raw (
 id uuid NOT NULL PRIMARY KEY, subject_ref bytea NOT NULL, purpose text NOT NULL, granted boolean NOT NULL,
 policy_version text NOT NULL, mechanism text NOT NULL, jurisdiction text NOT NULL, source text NOT NULL,
 recorded_at timestamptz NOT NULL, evidence bytea)`); err != nil {
		return 0, translate("create raw insert table", err)
	}
	defer s.pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS lethe_bench_raw`)
	var ref [32]byte
	evidence := make([]byte, 160)
	_, _ = rand.Read(ref[:])
	_, _ = rand.Read(evidence)
	start := time.Now()
	var (
		left atomic.Int64
		g    errgroup.Group
	)
	left.Store(int64(n))
	for range max(writers, 1) {
		g.Go(func() error {
			for left.Add(-1) >= 0 {
				if err := s.rawInsert(ctx, ref[:], evidence); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	return time.Since(start), err
}

func (s *Store) rawInsert(ctx context.Context, ref, evidence []byte) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return translate("raw insert", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO lethe_bench_raw
 (id, subject_ref, purpose, granted, policy_version, mechanism, jurisdiction, source, recorded_at, evidence)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, [16]byte(id), ref, "marketing_email", true, "2026-03",
		"signup_form", "gdpr", "bench", time.Now(), evidence); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("raw insert: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return translate("raw insert", err)
	}
	return nil
}
