package audit_test

import (
	"encoding/hex"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe/audit"
)

// The RFC 6962 test vectors published with the Certificate Transparency
// reference implementation (certificate-transparency merkle_tree_test.cc)
// and carried over to transparency-dev/merkle (proof/verify_test.go): eight
// leaves, the tree root at every size from 1 to 8, and inclusion and
// consistency proofs. Agreeing with them is what makes Lethe's proofs
// checkable by any RFC 6962 / RFC 9162 client, not only by Lethe.
var (
	ctLeaves = []string{
		"",
		"00",
		"10",
		"2021",
		"3031",
		"40414243",
		"5051525354555657",
		"606162636465666768696a6b6c6d6e6f",
	}
	// ctRoots[i] is the root of the tree of the first i+1 leaves.
	ctRoots = []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	ctEmptyRoot = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

	// Inclusion proofs: leaf is 1-based in the published vectors.
	ctInclusion = []struct {
		leaf, size uint64
		proof      []string
	}{
		{1, 1, nil},
		{1, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
		}},
		{6, 8, []string{
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		}},
		{3, 3, []string{
			"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		}},
		{2, 5, []string{
			"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		}},
	}

	ctConsistency = []struct {
		size1, size2 uint64
		proof        []string
	}{
		{1, 1, nil},
		{1, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
		}},
		{6, 8, []string{
			"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		}},
		{2, 5, []string{
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		}},
		{6, 7, []string{
			"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		}},
	}
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func mustHash(t testing.TB, s string) [32]byte {
	t.Helper()
	b := mustHex(t, s)
	if len(b) != 32 {
		t.Fatalf("%q is not a 32-byte hash", s)
	}
	return [32]byte(b)
}

// memTree stores the tlog hashes of the CT leaves in memory: the same
// storage layout the stores use.
type memTree map[int64]tlog.Hash

func (m memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := m[idx]
		if !ok {
			return nil, fmt.Errorf("hash %d not stored", idx)
		}
		out[i] = h
	}
	return out, nil
}

func ctTree(t testing.TB) memTree {
	t.Helper()
	m := memTree{}
	for i, leaf := range ctLeaves {
		hashes, err := tlog.StoredHashes(int64(i), mustHex(t, leaf), m)
		if err != nil {
			t.Fatal(err)
		}
		base := tlog.StoredHashIndex(0, int64(i))
		for j, h := range hashes {
			m[base+int64(j)] = h
		}
	}
	return m
}

func TestRFC6962Roots(t *testing.T) {
	tree := ctTree(t)
	empty, err := tlog.TreeHash(0, tree)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(empty[:]); got != ctEmptyRoot {
		t.Errorf("empty root = %s, RFC 6962 says %s", got, ctEmptyRoot)
	}
	for i, want := range ctRoots {
		size := int64(i + 1)
		root, err := tlog.TreeHash(size, tree)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got := hex.EncodeToString(root[:]); got != want {
			t.Errorf("size %d: root = %s, RFC 6962 says %s", size, got, want)
		}
	}
}

func TestRFC6962InclusionProofs(t *testing.T) {
	tree := ctTree(t)
	for _, v := range ctInclusion {
		t.Run(fmt.Sprintf("leaf %d of %d", v.leaf, v.size), func(t *testing.T) {
			seq := v.leaf - 1
			proof, err := tlog.ProveRecord(int64(v.size), int64(seq), tree)
			if err != nil {
				t.Fatal(err)
			}
			if len(proof) != len(v.proof) {
				t.Fatalf("proof has %d hashes, the vector %d", len(proof), len(v.proof))
			}
			p := audit.InclusionProof{Seq: seq, TreeSize: v.size}
			for i, h := range v.proof {
				if got := hex.EncodeToString(proof[i][:]); got != h {
					t.Errorf("proof[%d] = %s, the vector says %s", i, got, h)
				}
				p.Hashes = append(p.Hashes, audit.Hash(mustHash(t, h)))
			}
			leaf := tlog.RecordHash(mustHex(t, ctLeaves[seq]))
			root := mustHash(t, ctRoots[v.size-1])
			if err := audit.VerifyInclusion(p, leaf, root); err != nil {
				t.Fatalf("published proof does not verify: %v", err)
			}
			for _, c := range corruptInclusion(p, leaf, root) {
				if err := audit.VerifyInclusion(c.p, c.leaf, c.root); err == nil {
					t.Errorf("%s: verified", c.name)
				}
			}
		})
	}
}

type inclusionCase struct {
	name       string
	p          audit.InclusionProof
	leaf, root [32]byte
}

// corruptInclusion returns variations of a valid proof that must all fail,
// after the probes of the transparency-dev verifier tests.
func corruptInclusion(p audit.InclusionProof, leaf, root [32]byte) []inclusionCase {
	with := func(f func(*audit.InclusionProof)) audit.InclusionProof {
		q := p
		q.Hashes = append([]audit.Hash(nil), p.Hashes...)
		f(&q)
		return q
	}
	other := [32]byte{0xab, 0xac, 0xab, 0xa0}
	cases := []inclusionCase{
		{"seq+1", with(func(q *audit.InclusionProof) { q.Seq++ }), leaf, root},
		{"size*2", with(func(q *audit.InclusionProof) { q.TreeSize *= 2 }), leaf, root},
		{"wrong leaf", p, other, root},
		{"wrong root", p, leaf, other},
		{"trailing root", with(func(q *audit.InclusionProof) { q.Hashes = append(q.Hashes, root) }), leaf, root},
		{"preceding root", with(func(q *audit.InclusionProof) { q.Hashes = append([]audit.Hash{root}, q.Hashes...) }), leaf, root},
	}
	if p.Seq > 0 {
		cases = append(cases, inclusionCase{"seq-1", with(func(q *audit.InclusionProof) { q.Seq-- }), leaf, root})
	}
	if p.TreeSize > 1 {
		cases = append(cases, inclusionCase{"size/2", with(func(q *audit.InclusionProof) { q.TreeSize /= 2 }), leaf, root})
	}
	for i := range p.Hashes {
		cases = append(cases, inclusionCase{fmt.Sprintf("flipped bit in hash %d", i),
			with(func(q *audit.InclusionProof) { q.Hashes[i][0] ^= 8 }), leaf, root})
	}
	if len(p.Hashes) > 0 {
		cases = append(cases, inclusionCase{"removed hash", with(func(q *audit.InclusionProof) { q.Hashes = q.Hashes[:len(q.Hashes)-1] }), leaf, root})
	}
	return cases
}

func TestRFC6962ConsistencyProofs(t *testing.T) {
	tree := ctTree(t)
	for _, v := range ctConsistency {
		t.Run(fmt.Sprintf("%d to %d", v.size1, v.size2), func(t *testing.T) {
			proof, err := tlog.ProveTree(int64(v.size2), int64(v.size1), tree)
			if err != nil {
				t.Fatal(err)
			}
			if len(proof) != len(v.proof) {
				t.Fatalf("proof has %d hashes, the vector %d", len(proof), len(v.proof))
			}
			p := audit.ConsistencyProof{OldSize: v.size1, NewSize: v.size2}
			for i, h := range v.proof {
				if got := hex.EncodeToString(proof[i][:]); got != h {
					t.Errorf("proof[%d] = %s, the vector says %s", i, got, h)
				}
				p.Hashes = append(p.Hashes, audit.Hash(mustHash(t, h)))
			}
			oldRoot, newRoot := mustHash(t, ctRoots[v.size1-1]), mustHash(t, ctRoots[v.size2-1])
			if err := audit.VerifyConsistency(p, oldRoot, newRoot); err != nil {
				t.Fatalf("published proof does not verify: %v", err)
			}
			if len(p.Hashes) == 0 {
				return
			}
			bad := []struct {
				name       string
				p          audit.ConsistencyProof
				oldR, newR [32]byte
			}{
				{"swapped roots", p, newRoot, oldRoot},
				{"wrong old root", p, [32]byte{1}, newRoot},
				{"wrong new root", p, oldRoot, [32]byte{1}},
				{"empty proof", audit.ConsistencyProof{OldSize: p.OldSize, NewSize: p.NewSize}, oldRoot, newRoot},
				{"old size+1", audit.ConsistencyProof{OldSize: p.OldSize + 1, NewSize: p.NewSize, Hashes: p.Hashes}, oldRoot, newRoot},
				{"new size*2", audit.ConsistencyProof{OldSize: p.OldSize, NewSize: p.NewSize * 2, Hashes: p.Hashes}, oldRoot, newRoot},
				{"truncated", audit.ConsistencyProof{OldSize: p.OldSize, NewSize: p.NewSize, Hashes: p.Hashes[:len(p.Hashes)-1]}, oldRoot, newRoot},
				{"trailing root", audit.ConsistencyProof{OldSize: p.OldSize, NewSize: p.NewSize, Hashes: append(append([]audit.Hash(nil), p.Hashes...), newRoot)}, oldRoot, newRoot},
			}
			for i := range p.Hashes {
				q := p
				q.Hashes = append([]audit.Hash(nil), p.Hashes...)
				q.Hashes[i][0] ^= 16
				bad = append(bad, struct {
					name       string
					p          audit.ConsistencyProof
					oldR, newR [32]byte
				}{fmt.Sprintf("flipped bit in hash %d", i), q, oldRoot, newRoot})
			}
			for _, c := range bad {
				if err := audit.VerifyConsistency(c.p, c.oldR, c.newR); err == nil {
					t.Errorf("%s: verified", c.name)
				}
			}
		})
	}
}
