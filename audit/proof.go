package audit

import (
	"context"
	"encoding/hex"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
)

// Hash is a SHA-256 hash of the log: a leaf hash, a tree hash or a root. It
// encodes as 64 lower-case hex characters in JSON and text.
type Hash [32]byte

// String returns h as lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText encodes h as lower-case hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes 64 hex characters.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return lethe.Errorf(lethe.EINVALID, "a hash is 64 hex characters")
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return lethe.Errorf(lethe.EINVALID, "a hash is 64 hex characters")
	}
	return nil
}

// InclusionProof proves that the entry Seq is the leaf with hash LeafHash in
// the tree of size TreeSize whose root is Root (RFC 6962 section 2.1.1
// audit path, with hashes in hex). A client must not trust LeafHash and Root
// as sent: it recomputes the leaf hash from the entry (LeafHash) and takes
// the root from a checkpoint it verified (OpenCheckpoint), then calls
// VerifyInclusion.
type InclusionProof struct {
	Seq      uint64 `json:"seq"`
	TreeSize uint64 `json:"tree_size"`
	LeafHash Hash   `json:"leaf_hash"`
	Root     Hash   `json:"root"`
	Hashes   []Hash `json:"hashes"`
	// Checkpoint is the signed checkpoint of TreeSize, when one was signed
	// at exactly that size.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// ConsistencyProof proves that the tree of size NewSize (root NewRoot)
// extends the tree of size OldSize (root OldRoot): nothing in the first
// OldSize entries was changed, removed or reordered (RFC 6962 section 2.1.2,
// hashes in hex). Verify it with VerifyConsistency against roots taken from
// verified checkpoints.
type ConsistencyProof struct {
	OldSize uint64 `json:"old_size"`
	NewSize uint64 `json:"new_size"`
	OldRoot Hash   `json:"old_root"`
	NewRoot Hash   `json:"new_root"`
	Hashes  []Hash `json:"hashes"`
	// OldCheckpoint and NewCheckpoint are the signed checkpoints of the two
	// sizes, when checkpoints were signed at exactly those sizes.
	OldCheckpoint string `json:"old_checkpoint,omitempty"`
	NewCheckpoint string `json:"new_checkpoint,omitempty"`
}

// InclusionProof returns the proof that entry seq is in the tree of size
// treeSize, built from the stored tree hashes. It returns EINVALID unless
// seq < treeSize <= the log's size.
func (l *Log) InclusionProof(ctx context.Context, seq, treeSize uint64) (InclusionProof, error) {
	head, err := l.store.AuditHead(ctx)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("read audit head: %w", err)
	}
	if treeSize > head.Size {
		return InclusionProof{}, lethe.Errorf(lethe.EINVALID, "tree size %d is beyond the log's %d entries", treeSize, head.Size)
	}
	if seq >= treeSize {
		return InclusionProof{}, lethe.Errorf(lethe.EINVALID, "entry %d is not in a tree of %d entries", seq, treeSize)
	}
	r := l.hashReader(ctx)
	proof, err := tlog.ProveRecord(int64(treeSize), int64(seq), r)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("prove audit entry %d: %w", seq, err)
	}
	root, err := tlog.TreeHash(int64(treeSize), r)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("compute audit tree root: %w", err)
	}
	leaf, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(seq))})
	if err != nil {
		return InclusionProof{}, fmt.Errorf("read audit leaf %d: %w", seq, err)
	}
	cp, err := l.checkpointAt(ctx, treeSize)
	if err != nil {
		return InclusionProof{}, err
	}
	return InclusionProof{Seq: seq, TreeSize: treeSize, LeafHash: Hash(leaf[0]), Root: Hash(root),
		Hashes: hashes(proof), Checkpoint: string(cp)}, nil
}

// ConsistencyProof returns the proof that the tree of size newSize extends
// the tree of size oldSize, built from the stored tree hashes. It returns
// EINVALID unless 0 < oldSize <= newSize <= the log's size.
func (l *Log) ConsistencyProof(ctx context.Context, oldSize, newSize uint64) (ConsistencyProof, error) {
	head, err := l.store.AuditHead(ctx)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("read audit head: %w", err)
	}
	if newSize > head.Size {
		return ConsistencyProof{}, lethe.Errorf(lethe.EINVALID, "tree size %d is beyond the log's %d entries", newSize, head.Size)
	}
	if oldSize == 0 || oldSize > newSize {
		return ConsistencyProof{}, lethe.Errorf(lethe.EINVALID, "a consistency proof needs 0 < old size <= new size, not %d and %d", oldSize, newSize)
	}
	r := l.hashReader(ctx)
	proof, err := tlog.ProveTree(int64(newSize), int64(oldSize), r)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("prove audit log consistency: %w", err)
	}
	oldRoot, err := tlog.TreeHash(int64(oldSize), r)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("compute audit tree root: %w", err)
	}
	newRoot, err := tlog.TreeHash(int64(newSize), r)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("compute audit tree root: %w", err)
	}
	oldCP, err := l.checkpointAt(ctx, oldSize)
	if err != nil {
		return ConsistencyProof{}, err
	}
	newCP, err := l.checkpointAt(ctx, newSize)
	if err != nil {
		return ConsistencyProof{}, err
	}
	return ConsistencyProof{OldSize: oldSize, NewSize: newSize, OldRoot: Hash(oldRoot), NewRoot: Hash(newRoot),
		Hashes: hashes(proof), OldCheckpoint: string(oldCP), NewCheckpoint: string(newCP)}, nil
}

// VerifyInclusion checks p against a leaf hash the caller computed
// (LeafHash of the entry) and a root the caller trusts (from a verified
// checkpoint of size p.TreeSize). It ignores p.LeafHash and p.Root. It
// returns nil when the proof holds, EINVALID otherwise.
func VerifyInclusion(p InclusionProof, leaf, root [32]byte) error {
	if p.Seq >= p.TreeSize || p.TreeSize > 1<<62 {
		return lethe.Errorf(lethe.EINVALID, "inclusion proof: entry %d is not in a tree of %d entries", p.Seq, p.TreeSize)
	}
	proof := make(tlog.RecordProof, len(p.Hashes))
	for i, h := range p.Hashes {
		proof[i] = tlog.Hash(h)
	}
	if err := tlog.CheckRecord(proof, int64(p.TreeSize), root, int64(p.Seq), leaf); err != nil {
		return lethe.Errorf(lethe.EINVALID, "inclusion proof of entry %d in the tree of %d entries does not verify", p.Seq, p.TreeSize)
	}
	return nil
}

// VerifyConsistency checks p against roots the caller trusts (from
// verified checkpoints of sizes p.OldSize and p.NewSize). It ignores
// p.OldRoot and p.NewRoot. It returns nil when the newer tree extends the
// older one, EINVALID otherwise.
func VerifyConsistency(p ConsistencyProof, oldRoot, newRoot [32]byte) error {
	if p.OldSize == 0 || p.OldSize > p.NewSize || p.NewSize > 1<<62 {
		return lethe.Errorf(lethe.EINVALID, "consistency proof: needs 0 < old size <= new size, not %d and %d", p.OldSize, p.NewSize)
	}
	proof := make(tlog.TreeProof, len(p.Hashes))
	for i, h := range p.Hashes {
		proof[i] = tlog.Hash(h)
	}
	if err := tlog.CheckTree(proof, int64(p.NewSize), newRoot, int64(p.OldSize), oldRoot); err != nil {
		return lethe.Errorf(lethe.EINVALID, "consistency proof from %d to %d entries does not verify", p.OldSize, p.NewSize)
	}
	return nil
}

func hashes(p []tlog.Hash) []Hash {
	out := make([]Hash, len(p))
	for i, h := range p {
		out[i] = Hash(h)
	}
	return out
}
