package lethe

import "time"

// AuditRecord is what a caller asks to be appended to the audit log. It
// holds no personal data: subjects appear only as SubjectRef, and encrypted
// payloads only as the hash of their ciphertext.
type AuditRecord struct {
	Actor      string            // who: api:<key name>, cli, library, system
	Action     string            // what: consent.recorded, subject.key_shredded, apikey.created, config.loaded, ...
	SubjectRef SubjectRef        // which subject, or zero
	Object     string            // what it was done to: an event id, a key id, a config hash
	Details    map[string]string // PII-free context
	// PayloadHash is the SHA-256 of the ciphertext of any encrypted payload
	// the action stored, so the log commits to it without holding it.
	PayloadHash []byte
}

// AuditEntry is a sealed record: its position (Seq, the 0-based leaf index
// of the Merkle tree), server time, the hash of the previous entry, and its
// own leaf hash (RFC 6962 leaf hash of its canonical encoding).
type AuditEntry struct {
	AuditRecord
	Seq      uint64
	Time     time.Time // UTC, microsecond precision
	PrevHash [32]byte  // leaf hash of entry Seq-1; zero for Seq 0
	Hash     [32]byte  // RFC 6962 leaf hash of the canonical encoding
}

// AuditHead is the state an append continues from: the tree size and the
// leaf hash of the last entry.
type AuditHead struct {
	Size     uint64
	LastHash [32]byte
}

// AuditCheckpoint is a signed statement of the tree size and root hash at a
// moment. Note is the signed note (golang.org/x/mod/sumdb/note format) that
// anyone with the public key can verify.
type AuditCheckpoint struct {
	Size      uint64
	Root      [32]byte
	CreatedAt time.Time
	Note      []byte
}

// AuditTreeHash is one stored hash of the Merkle tree, at the storage index
// defined by golang.org/x/mod/sumdb/tlog.StoredHashIndex.
type AuditTreeHash struct {
	Index int64
	Hash  [32]byte
}
