package audit

import (
	"context"
	"errors"
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// Progress, when set, is called as entries are checked, with the count
	// checked so far and the log's size; the last call has done == total
	// when the whole log was read.
	Progress func(done, total uint64)
	// VerifierKeys are further trusted public keys (note verifier-key
	// format), for checkpoints signed before a key rotation. The Log's own
	// signer is always trusted.
	VerifierKeys []string
}

// VerifyResult is the outcome of Verify. A tampered log is a result, not an
// error.
type VerifyResult struct {
	// OK is true when every check passed.
	OK bool `json:"ok"`
	// Size is the log's size according to its head.
	Size uint64 `json:"size"`
	// Root is the tree root recomputed from the entries; set when OK.
	Root Hash `json:"root"`
	// FirstBadSeq is the first entry found deleted, altered, inserted or
	// moved, when the problem can be pinned to one entry. A problem only a
	// signed checkpoint reveals (the log was rewritten consistently after it
	// was signed) is named by Problem as a range instead.
	FirstBadSeq *uint64 `json:"first_bad_seq,omitempty"`
	// Problem says, for people, what the first problem is.
	Problem string `json:"problem,omitempty"`
	// Checkpoints is how many signed checkpoints verified.
	Checkpoints int `json:"checkpoints"`
}

// verifyBatch bounds how many recomputed tree hashes Verify holds before
// comparing them with the stored ones (one store read per batch).
const verifyBatch = 1024

// Verify recomputes the whole log from its entries, streaming them (memory
// does not grow with the log), and checks that:
//   - sequence numbers run from 0 without a gap (a gap is a deleted entry);
//   - each entry's stored hash is the leaf hash of its content;
//   - each entry's PrevHash is the recomputed hash of the entry before it;
//   - every stored Merkle tree hash equals the one recomputed from the
//     entries (proofs are served from them);
//   - every signed checkpoint's signature verifies, and the root
//     recomputed from the entries at its size equals its root;
//   - the head (size and last hash) matches the last entry.
//
// It reports the first problem in log order and stops there. It returns an
// error only when the store cannot be read.
func (l *Log) Verify(ctx context.Context, opts VerifyOptions) (VerifyResult, error) {
	verifiers, err := l.verifiers(opts.VerifierKeys)
	if err != nil {
		return VerifyResult{}, err
	}
	// Checkpoints first, then the head: a checkpoint is signed only at a size
	// the head has reached, so every listed checkpoint is within the head
	// read after it, unless the log was cut back.
	cps, err := l.store.AuditCheckpointList(ctx)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("list audit checkpoints: %w", err)
	}
	if len(cps) > 0 && verifiers == nil {
		return VerifyResult{}, lethe.Errorf(lethe.EINVALID, "the audit log has signed checkpoints but no verifier key was given")
	}
	head, err := l.store.AuditHead(ctx)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("read audit head: %w", err)
	}

	v := &verification{ctx: ctx, log: l, verifiers: verifiers, cps: cps, res: VerifyResult{Size: head.Size}}
	if err := v.checkpoints(); err != nil || v.bad {
		return v.res, err
	}
	err = l.store.AuditEntries(ctx, 0, head.Size, func(e lethe.AuditEntry) error {
		if err := v.entry(e); err != nil {
			return err
		}
		if v.bad {
			return errStop
		}
		if opts.Progress != nil && (v.n%256 == 0 || v.n == head.Size) {
			opts.Progress(v.n, head.Size)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return VerifyResult{}, fmt.Errorf("read audit entries: %w", err)
	}
	if v.bad {
		return v.res, nil
	}
	if err := v.flush(); err != nil || v.bad {
		return v.res, err
	}
	switch {
	case v.n < head.Size:
		if v.n == head.Size-1 {
			v.fail(v.n, "entry %d missing (deleted)", v.n)
		} else {
			v.fail(v.n, "entries %d to %d missing (deleted)", v.n, head.Size-1)
		}
		return v.res, nil
	case head.LastHash != v.prev:
		v.res.Problem = "the log's head does not match its last entry (the head was altered)"
		return v.res, nil
	}
	if v.next < len(cps) {
		cp := cps[v.next]
		v.fail(head.Size, "the signed checkpoint at size %d covers entries the log no longer has (it has %d): entries from %d on were deleted",
			cp.Size, head.Size, head.Size)
		return v.res, nil
	}
	root, err := tlog.TreeHash(int64(v.n), v)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("compute audit tree root: %w", err)
	}
	v.res.OK = true
	v.res.Root = Hash(root)
	return v.res, nil
}

func (l *Log) verifiers(keys []string) (note.Verifiers, error) {
	var list []note.Verifier
	if l.signer != nil {
		list = append(list, l.signer.Verifier())
	}
	for _, k := range keys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, lethe.Errorf(lethe.EINVALID, "not a note verifier key: %v", err)
		}
		list = append(list, v)
	}
	if len(list) == 0 {
		return nil, nil
	}
	return note.VerifierList(list...), nil
}

// verification is the state of one Verify run. It is a tlog.HashReader over
// the frontier of the recomputed tree: the roots of the complete subtrees
// that the next leaves and the current root need, at most one per level.
type verification struct {
	ctx       context.Context
	log       *Log
	verifiers note.Verifiers
	cps       []lethe.AuditCheckpoint
	next      int // index in cps of the next checkpoint to check

	n        uint64        // entries checked: the next expected seq
	prev     [32]byte      // recomputed hash of entry n-1
	frontier [64]tlog.Hash // frontier[l]: subtree (l, n>>l - 1) when bit l of n is set
	pending  []pendingHash // recomputed stored hashes not yet compared
	goodCP   *uint64       // largest checkpoint size that matched
	res      VerifyResult
	bad      bool
}

type pendingHash struct {
	index int64
	hash  tlog.Hash
	seq   uint64 // the entry whose append stored it
}

// fail records the first problem.
func (v *verification) fail(seq uint64, format string, args ...any) {
	v.bad = true
	v.res.FirstBadSeq = &seq
	v.res.Problem = fmt.Sprintf(format, args...)
}

// ReadHashes serves frontier hashes to tlog.
func (v *verification) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		level, k := tlog.SplitStoredHashIndex(idx)
		if level >= 64 || v.n>>uint(level)&1 == 0 || uint64(k) != v.n>>uint(level)-1 {
			return nil, fmt.Errorf("audit verify: tree hash %d is not on the frontier of %d entries", idx, v.n)
		}
		out[i] = v.frontier[level]
	}
	return out, nil
}

// entry checks the next entry. Problems go to v.res; errors are I/O.
func (v *verification) entry(e lethe.AuditEntry) error {
	var problem func()
	h := LeafHash(e)
	switch {
	case e.Seq > v.n:
		missing := v.n
		if e.Seq == v.n+1 {
			problem = func() { v.fail(missing, "entry %d missing (deleted)", missing) }
		} else {
			problem = func() { v.fail(missing, "entries %d to %d missing (deleted)", missing, e.Seq-1) }
		}
	case e.Seq < v.n:
		problem = func() { v.fail(e.Seq, "entry %d appears twice", e.Seq) }
	case h != e.Hash:
		problem = func() {
			v.fail(e.Seq, "entry %d: content does not match its hash (changed after it was written)", e.Seq)
		}
	case ValidRecord(e.AuditRecord) != nil:
		problem = func() {
			v.fail(e.Seq, "entry %d: holds text that is not valid UTF-8, which Lethe never writes (changed after it was written)", e.Seq)
		}
	case e.PrevHash != v.prev && e.Seq == 0:
		problem = func() { v.fail(0, "entry 0: does not start the hash chain (its previous hash is not zero)") }
	case e.PrevHash != v.prev:
		problem = func() {
			v.fail(e.Seq, "entry %d: does not chain to entry %d (entries were inserted, removed or reordered)", e.Seq, e.Seq-1)
		}
	}
	if problem != nil {
		// Tree hashes of earlier entries are still to be compared; a
		// mismatch there is the earlier problem.
		if err := v.flush(); err != nil || v.bad {
			return err
		}
		problem()
		return nil
	}

	stored, err := tlog.StoredHashesForRecordHash(int64(v.n), tlog.Hash(h), v)
	if err != nil {
		return fmt.Errorf("recompute audit tree hashes: %w", err)
	}
	base := tlog.StoredHashIndex(0, int64(v.n))
	for i, sh := range stored {
		v.pending = append(v.pending, pendingHash{index: base + int64(i), hash: sh, seq: v.n})
	}
	// Leaf n completes the subtrees at the levels of n's trailing one bits:
	// they merge into one subtree at the level of the new size's lowest bit.
	top := bits.TrailingZeros64(v.n + 1)
	v.frontier[top] = stored[top]
	v.n++
	v.prev = h
	if len(v.pending) >= verifyBatch {
		if err := v.flush(); err != nil || v.bad {
			return err
		}
	}
	return v.checkpoints()
}

// flush compares the pending recomputed tree hashes with the stored ones.
func (v *verification) flush() error {
	if len(v.pending) == 0 {
		return nil
	}
	pending := v.pending
	v.pending = v.pending[:0]
	indexes := make([]int64, len(pending))
	for i, p := range pending {
		indexes[i] = p.index
	}
	got, err := v.log.store.AuditTreeHashes(v.ctx, indexes)
	if lethe.ErrorCode(err) == lethe.ENOTFOUND {
		// Some are missing: find the first, one read at a time.
		for _, p := range pending {
			one, err := v.log.store.AuditTreeHashes(v.ctx, []int64{p.index})
			if lethe.ErrorCode(err) == lethe.ENOTFOUND {
				v.fail(p.seq, "entry %d: its Merkle tree hash (index %d) is missing (deleted)", p.seq, p.index)
				return nil
			}
			if err != nil {
				return fmt.Errorf("read audit tree hashes: %w", err)
			}
			if one[0] != p.hash {
				v.treeMismatch(p)
				return nil
			}
		}
		return fmt.Errorf("read audit tree hashes: store reported a missing hash it then found")
	}
	if err != nil {
		return fmt.Errorf("read audit tree hashes: %w", err)
	}
	if len(got) != len(pending) {
		return fmt.Errorf("read audit tree hashes: asked %d, got %d", len(pending), len(got))
	}
	for i, p := range pending {
		if got[i] != p.hash {
			v.treeMismatch(p)
			return nil
		}
	}
	return nil
}

func (v *verification) treeMismatch(p pendingHash) {
	if level, _ := tlog.SplitStoredHashIndex(p.index); level == 0 {
		v.fail(p.seq, "entry %d: does not match its leaf in the Merkle tree (the entry or the tree was altered)", p.seq)
		return
	}
	v.fail(p.seq, "entry %d: a Merkle tree hash stored with it (index %d) does not match the entries (the tree was altered)", p.seq, p.index)
}

// checkpoints checks every checkpoint of the size reached so far.
func (v *verification) checkpoints() error {
	for v.next < len(v.cps) && v.cps[v.next].Size <= v.n {
		cp := v.cps[v.next]
		if cp.Size < v.n {
			// Sizes come sorted and each is checked on reaching it; only a
			// duplicate size can fall behind.
			v.res.Problem = fmt.Sprintf("two checkpoints claim size %d", cp.Size)
			v.bad = true
			return nil
		}
		if err := v.flush(); err != nil || v.bad {
			return err
		}
		signed, err := openCheckpoint(cp.Note, v.log.origin, v.verifiers)
		if err != nil {
			v.bad = true
			v.res.Problem = fmt.Sprintf("checkpoint at size %d: %s", cp.Size, lethe.ErrorMessage(err))
			return nil
		}
		if signed.Size != cp.Size || signed.Root != cp.Root {
			v.bad = true
			v.res.Problem = fmt.Sprintf("checkpoint at size %d: its stored size or root differ from its signed note (the checkpoint was altered)", cp.Size)
			return nil
		}
		root, err := tlog.TreeHash(int64(cp.Size), v)
		if err != nil {
			return fmt.Errorf("compute audit tree root: %w", err)
		}
		if root != cp.Root {
			v.bad = true
			if cp.Size == 0 {
				v.res.Problem = "the signed checkpoint of the empty log has a wrong root"
			} else if v.goodCP != nil && *v.goodCP > 0 {
				v.res.Problem = fmt.Sprintf("entries up to %d do not match signed checkpoint at size %d: entries %d to %d were rewritten after it was signed (the checkpoint at size %d still matches)",
					cp.Size-1, cp.Size, *v.goodCP, cp.Size-1, *v.goodCP)
			} else {
				v.res.Problem = fmt.Sprintf("entries up to %d do not match signed checkpoint at size %d: the log was rewritten after it was signed", cp.Size-1, cp.Size)
			}
			return nil
		}
		size := cp.Size
		v.goodCP = &size
		v.res.Checkpoints++
		v.next++
	}
	return nil
}
