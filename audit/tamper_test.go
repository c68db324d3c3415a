package audit_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

// rewrite plays an attacker who changes entry seq with change, writes it
// back with raw SQL (update), then recomputes the hash and prev_hash of it
// and of every later entry and moves the head, so that the hash chain is
// whole again. With tree, it also recomputes and replaces the stored Merkle
// tree: then only a signed checkpoint can tell.
func rewrite(t testing.TB, r *rawStore, seq uint64, change func(*lethe.AuditEntry), update string, args []any, tree bool) {
	t.Helper()
	entries := readEntries(t, r)
	change(&entries[seq])
	r.exec(t, update, args...)
	for i := seq; i < uint64(len(entries)); i++ {
		if i > 0 {
			entries[i].PrevHash = entries[i-1].Hash
		}
		entries[i].Hash = audit.LeafHash(entries[i])
		r.exec(t, `UPDATE audit_entries SET prev_hash = ?, hash = ? WHERE seq = ?`, entries[i].PrevHash[:], entries[i].Hash[:], int64(i))
	}
	r.setHead(t, uint64(len(entries)), entries[len(entries)-1])
	if tree {
		r.replaceTree(t, independentTree(t, entries))
	}
}

func TestVerifyNamesTampering(t *testing.T) {
	seq := func(n uint64) *uint64 { return &n }
	cases := []struct {
		name    string
		tamper  func(t testing.TB, r *rawStore)
		wantSeq *uint64 // nil: a problem no single entry can be blamed for
		want    string  // in Problem
		// wantHeadless, when set, replaces want on a store whose head is
		// its last entry (SQLite): what a head row would have caught, a
		// signed checkpoint catches there.
		wantHeadless string
	}{
		{
			name: "changed action",
			tamper: func(t testing.TB, r *rawStore) {
				r.exec(t, `UPDATE audit_entries SET action = 'consent.withdrawn' WHERE seq = 41`)
			},
			wantSeq: seq(41),
			want:    "entry 41: content does not match its hash (changed after it was written)",
		},
		{
			name: "changed details",
			tamper: func(t testing.TB, r *rawStore) {
				r.exec(t, `UPDATE audit_entries SET details = '{"n":"7","purpose":"analytics"}' WHERE seq = 7`)
			},
			wantSeq: seq(7),
			want:    "entry 7: content does not match its hash",
		},
		{
			name:    "deleted entry",
			tamper:  func(t testing.TB, r *rawStore) { r.exec(t, `DELETE FROM audit_entries WHERE seq = 17`) },
			wantSeq: seq(17),
			want:    "entry 17 missing (deleted)",
		},
		{
			name:    "deleted entries",
			tamper:  func(t testing.TB, r *rawStore) { r.exec(t, `DELETE FROM audit_entries WHERE seq >= 30 AND seq < 33`) },
			wantSeq: seq(30),
			want:    "entries 30 to 32 missing (deleted)",
		},
		{
			name:         "deleted last entry",
			tamper:       func(t testing.TB, r *rawStore) { r.exec(t, `DELETE FROM audit_entries WHERE seq = 49`) },
			wantSeq:      seq(49),
			want:         "entry 49 missing (deleted)",
			wantHeadless: "the signed checkpoint at size 50 covers entries the log no longer has (it has 49): entries from 49 on were deleted",
		},
		{
			// A forged entry slid in at 20, well formed (its own hash right,
			// chained to entry 19), the later ones shifted up by one.
			name: "inserted entry",
			tamper: func(t testing.TB, r *rawStore) {
				r.exec(t, `UPDATE audit_entries SET seq = seq + 1000000 WHERE seq >= 20`)
				r.exec(t, `UPDATE audit_entries SET seq = seq - 999999 WHERE seq >= 1000000`)
				if r.treeInEntries {
					r.exec(t, `INSERT INTO audit_entries (seq, time, actor, action, subject_ref, object, details, payload_hash, prev_hash, hash, tree_hashes)
 SELECT 20, time, 'api:forger', action, subject_ref, object, details, payload_hash, hash, hash, tree_hashes FROM audit_entries WHERE seq = 19`)
				} else {
					r.exec(t, `INSERT INTO audit_entries (seq, time, actor, action, subject_ref, object, details, payload_hash, prev_hash, hash)
 SELECT 20, time, 'api:forger', action, subject_ref, object, details, payload_hash, hash, hash FROM audit_entries WHERE seq = 19`)
				}
				var forged lethe.AuditEntry
				if err := r.AuditEntries(context.Background(), 20, 21, func(e lethe.AuditEntry) error { forged = e; return nil }); err != nil {
					t.Fatal(err)
				}
				h := audit.LeafHash(forged)
				r.exec(t, `UPDATE audit_entries SET hash = ? WHERE seq = 20`, h[:])
				entries := readEntries(t, r)
				r.setHead(t, uint64(len(entries)), entries[len(entries)-1])
			},
			wantSeq: seq(20),
			want:    "entry 20: does not match its leaf in the Merkle tree",
		},
		{
			name: "swapped entries",
			tamper: func(t testing.TB, r *rawStore) {
				r.exec(t, `UPDATE audit_entries SET seq = 1000000 WHERE seq = 10`)
				r.exec(t, `UPDATE audit_entries SET seq = 10 WHERE seq = 30`)
				r.exec(t, `UPDATE audit_entries SET seq = 30 WHERE seq = 1000000`)
			},
			wantSeq: seq(10),
			want:    "entry 10: content does not match its hash",
		},
		{
			name: "rewritten with hashes, tree left",
			tamper: func(t testing.TB, r *rawStore) {
				rewrite(t, r, 30, func(e *lethe.AuditEntry) { e.Action = "consent.withdrawn" },
					`UPDATE audit_entries SET action = 'consent.withdrawn' WHERE seq = 30`, nil, false)
			},
			wantSeq: seq(30),
			want:    "entry 30: does not match its leaf in the Merkle tree",
		},
		{
			// The attacker recomputed everything; only the checkpoint signed
			// at size 50 knows, and the one at 20 bounds where to look.
			name: "rewritten with hashes and tree",
			tamper: func(t testing.TB, r *rawStore) {
				rewrite(t, r, 30, func(e *lethe.AuditEntry) { e.Action = "consent.withdrawn" },
					`UPDATE audit_entries SET action = 'consent.withdrawn' WHERE seq = 30`, nil, true)
			},
			want: "entries up to 49 do not match signed checkpoint at size 50: entries 20 to 49 were rewritten",
		},
		{
			name: "rewritten before the first checkpoint",
			tamper: func(t testing.TB, r *rawStore) {
				rewrite(t, r, 3, func(e *lethe.AuditEntry) { e.Object = "other" },
					`UPDATE audit_entries SET object = 'other' WHERE seq = 3`, nil, true)
			},
			want: "entries up to 19 do not match signed checkpoint at size 20: the log was rewritten after it was signed",
		},
		{
			name: "altered tree hash",
			tamper: func(t testing.TB, r *rawStore) {
				// The level-1 node over leaves 10 and 11, stored with leaf 11.
				r.setTreeHash(t, tlog.StoredHashIndex(1, 5), make([]byte, 32))
			},
			wantSeq: seq(11),
			want:    "entry 11: a Merkle tree hash stored with it",
		},
		{
			name: "deleted tree hash",
			tamper: func(t testing.TB, r *rawStore) {
				r.deleteTreeHash(t, tlog.StoredHashIndex(0, 25))
			},
			wantSeq: seq(25),
			want:    "entry 25: its Merkle tree hash (index",
		},
		{
			name: "forged checkpoint",
			tamper: func(t testing.TB, r *rawStore) {
				notes := r.strings(t, `SELECT note FROM audit_checkpoints WHERE size = 20`)
				forged := strings.Replace(notes[0], "\ntime 2026-03-01T12:00:00Z\n", "\ntime 2026-03-02T12:00:00Z\n", 1)
				r.exec(t, `UPDATE audit_checkpoints SET note = ? WHERE size = 20`, []byte(forged))
			},
			want: "checkpoint at size 20: checkpoint signature by key lethe-test+",
		},
		{
			name: "altered checkpoint root",
			tamper: func(t testing.TB, r *rawStore) {
				r.exec(t, `UPDATE audit_checkpoints SET root = ? WHERE size = 50`, make([]byte, 32))
			},
			want: "checkpoint at size 50: its stored size or root differ from its signed note",
		},
		{
			// Only where the head is a row of its own (PostgreSQL); SQLite's
			// head is its last entry.
			name: "altered head",
			tamper: func(t testing.TB, r *rawStore) {
				if r.treeInEntries {
					t.Skip("the head is the last entry: there is no head row to alter")
				}
				r.exec(t, `UPDATE audit_head SET last_hash = ?`, make([]byte, 32))
			},
			want: "the log's head does not match its last entry",
		},
		{
			// Cut the log back cleanly: entries, their tree hashes and the
			// head, as if the last five had never been written.
			name: "truncated log",
			tamper: func(t testing.TB, r *rawStore) {
				entries := readEntries(t, r)
				r.exec(t, `DELETE FROM audit_entries WHERE seq >= 45`)
				r.deleteTreeFrom(t, 45)
				r.setHead(t, 45, entries[44])
			},
			wantSeq: seq(45),
			want:    "the signed checkpoint at size 50 covers entries the log no longer has (it has 45)",
		},
	}
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *rawStore) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r := open(t)
				l := newLog(r, testSigner(t, 1))
				appendN(t, l, 0, 20)
				checkpoint(t, l)
				appendN(t, l, 20, 30)
				checkpoint(t, l)
				if res := verify(t, l, audit.VerifyOptions{}); !res.OK {
					t.Fatalf("before tampering: %+v", res)
				}

				r.dropAppendOnly(t)
				tc.tamper(t, r)

				res := verify(t, l, audit.VerifyOptions{})
				if res.OK {
					t.Fatalf("tampered log verifies: %+v", res)
				}
				want := tc.want
				if r.treeInEntries && tc.wantHeadless != "" {
					want = tc.wantHeadless
				}
				if !strings.Contains(res.Problem, want) {
					t.Errorf("problem = %q\nwant it to contain %q", res.Problem, want)
				}
				switch {
				case tc.wantSeq == nil && res.FirstBadSeq != nil:
					t.Errorf("first bad seq = %d, want none", *res.FirstBadSeq)
				case tc.wantSeq != nil && res.FirstBadSeq == nil:
					t.Errorf("first bad seq = none, want %d", *tc.wantSeq)
				case tc.wantSeq != nil && *res.FirstBadSeq != *tc.wantSeq:
					t.Errorf("first bad seq = %d, want %d", *res.FirstBadSeq, *tc.wantSeq)
				}
				if res.Root != (audit.Hash{}) {
					t.Errorf("a tampered log reports root %s", res.Root)
				}
			})
		}
	})
}

// A log that was tampered with is not signed over: Checkpoint refuses to
// launder it.
func TestCheckpointRefusesRewrittenLog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *rawStore) {
		r := open(t)
		l := newLog(r, testSigner(t, 1))
		appendN(t, l, 0, 20)
		checkpoint(t, l)
		r.dropAppendOnly(t)
		rewrite(t, r, 5, func(e *lethe.AuditEntry) { e.Actor = "cli" },
			`UPDATE audit_entries SET actor = 'cli' WHERE seq = 5`, nil, true)
		// Deleting the checkpoint row too would hide it from this check; it
		// is what publishing checkpoints elsewhere is for.
		appendN(t, l, 20, 3)
		_, err := l.Checkpoint(context.Background())
		if lethe.ErrorCode(err) != lethe.ECONFLICT || !strings.Contains(err.Error(), "signed checkpoint at size 20") {
			t.Fatalf("checkpoint over a rewritten log: err = %v, want ECONFLICT naming size 20", err)
		}
	})
}

// SQLite keeps whatever bytes it is given in a TEXT column. Seal never
// writes invalid UTF-8 (JSON would encode every invalid byte alike, so
// entries differing only there would share a hash); an entry holding some
// was written by someone else, even when its hash was recomputed to match.
// (PostgreSQL refuses invalid UTF-8 itself.)
func TestVerifyFlagsInvalidUTF8(t *testing.T) {
	r := openSQLite(t)
	l := newLog(r, testSigner(t, 1))
	appendN(t, l, 0, 9)
	r.dropAppendOnly(t)
	r.exec(t, `UPDATE audit_entries SET actor = ? WHERE seq = 5`, "api:\xff")
	var e lethe.AuditEntry
	if err := r.AuditEntries(context.Background(), 5, 6, func(x lethe.AuditEntry) error { e = x; return nil }); err != nil {
		t.Fatal(err)
	}
	if e.Actor != "api:\xff" {
		t.Fatalf("premise: the store did not keep the invalid byte (%q)", e.Actor)
	}
	h := audit.LeafHash(e)
	r.exec(t, `UPDATE audit_entries SET hash = ? WHERE seq = 5`, h[:])
	res := verify(t, l, audit.VerifyOptions{})
	if res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != 5 || !strings.Contains(res.Problem, "not valid UTF-8") {
		t.Errorf("result = %+v, want entry 5 named for invalid UTF-8", res)
	}
	if _, err := l.Append(context.Background(), lethe.AuditRecord{Actor: "api:\xff", Action: "x.y"}); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("append of invalid UTF-8: err = %v, want EINVALID", err)
	}
}
