package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

var checkpointTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newLog(s lethe.AuditStore, signer *audit.Signer) *audit.Log {
	return audit.New(s, signer, audit.Options{Clock: lethe.ClockFunc(func() time.Time { return checkpointTime })})
}

// appendN appends n records, in batches of varied sizes so that batch
// boundaries fall everywhere in the tree.
func appendN(t testing.TB, l *audit.Log, from, n int) {
	t.Helper()
	ctx := context.Background()
	for i, size := from, 1; i < from+n; i, size = i+size, size%7+1 {
		var batch []lethe.AuditRecord
		for j := i; j < min(i+size, from+n); j++ {
			batch = append(batch, record(j))
		}
		entries, err := l.Append(ctx, batch...)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if len(entries) != len(batch) || entries[0].Seq != uint64(i) {
			t.Fatalf("append at %d returned %d entries starting at %d", i, len(entries), entries[0].Seq)
		}
	}
}

func checkpoint(t testing.TB, l *audit.Log) lethe.AuditCheckpoint {
	t.Helper()
	cp, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return cp
}

func readEntries(t testing.TB, s lethe.AuditStore) []lethe.AuditEntry {
	t.Helper()
	var out []lethe.AuditEntry
	if err := s.AuditEntries(context.Background(), 0, 1<<62, func(e lethe.AuditEntry) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// independentTree recomputes, without package audit's Verify, the tree
// hashes of entries: tlog over the canonical encodings.
func independentTree(t testing.TB, entries []lethe.AuditEntry) memTree {
	t.Helper()
	m := memTree{}
	for i, e := range entries {
		hs, err := tlog.StoredHashes(int64(i), audit.Canonical(e), m)
		if err != nil {
			t.Fatal(err)
		}
		base := tlog.StoredHashIndex(0, int64(i))
		for j, h := range hs {
			m[base+int64(j)] = h
		}
	}
	return m
}

func treeHash(t testing.TB, m memTree, n int) [32]byte {
	t.Helper()
	h, err := tlog.TreeHash(int64(n), m)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func verify(t testing.TB, l *audit.Log, opts audit.VerifyOptions) audit.VerifyResult {
	t.Helper()
	res, err := l.Verify(context.Background(), opts)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res
}

func TestVerifyUntampered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *rawStore) {
		s := open(t)
		l := newLog(s, testSigner(t, 1))
		appendN(t, l, 0, 20)
		checkpoint(t, l)
		appendN(t, l, 20, 30)
		cp := checkpoint(t, l)

		var last, calls [2]uint64
		res := verify(t, l, audit.VerifyOptions{Progress: func(done, total uint64) {
			last = [2]uint64{done, total}
			calls[0]++
		}})
		if !res.OK || res.Problem != "" || res.FirstBadSeq != nil {
			t.Fatalf("untampered log does not verify: %+v", res)
		}
		want := treeHash(t, independentTree(t, readEntries(t, s)), 50)
		if res.Size != 50 || res.Root != want || cp.Root != want {
			t.Errorf("size %d root %s (checkpoint %x), want 50 and %x", res.Size, res.Root, cp.Root, want)
		}
		if res.Checkpoints != 2 {
			t.Errorf("%d checkpoints verified, want 2", res.Checkpoints)
		}
		if last != [2]uint64{50, 50} || calls[0] == 0 {
			t.Errorf("last progress call = %v after %d calls, want [50 50]", last, calls[0])
		}
	})
}

func TestVerifyEmptyLog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *rawStore) {
		l := newLog(open(t), testSigner(t, 1))
		res := verify(t, l, audit.VerifyOptions{})
		if !res.OK || res.Size != 0 || res.Root != audit.Hash(sha256.Sum256(nil)) {
			t.Fatalf("empty log: %+v, want OK with the RFC 6962 empty root", res)
		}
		cp := checkpoint(t, l)
		if cp.Size != 0 || cp.Root != sha256.Sum256(nil) {
			t.Errorf("checkpoint of the empty log: %d %x", cp.Size, cp.Root)
		}
		if res := verify(t, l, audit.VerifyOptions{}); !res.OK || res.Checkpoints != 1 {
			t.Errorf("empty log with a checkpoint: %+v", res)
		}
	})
}

func TestAppendRequiresActorAndAction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *rawStore) {
		s := open(t)
		l := newLog(s, testSigner(t, 1))
		for _, r := range []lethe.AuditRecord{{Action: "x.y"}, {Actor: "cli"}} {
			if _, err := l.Append(context.Background(), r); lethe.ErrorCode(err) != lethe.EINVALID {
				t.Errorf("append %+v: err = %v, want EINVALID", r, err)
			}
		}
		if head, err := s.AuditHead(context.Background()); err != nil || head.Size != 0 {
			t.Errorf("head after refused appends = %+v, %v", head, err)
		}
	})
}

func TestCheckpoint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *rawStore) {
		ctx := context.Background()
		s := open(t)
		signer := testSigner(t, 1)
		l := newLog(s, signer)
		appendN(t, l, 0, 13)
		cp := checkpoint(t, l)
		if cp.Size != 13 || !cp.CreatedAt.Equal(checkpointTime) {
			t.Errorf("checkpoint size %d at %v, want 13 at %v", cp.Size, cp.CreatedAt, checkpointTime)
		}
		if want := treeHash(t, independentTree(t, readEntries(t, s)), 13); cp.Root != want {
			t.Errorf("checkpoint root %x, want %x", cp.Root, want)
		}
		text := string(cp.Note)
		wantText := "lethe audit log\n13\n" + base64.StdEncoding.EncodeToString(cp.Root[:]) + "\ntime 2026-03-01T12:00:00Z\n\n— lethe-test "
		if !strings.HasPrefix(text, wantText) {
			t.Errorf("note =\n%s\nwant it to start with\n%s", text, wantText)
		}

		// Idempotent while the size does not change, even at another time.
		later := audit.New(s, signer, audit.Options{Clock: lethe.ClockFunc(func() time.Time { return checkpointTime.Add(time.Hour) })})
		again, err := later.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(again.Note) != string(cp.Note) {
			t.Errorf("second checkpoint at the same size signed a new note:\n%s", again.Note)
		}
		if list, err := s.AuditCheckpointList(ctx); err != nil || len(list) != 1 {
			t.Errorf("checkpoints stored: %d, %v; want 1", len(list), err)
		}

		// Anyone with the published key can open it.
		opened, err := audit.OpenCheckpoint(cp.Note, audit.DefaultOrigin, signer.VerifierKey())
		if err != nil {
			t.Fatalf("open checkpoint with the published key: %v", err)
		}
		if opened.Size != 13 || opened.Root != cp.Root || !opened.CreatedAt.Equal(checkpointTime) {
			t.Errorf("opened checkpoint = %+v", opened)
		}
		for _, tc := range []struct {
			name   string
			msg    []byte
			origin string
			key    string
		}{
			{"another key", cp.Note, audit.DefaultOrigin, testSigner(t, 2).VerifierKey()},
			{"another log", cp.Note, "some other log", signer.VerifierKey()},
			{"altered size", []byte(strings.Replace(text, "\n13\n", "\n12\n", 1)), audit.DefaultOrigin, signer.VerifierKey()},
			{"not a note", []byte("hello"), audit.DefaultOrigin, signer.VerifierKey()},
		} {
			if _, err := audit.OpenCheckpoint(tc.msg, tc.origin, tc.key); lethe.ErrorCode(err) != lethe.EINVALID {
				t.Errorf("%s: err = %v, want EINVALID", tc.name, err)
			}
		}

		// A new size gets a new checkpoint.
		appendN(t, l, 13, 4)
		if cp2 := checkpoint(t, l); cp2.Size != 17 {
			t.Errorf("checkpoint after appends has size %d, want 17", cp2.Size)
		}

		// Without a key there is nothing to sign with.
		if _, err := audit.New(s, nil, audit.Options{}).Checkpoint(ctx); lethe.ErrorCode(err) != lethe.EINVALID {
			t.Errorf("checkpoint without a signer: err = %v, want EINVALID", err)
		}
	})
}

func TestVerifyAfterKeyRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *rawStore) {
		s := open(t)
		old := testSigner(t, 1)
		appendN(t, newLog(s, old), 0, 5)
		checkpoint(t, newLog(s, old))
		rotated := newLog(s, testSigner(t, 2))
		appendN(t, rotated, 5, 5)
		checkpoint(t, rotated)

		res := verify(t, rotated, audit.VerifyOptions{})
		if res.OK || !strings.Contains(res.Problem, "checkpoint at size 5") || !strings.Contains(res.Problem, "not signed by a trusted") {
			t.Errorf("old checkpoint without the old key: %+v", res)
		}
		res = verify(t, rotated, audit.VerifyOptions{VerifierKeys: []string{old.VerifierKey()}})
		if !res.OK || res.Checkpoints != 2 {
			t.Errorf("with the old key trusted: %+v", res)
		}
	})
}

func TestProofs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *rawStore) {
		ctx := context.Background()
		s := open(t)
		signer := testSigner(t, 1)
		l := newLog(s, signer)
		appendN(t, l, 0, 21)
		cpOld := checkpoint(t, l)
		appendN(t, l, 21, 29)
		cpNew := checkpoint(t, l)
		entries := readEntries(t, s)
		tree := independentTree(t, entries)

		// The client's side: roots come from checkpoints it verified.
		oldCP, err := audit.OpenCheckpoint(cpOld.Note, audit.DefaultOrigin, signer.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		newCP, err := audit.OpenCheckpoint(cpNew.Note, audit.DefaultOrigin, signer.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}

		for _, e := range entries {
			p, err := l.InclusionProof(ctx, e.Seq, 50)
			if err != nil {
				t.Fatalf("inclusion proof of %d: %v", e.Seq, err)
			}
			// Over JSON, as a client receives it.
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var got audit.InclusionProof
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if err := audit.VerifyInclusion(got, audit.LeafHash(e), newCP.Root); err != nil {
				t.Errorf("entry %d: %v", e.Seq, err)
			}
			if got.Checkpoint != string(cpNew.Note) || got.Root != audit.Hash(newCP.Root) || got.LeafHash != audit.Hash(e.Hash) {
				t.Errorf("entry %d: proof carries checkpoint %q, root %s, leaf %s", e.Seq, got.Checkpoint, got.Root, got.LeafHash)
			}
			other := e
			other.Action = "forged"
			if err := audit.VerifyInclusion(got, audit.LeafHash(other), newCP.Root); lethe.ErrorCode(err) != lethe.EINVALID {
				t.Errorf("entry %d: proof verifies an altered entry (err %v)", e.Seq, err)
			}
			if e.Seq < 21 {
				p, err := l.InclusionProof(ctx, e.Seq, 21)
				if err != nil {
					t.Fatal(err)
				}
				if err := audit.VerifyInclusion(p, audit.LeafHash(e), oldCP.Root); err != nil {
					t.Errorf("entry %d in the old tree: %v", e.Seq, err)
				}
			}
		}
		if !strings.Contains(mustJSON(t, audit.InclusionProof{Hashes: []audit.Hash{{0xab}}}), `"ab000000`) {
			t.Error("proof hashes are not hex in JSON")
		}

		p, err := l.ConsistencyProof(ctx, 21, 50)
		if err != nil {
			t.Fatal(err)
		}
		var got audit.ConsistencyProof
		if err := json.Unmarshal([]byte(mustJSON(t, p)), &got); err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyConsistency(got, oldCP.Root, newCP.Root); err != nil {
			t.Errorf("consistency 21 -> 50: %v", err)
		}
		if got.OldCheckpoint != string(cpOld.Note) || got.NewCheckpoint != string(cpNew.Note) {
			t.Error("consistency proof does not carry the checkpoints of its sizes")
		}
		if err := audit.VerifyConsistency(got, treeHash(t, tree, 20), newCP.Root); lethe.ErrorCode(err) != lethe.EINVALID {
			t.Errorf("consistency proof verifies against another old root (err %v)", err)
		}
		for old := uint64(1); old <= 50; old++ {
			p, err := l.ConsistencyProof(ctx, old, 50)
			if err != nil {
				t.Fatal(err)
			}
			if err := audit.VerifyConsistency(p, treeHash(t, tree, int(old)), newCP.Root); err != nil {
				t.Errorf("consistency %d -> 50: %v", old, err)
			}
		}

		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"inclusion seq = size", func() error { _, err := l.InclusionProof(ctx, 50, 50); return err }},
			{"inclusion beyond the log", func() error { _, err := l.InclusionProof(ctx, 0, 51); return err }},
			{"consistency from 0", func() error { _, err := l.ConsistencyProof(ctx, 0, 10); return err }},
			{"consistency backwards", func() error { _, err := l.ConsistencyProof(ctx, 30, 20); return err }},
			{"consistency beyond the log", func() error { _, err := l.ConsistencyProof(ctx, 10, 51); return err }},
		} {
			if err := tc.call(); lethe.ErrorCode(err) != lethe.EINVALID {
				t.Errorf("%s: err = %v, want EINVALID", tc.name, err)
			}
		}
	})
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
