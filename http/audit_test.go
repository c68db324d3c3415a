package http

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
	"github.com/lethe-privacy/lethe/keyring"
)

// seedAudit records consents so that the audit log has entries, and
// returns the log's size.
func seedAudit(t *testing.T, e *testEnv, subjects ...string) uint64 {
	t.Helper()
	for _, s := range subjects {
		if res := e.do("POST", "/v1/consents", "write", grant(s, true, "marketing_email")); res.status != http.StatusCreated {
			t.Fatalf("record: %d %s", res.status, res.body)
		}
	}
	head, err := e.store.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return head.Size
}

func TestAuditVerifyReportsTampering(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	size := seedAudit(t, e, "u-1", "u-2", "u-3")

	var res audit.VerifyResult
	r := e.do("GET", "/v1/audit/verify", "audit", nil)
	r.json(t, &res)
	if r.status != http.StatusOK || !res.OK || res.Size != size || res.FirstBadSeq != nil {
		t.Fatalf("verify intact log: %d %s (size %d)", r.status, r.body, size)
	}

	// Tamper with entry 3 behind the store's back: drop the append-only
	// trigger and rewrite the actor.
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"DROP TRIGGER audit_entries_no_update",
		"UPDATE audit_entries SET actor = 'api:mallory' WHERE seq = 3",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	r = e.do("GET", "/v1/audit/verify", "audit", nil)
	res = audit.VerifyResult{}
	r.json(t, &res)
	if r.status != http.StatusOK {
		t.Fatalf("verify of a tampered log is a result, not an error: %d %s", r.status, r.body)
	}
	if res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != 3 || res.Problem == "" {
		t.Errorf("tampered log: %s, want ok false naming entry 3", r.body)
	}
}

func TestAuditCheckpoints(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	size := seedAudit(t, e, "u-1", "u-2")

	r := e.do("GET", "/v1/audit/checkpoints/latest", "audit", nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("latest before any checkpoint: %d %s", r.status, r.body)
	}
	r.problem(t)
	var list CheckpointListResponse
	e.do("GET", "/v1/audit/checkpoints", "audit", nil).json(t, &list)
	if list.Checkpoints == nil || len(list.Checkpoints) != 0 {
		t.Errorf("empty list = %+v, want []", list)
	}

	r = e.do("POST", "/v1/audit/checkpoints", "audit", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.problem(t).Detail, "admin") {
		t.Fatalf("sign with audit:read: %d %s, want 403 naming admin", r.status, r.body)
	}

	r = e.do("POST", "/v1/audit/checkpoints", "admin", nil)
	if r.status != http.StatusCreated {
		t.Fatalf("sign: %d %s", r.status, r.body)
	}
	var cp Checkpoint
	r.json(t, &cp)
	if cp.Size != size {
		t.Errorf("checkpoint size %d, want %d", cp.Size, size)
	}

	var key AuditPublicKey
	e.do("GET", "/v1/audit/public-key", "audit", nil).json(t, &key)
	if key.Algorithm != "ed25519" || key.Name != keyring.SignerName || !strings.HasPrefix(key.VerifierKey, keyring.SignerName+"+") {
		t.Errorf("public key = %+v", key)
	}
	opened, err := audit.OpenCheckpoint([]byte(cp.Note), audit.DefaultOrigin, key.VerifierKey)
	if err != nil {
		t.Fatalf("the served note does not verify with the served key: %v", err)
	}
	if opened.Size != cp.Size || audit.Hash(opened.Root) != cp.Root {
		t.Errorf("note states size %d root %x, body says %d %s", opened.Size, opened.Root, cp.Size, cp.Root)
	}

	var latest Checkpoint
	e.do("GET", "/v1/audit/checkpoints/latest", "audit", nil).json(t, &latest)
	e.do("GET", "/v1/audit/checkpoints", "audit", nil).json(t, &list)
	if latest != cp || len(list.Checkpoints) != 1 || list.Checkpoints[0] != cp {
		t.Errorf("latest %+v, list %+v, want the signed one", latest, list)
	}
}

func TestAuditProofs(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	oldSize := seedAudit(t, e, "u-1", "u-2", "u-3")
	var oldCP Checkpoint
	e.do("POST", "/v1/audit/checkpoints", "admin", nil).json(t, &oldCP)
	newSize := seedAudit(t, e, "u-4", "u-5")
	var newCP Checkpoint
	e.do("POST", "/v1/audit/checkpoints", "admin", nil).json(t, &newCP)
	if oldCP.Size != oldSize || newCP.Size != newSize || newSize <= oldSize {
		t.Fatalf("checkpoints at %d and %d, log sizes %d and %d", oldCP.Size, newCP.Size, oldSize, newSize)
	}

	// Inclusion of every entry in the newer tree, checked against a leaf
	// hash recomputed from the stored entry and the signed root.
	err := e.store.AuditEntries(context.Background(), 0, newSize, func(entry lethe.AuditEntry) error {
		var p audit.InclusionProof
		r := e.do("GET", fmt.Sprintf("/v1/audit/proofs/inclusion?seq=%d&tree_size=%d", entry.Seq, newSize), "audit", nil)
		if r.status != http.StatusOK {
			return fmt.Errorf("inclusion of %d: %d %s", entry.Seq, r.status, r.body)
		}
		r.json(t, &p)
		return audit.VerifyInclusion(p, audit.LeafHash(entry), newCP.Root)
	})
	if err != nil {
		t.Fatal(err)
	}

	var c audit.ConsistencyProof
	r := e.do("GET", fmt.Sprintf("/v1/audit/proofs/consistency?from=%d&to=%d", oldSize, newSize), "audit", nil)
	if r.status != http.StatusOK {
		t.Fatalf("consistency: %d %s", r.status, r.body)
	}
	r.json(t, &c)
	if err := audit.VerifyConsistency(c, oldCP.Root, newCP.Root); err != nil {
		t.Errorf("consistency proof: %v", err)
	}
	if c.OldCheckpoint != oldCP.Note || c.NewCheckpoint != newCP.Note {
		t.Errorf("consistency proof lacks the signed checkpoints")
	}

	tests := []struct {
		name     string
		path     string
		location string
	}{
		{"seq not a number", "/v1/audit/proofs/inclusion?seq=abc&tree_size=2", "query.seq"},
		{"missing tree size", "/v1/audit/proofs/inclusion?seq=1", "query.tree_size"},
		{"negative seq", "/v1/audit/proofs/inclusion?seq=-1&tree_size=2", "query.seq"},
		{"seq beyond tree", "/v1/audit/proofs/inclusion?seq=3&tree_size=3", ""},
		{"tree beyond log", fmt.Sprintf("/v1/audit/proofs/inclusion?seq=0&tree_size=%d", newSize+1), ""},
		{"from zero", "/v1/audit/proofs/consistency?from=0&to=2", ""},
		{"from after to", "/v1/audit/proofs/consistency?from=3&to=2", ""},
		{"missing to", "/v1/audit/proofs/consistency?from=1", "query.to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("GET", tt.path, "audit", nil)
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", r.status, r.body)
			}
			p := r.problem(t)
			if tt.location != "" && !hasLocation(p, tt.location) {
				t.Errorf("problem does not name %s: %s", tt.location, r.body)
			}
		})
	}
}

func TestAuditScopes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	for _, path := range []string{"/v1/audit/verify", "/v1/audit/checkpoints", "/v1/audit/checkpoints/latest", "/v1/audit/public-key", "/v1/audit/proofs/inclusion?seq=0&tree_size=1"} {
		r := e.do("GET", path, "read", nil)
		if r.status != http.StatusForbidden || !strings.Contains(r.problem(t).Detail, "audit:read") {
			t.Errorf("GET %s with consent:read: %d %s, want 403 naming audit:read", path, r.status, r.body)
		}
		if r := e.do("GET", path, "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("GET %s without a key: %d", path, r.status)
		}
	}
}
