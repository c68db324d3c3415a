package audit_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

func record(i int) lethe.AuditRecord {
	return lethe.AuditRecord{
		Actor:      "api:test",
		Action:     "consent.recorded",
		SubjectRef: lethe.SubjectRef{byte(i), 1, 2, 3},
		Object:     fmt.Sprintf("event-%d", i),
		Details:    map[string]string{"purpose": "marketing_email", "n": fmt.Sprint(i)},
	}
}

// sealAll seals records in batches the way a store does: each batch
// continues from the head the previous one returned, and reads only hashes
// the previous batches "stored".
func sealAll(t testing.TB, batches [][]lethe.AuditRecord, now time.Time) ([]lethe.AuditEntry, memTree, lethe.AuditHead) {
	t.Helper()
	stored := memTree{}
	var (
		head lethe.AuditHead
		all  []lethe.AuditEntry
	)
	for _, b := range batches {
		read := func(indexes []int64) ([][32]byte, error) {
			hs, err := stored.ReadHashes(indexes)
			if err != nil {
				return nil, err
			}
			out := make([][32]byte, len(hs))
			for i, h := range hs {
				out[i] = h
			}
			return out, nil
		}
		entries, hashes, next, err := audit.Seal(head, b, now, read)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hashes {
			if _, dup := stored[h.Index]; dup {
				t.Fatalf("tree hash %d produced twice", h.Index)
			}
			stored[h.Index] = h.Hash
		}
		all = append(all, entries...)
		head = next
	}
	return all, stored, head
}

func TestSealChainsAndStoresTreeHashes(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	var batches [][]lethe.AuditRecord
	n := 0
	for _, size := range []int{1, 2, 5, 1, 8, 13} {
		var b []lethe.AuditRecord
		for range size {
			b = append(b, record(n))
			n++
		}
		batches = append(batches, b)
	}
	entries, stored, head := sealAll(t, batches, now)

	if head.Size != uint64(n) || head.LastHash != entries[n-1].Hash {
		t.Fatalf("head = %d/%x, want %d/%x", head.Size, head.LastHash, n, entries[n-1].Hash)
	}
	wantTime := now.UTC().Truncate(time.Microsecond)
	independent := memTree{}
	var prev [32]byte
	for i, e := range entries {
		if e.Seq != uint64(i) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if !e.Time.Equal(wantTime) || e.Time.Location() != time.UTC {
			t.Errorf("entry %d time = %v, want %v in UTC", i, e.Time, wantTime)
		}
		if e.PrevHash != prev {
			t.Errorf("entry %d does not chain to entry %d", i, i-1)
		}
		if e.Hash != audit.LeafHash(e) || e.Hash != [32]byte(tlog.RecordHash(audit.Canonical(e))) {
			t.Errorf("entry %d hash is not the RFC 6962 leaf hash of its canonical encoding", i)
		}
		prev = e.Hash
		// What tlog itself would store for this record.
		want, err := tlog.StoredHashes(int64(i), audit.Canonical(e), independent)
		if err != nil {
			t.Fatal(err)
		}
		base := tlog.StoredHashIndex(0, int64(i))
		for j, h := range want {
			independent[base+int64(j)] = h
			if stored[base+int64(j)] != h {
				t.Errorf("entry %d: stored hash %d differs from tlog.StoredHashes", i, base+int64(j))
			}
		}
	}
	if len(stored) != len(independent) || int64(len(stored)) != tlog.StoredHashCount(int64(n)) {
		t.Errorf("Seal stored %d hashes, tlog %d, want %d", len(stored), len(independent), tlog.StoredHashCount(int64(n)))
	}
}

func TestSealReadError(t *testing.T) {
	head := lethe.AuditHead{Size: 1, LastHash: [32]byte{1}}
	_, _, got, err := audit.Seal(head, []lethe.AuditRecord{record(1)}, time.Now(), func([]int64) ([][32]byte, error) {
		return nil, fmt.Errorf("disk on fire")
	})
	if err == nil {
		t.Fatal("Seal succeeded without the hashes it needs")
	}
	if got != head {
		t.Errorf("head moved on error: %+v", got)
	}
}

func TestCanonicalCommitsToEveryField(t *testing.T) {
	base := lethe.AuditEntry{
		AuditRecord: lethe.AuditRecord{
			Actor: "cli", Action: "subject.key_shredded", SubjectRef: lethe.SubjectRef{9},
			Object: "obj", Details: map[string]string{"a": "1", "b": "2"}, PayloadHash: []byte{1, 2, 3},
		},
		Seq: 7, Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), PrevHash: [32]byte{4},
	}
	h := audit.LeafHash(base)
	for _, tc := range []struct {
		name   string
		change func(*lethe.AuditEntry)
	}{
		{"actor", func(e *lethe.AuditEntry) { e.Actor = "api:x" }},
		{"action", func(e *lethe.AuditEntry) { e.Action = "consent.recorded" }},
		{"subject", func(e *lethe.AuditEntry) { e.SubjectRef[0] = 8 }},
		{"no subject", func(e *lethe.AuditEntry) { e.SubjectRef = lethe.SubjectRef{} }},
		{"object", func(e *lethe.AuditEntry) { e.Object = "other" }},
		{"detail value", func(e *lethe.AuditEntry) { e.Details = map[string]string{"a": "1", "b": "3"} }},
		{"detail added", func(e *lethe.AuditEntry) { e.Details = map[string]string{"a": "1", "b": "2", "c": ""} }},
		{"payload hash", func(e *lethe.AuditEntry) { e.PayloadHash = []byte{1, 2, 4} }},
		{"seq", func(e *lethe.AuditEntry) { e.Seq = 8 }},
		{"time", func(e *lethe.AuditEntry) { e.Time = e.Time.Add(time.Microsecond) }},
		{"prev hash", func(e *lethe.AuditEntry) { e.PrevHash[31] = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			e.Details = map[string]string{"a": "1", "b": "2"}
			tc.change(&e)
			if audit.LeafHash(e) == h {
				t.Errorf("changing %s leaves the hash unchanged", tc.name)
			}
		})
	}

	// The same content in another time zone, with its map built in another
	// order, and with Hash set, encodes identically.
	same := base
	same.Time = base.Time.In(time.FixedZone("X", -7*3600))
	same.Details = map[string]string{"b": "2", "a": "1"}
	same.Hash = [32]byte{0xff}
	if !bytes.Equal(audit.Canonical(same), audit.Canonical(base)) {
		t.Errorf("canonical encoding depends on zone, map order or Hash:\n%s\n%s", audit.Canonical(same), audit.Canonical(base))
	}
}

func TestSealRefusesInvalidUTF8(t *testing.T) {
	for _, tc := range []struct {
		name              string
		record, lookalike lethe.AuditRecord
	}{
		{"actor", lethe.AuditRecord{Actor: "api:\xff", Action: "x.y"}, lethe.AuditRecord{Actor: "api:\xfe", Action: "x.y"}},
		{"action", lethe.AuditRecord{Actor: "cli", Action: "x.\xfe"}, lethe.AuditRecord{Actor: "cli", Action: "x.\xc3"}},
		{"object", lethe.AuditRecord{Actor: "cli", Action: "x.y", Object: "\xc3"}, lethe.AuditRecord{Actor: "cli", Action: "x.y", Object: "\xff"}},
		{"detail key", lethe.AuditRecord{Actor: "cli", Action: "x.y", Details: map[string]string{"\xff": "v"}},
			lethe.AuditRecord{Actor: "cli", Action: "x.y", Details: map[string]string{"\x80": "v"}}},
		{"detail value", lethe.AuditRecord{Actor: "cli", Action: "x.y", Details: map[string]string{"k": "\xff"}},
			lethe.AuditRecord{Actor: "cli", Action: "x.y", Details: map[string]string{"k": "\xfe"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// JSON writes every invalid byte as the same escaped U+FFFD:
			// records differing only there would share a hash.
			a, b := audit.Canonical(lethe.AuditEntry{AuditRecord: tc.record}), audit.Canonical(lethe.AuditEntry{AuditRecord: tc.lookalike})
			if !bytes.Equal(a, b) {
				t.Fatalf("premise: different invalid bytes no longer encode alike (%s vs %s); ValidRecord may be relaxed", a, b)
			}
			_, _, _, err := audit.Seal(lethe.AuditHead{}, []lethe.AuditRecord{record(0), tc.record}, time.Now(), nil)
			if lethe.ErrorCode(err) != lethe.EINVALID {
				t.Errorf("err = %v, want EINVALID", err)
			}
		})
	}
}
