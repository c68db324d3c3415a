package app

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mask"
	"github.com/lethe-privacy/lethe/scrub"
)

// scrubKeyInfo separates the scrub key from the erasure mask key: both
// come from the reference key every node shares (so every copy scrubbed
// with the same secrets agrees), but a value scrubbed in a copy cannot be
// matched against the same value anonymised by an erasure in production.
const scrubKeyInfo = "lethe scrub key v1"

// Scrub runs `lethe scrub` on a datastore marked scrub_allowed (see
// package scrub) and appends a datastore.scrubbed audit entry with the
// row count. actor is recorded in the entry.
func (a *App) Scrub(ctx context.Context, p scrub.Params, actor string) (*scrub.Report, error) {
	key, err := hkdf.Key(sha256.New, a.Secrets.RefKey[:], nil, scrubKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the scrub key: %w", err)
	}
	eng, err := scrub.New(scrub.Options{
		Config:     a.Config,
		Connectors: a.Datastores,
		Strategy:   func(name string) (scrub.Strategy, error) { return mask.Parse(name, key) },
	})
	if err != nil {
		return nil, err
	}
	rep, err := eng.Run(ctx, p)
	if err != nil || rep.DryRun {
		return rep, err
	}
	_, err = a.Audit.Append(ctx, lethe.AuditRecord{Actor: actor, Action: "datastore.scrubbed", Object: rep.Datastore,
		Details: map[string]string{"rows": strconv.FormatInt(rep.Rows, 10), "compacted": strconv.FormatBool(rep.Compacted)}})
	if err != nil {
		return rep, fmt.Errorf("audit the scrub (the datastore is scrubbed): %w", err)
	}
	return rep, nil
}
