package audit

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
)

// canonicalEntry fixes the field order and spelling of the bytes that are
// hashed: encoding/json writes struct fields in declaration order and map
// keys sorted, so the encoding is deterministic.
type canonicalEntry struct {
	V           int               `json:"v"`
	Seq         uint64            `json:"seq"`
	Time        string            `json:"time"`
	Actor       string            `json:"actor"`
	Action      string            `json:"action"`
	SubjectRef  string            `json:"subject_ref,omitempty"`
	Object      string            `json:"object,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	PayloadHash string            `json:"payload_hash,omitempty"`
	PrevHash    string            `json:"prev_hash"`
}

// Canonical returns the bytes of e that its leaf hash commits to: every
// field except Hash itself, the previous entry's hash included, so the
// entries also form a hash chain.
func Canonical(e lethe.AuditEntry) []byte {
	c := canonicalEntry{
		V:           1,
		Seq:         e.Seq,
		Time:        e.Time.UTC().Format(time.RFC3339Nano),
		Actor:       e.Actor,
		Action:      e.Action,
		Object:      e.Object,
		Details:     e.Details,
		PayloadHash: hex.EncodeToString(e.PayloadHash),
		PrevHash:    hex.EncodeToString(e.PrevHash[:]),
	}
	if !e.SubjectRef.IsZero() {
		c.SubjectRef = e.SubjectRef.String()
	}
	b, err := json.Marshal(c)
	if err != nil {
		// Only strings and a string map: Marshal cannot fail.
		panic(fmt.Sprintf("audit: encode entry: %v", err))
	}
	return b
}

// ValidRecord returns EINVALID when r holds text that is not valid UTF-8.
// The canonical encoding (JSON) would replace such bytes, so two different
// records could share a hash and a change between them would go unseen:
// Seal refuses them, and Verify flags stored entries that hold them.
func ValidRecord(r lethe.AuditRecord) error {
	for _, f := range []struct{ name, v string }{{"actor", r.Actor}, {"action", r.Action}, {"object", r.Object}} {
		if !utf8.ValidString(f.v) {
			return lethe.FieldErrorf(f.name, "audit record text must be valid UTF-8")
		}
	}
	for k, v := range r.Details {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return lethe.FieldErrorf("details", "audit record text must be valid UTF-8")
		}
	}
	return nil
}

// LeafHash returns the RFC 6962 leaf hash of e's canonical encoding.
func LeafHash(e lethe.AuditEntry) [32]byte { return [32]byte(tlog.RecordHash(Canonical(e))) }

// HashReaderFunc reads stored tree hashes at tlog storage indexes, in order.
type HashReaderFunc func(indexes []int64) ([][32]byte, error)

// Seal turns records into entries that continue the log at head: it assigns
// sequence numbers and the time (truncated to microseconds, in UTC, because
// that is what every store keeps), chains each entry to the previous one,
// computes leaf hashes, and computes the tree hashes that must be stored for
// the new leaves (tlog.StoredHashes). read must return hashes already stored
// (inside the caller's transaction); hashes produced by this call are
// served from memory. It returns EINVALID for a record that is not valid
// UTF-8 (see ValidRecord). The caller stores entries and hashes and moves
// the head in the same transaction, serialised against other appends.
func Seal(head lethe.AuditHead, records []lethe.AuditRecord, now time.Time, read HashReaderFunc) ([]lethe.AuditEntry, []lethe.AuditTreeHash, lethe.AuditHead, error) {
	now = now.UTC().Truncate(time.Microsecond)
	pending := map[int64][32]byte{}
	reader := hashReader{read: read, pending: pending}
	entries := make([]lethe.AuditEntry, 0, len(records))
	var hashes []lethe.AuditTreeHash
	for i, r := range records {
		if err := ValidRecord(r); err != nil {
			return nil, nil, head, fmt.Errorf("seal audit record %d: %w", i, err)
		}
		e := lethe.AuditEntry{AuditRecord: r, Seq: head.Size, Time: now, PrevHash: head.LastHash}
		e.Hash = LeafHash(e)
		n := int64(head.Size)
		stored, err := tlog.StoredHashesForRecordHash(n, tlog.Hash(e.Hash), reader)
		if err != nil {
			return nil, nil, head, fmt.Errorf("compute tree hashes for entry %d: %w", n, err)
		}
		base := tlog.StoredHashIndex(0, n)
		for i, h := range stored {
			idx := base + int64(i)
			pending[idx] = [32]byte(h)
			hashes = append(hashes, lethe.AuditTreeHash{Index: idx, Hash: [32]byte(h)})
		}
		entries = append(entries, e)
		head = lethe.AuditHead{Size: head.Size + 1, LastHash: e.Hash}
	}
	return entries, hashes, head, nil
}

type hashReader struct {
	read    HashReaderFunc
	pending map[int64][32]byte
}

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	var at []int
	for i, idx := range indexes {
		if h, ok := r.pending[idx]; ok {
			out[i] = h
			continue
		}
		missing = append(missing, idx)
		at = append(at, i)
	}
	if len(missing) > 0 {
		got, err := r.read(missing)
		if err != nil {
			return nil, err
		}
		if len(got) != len(missing) {
			return nil, fmt.Errorf("read tree hashes: asked %d, got %d", len(missing), len(got))
		}
		for j, h := range got {
			out[at[j]] = h
		}
	}
	return out, nil
}
