package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
)

// Options configures a Log.
type Options struct {
	// Clock stamps checkpoints. Defaults to lethe.SystemClock.
	Clock lethe.Clock
	// Origin is the first line of every checkpoint, naming the log.
	// Changing it later makes older checkpoints fail verification.
	// Defaults to DefaultOrigin.
	Origin string
}

// Log is the tamper-evident audit log over a store: appends, signed
// checkpoints, verification and proofs. It holds no state of its own beyond
// its configuration, so any number of Logs (in any number of processes)
// may share one store. It is safe for concurrent use.
type Log struct {
	store  lethe.AuditStore
	signer *Signer
	clock  lethe.Clock
	origin string
}

// New returns a Log over store that signs checkpoints with signer. A nil
// signer gives a Log that appends and proves but cannot sign checkpoints,
// and verifies only with VerifyOptions.VerifierKeys.
func New(store lethe.AuditStore, signer *Signer, opts Options) *Log {
	return &Log{
		store:  store,
		signer: signer,
		clock:  cmp.Or[lethe.Clock](opts.Clock, lethe.SystemClock{}),
		origin: cmp.Or(opts.Origin, DefaultOrigin),
	}
}

// VerifierKey returns the public key that verifies this log's checkpoints,
// in note verifier-key format, or "" without a signer.
func (l *Log) VerifierKey() string {
	if l.signer == nil {
		return ""
	}
	return l.signer.VerifierKey()
}

// Append appends records in one transaction and returns the sealed entries.
// Every record needs an Actor and an Action (EINVALID otherwise). Appending
// nothing is a no-op.
func (l *Log) Append(ctx context.Context, records ...lethe.AuditRecord) ([]lethe.AuditEntry, error) {
	if len(records) == 0 {
		return nil, nil
	}
	for i, r := range records {
		if r.Actor == "" {
			return nil, lethe.FieldErrorf(fmt.Sprintf("records[%d].actor", i), "an audit record needs an actor")
		}
		if r.Action == "" {
			return nil, lethe.FieldErrorf(fmt.Sprintf("records[%d].action", i), "an audit record needs an action")
		}
	}
	entries, err := l.store.AuditAppend(ctx, records)
	if err != nil {
		return nil, fmt.Errorf("append audit records: %w", err)
	}
	return entries, nil
}

// Checkpoint signs the log's current size and root and stores the signed
// checkpoint. It is idempotent: when the newest checkpoint already has the
// current size, it returns that one. Before signing it checks, in
// O(log size) reads, that the stored tree still extends the previous signed
// checkpoint and ends at the head's last entry; it refuses (ECONFLICT) to
// sign a log that does not, since signing would launder the tampering. The
// full check is Verify.
func (l *Log) Checkpoint(ctx context.Context) (lethe.AuditCheckpoint, error) {
	if l.signer == nil {
		return lethe.AuditCheckpoint{}, lethe.Errorf(lethe.EINVALID, "the audit log has no signing key: checkpoints cannot be signed")
	}
	cps, err := l.store.AuditCheckpointList(ctx)
	if err != nil {
		return lethe.AuditCheckpoint{}, fmt.Errorf("list audit checkpoints: %w", err)
	}
	head, err := l.store.AuditHead(ctx)
	if err != nil {
		return lethe.AuditCheckpoint{}, fmt.Errorf("read audit head: %w", err)
	}
	var prev *lethe.AuditCheckpoint
	if len(cps) > 0 {
		prev = &cps[len(cps)-1]
	}
	if prev != nil && prev.Size == head.Size {
		return *prev, nil
	}
	if prev != nil && prev.Size > head.Size {
		return lethe.AuditCheckpoint{}, lethe.Errorf(lethe.ECONFLICT,
			"the audit log has %d entries but a signed checkpoint covers %d: entries were deleted; run `lethe audit verify`", head.Size, prev.Size)
	}
	r := l.hashReader(ctx)
	root, err := tlog.TreeHash(int64(head.Size), r)
	if err != nil {
		return lethe.AuditCheckpoint{}, fmt.Errorf("compute audit tree root: %w", err)
	}
	if head.Size > 0 {
		last, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(head.Size)-1)})
		if err != nil {
			return lethe.AuditCheckpoint{}, fmt.Errorf("read last audit leaf: %w", err)
		}
		if last[0] != tlog.Hash(head.LastHash) {
			return lethe.AuditCheckpoint{}, lethe.Errorf(lethe.ECONFLICT,
				"the audit head does not match the tree's last leaf: the log was altered; run `lethe audit verify`")
		}
	}
	if prev != nil && prev.Size > 0 {
		proof, err := tlog.ProveTree(int64(head.Size), int64(prev.Size), r)
		if err != nil {
			return lethe.AuditCheckpoint{}, fmt.Errorf("prove audit log consistency: %w", err)
		}
		if err := tlog.CheckTree(proof, int64(head.Size), root, int64(prev.Size), tlog.Hash(prev.Root)); err != nil {
			return lethe.AuditCheckpoint{}, lethe.Errorf(lethe.ECONFLICT,
				"the audit log no longer extends the signed checkpoint at size %d: it was rewritten; run `lethe audit verify`", prev.Size)
		}
	}

	at := l.clock.Now().UTC().Truncate(time.Microsecond)
	msg, err := l.signer.sign(l.origin, head.Size, root, at)
	if err != nil {
		return lethe.AuditCheckpoint{}, fmt.Errorf("sign audit checkpoint: %w", err)
	}
	cp := lethe.AuditCheckpoint{Size: head.Size, Root: root, CreatedAt: at, Note: msg}
	if err := l.store.AuditCheckpointAdd(ctx, cp); err != nil {
		return lethe.AuditCheckpoint{}, fmt.Errorf("store audit checkpoint: %w", err)
	}
	// Another process may have signed the same size a moment earlier; the
	// store keeps the first, and that is the one to hand out.
	stored, err := l.store.AuditCheckpointGet(ctx, head.Size)
	if err != nil {
		return lethe.AuditCheckpoint{}, fmt.Errorf("read audit checkpoint: %w", err)
	}
	return stored, nil
}

// hashReader reads stored tree hashes through the store.
func (l *Log) hashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		got, err := l.store.AuditTreeHashes(ctx, indexes)
		if err != nil {
			return nil, err
		}
		if len(got) != len(indexes) {
			return nil, fmt.Errorf("read audit tree hashes: asked %d, got %d", len(indexes), len(got))
		}
		out := make([]tlog.Hash, len(got))
		for i, h := range got {
			out[i] = h
		}
		return out, nil
	})
}

// checkpointAt returns the signed note of the checkpoint of exactly size,
// or nil when there is none.
func (l *Log) checkpointAt(ctx context.Context, size uint64) ([]byte, error) {
	cp, err := l.store.AuditCheckpointGet(ctx, size)
	if lethe.ErrorCode(err) == lethe.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoint: %w", err)
	}
	return cp.Note, nil
}

// errStop ends a stream early once Verify has found its problem.
var errStop = errors.New("stop")
