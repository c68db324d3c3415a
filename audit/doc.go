// Package audit is Lethe's tamper-evident audit log: who did what to which
// subject reference, when and why, in a form that proves afterwards that
// nothing was changed, removed, inserted or reordered.
//
// Every entry is sealed (Seal) inside the store's append transaction: it
// gets the next sequence number, the store's time, the hash of the entry
// before it (a hash chain), and its own RFC 6962 leaf hash over a canonical
// encoding (Canonical). The entries are the leaves of an RFC 6962 Merkle
// tree (golang.org/x/mod/sumdb/tlog, the Certificate Transparency and Go
// checksum database design), whose hashes are stored next to the entries, so
// that inclusion and consistency proofs cost O(log n) reads.
//
// A Log signs checkpoints (Checkpoint): a signed note
// (golang.org/x/mod/sumdb/note, ed25519) stating the tree's size and root at
// a moment. Publish the public key (Signer.VerifierKey) and, ideally, the
// checkpoints themselves somewhere the database's administrators cannot
// rewrite: a log rewritten consistently after a checkpoint was signed (every
// hash recomputed) is caught only by comparing it with that checkpoint.
//
// Verify recomputes everything from the entries, streaming them, and names
// the first entry that does not match. Tampering is a result (VerifyResult),
// not an error. InclusionProof and ConsistencyProof serve proofs (hashes in
// hex in JSON) that a client checks with VerifyInclusion and
// VerifyConsistency against roots from checkpoints it verified with
// OpenCheckpoint.
//
// The log holds no personal data: subjects appear only as subject
// references, and encrypted payloads only as the hash of their ciphertext.
// Crypto-shredding a subject therefore leaves the log verifiable.
package audit
