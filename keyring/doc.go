// Package keyring holds Lethe's secrets and the cryptography built on them:
// pseudonymous subject references, and per-subject envelope encryption with
// crypto-shredding. Lethe seals consent evidence with it; applications can
// use it for their own personal fields (see the example).
//
// # Subject references
//
// A subject reference is HMAC-SHA256(RefKey, type + ":" + normalised
// identity). Lethe's store, audit log and metrics hold references, never
// identities. Without RefKey a reference cannot be linked to a person; with
// it, a reference can only be recomputed from an identity already known.
//
// # Crypto-shredding
//
// Each subject gets a random 256-bit data key on first use, stored wrapped
// (AES-256-GCM) by MasterKey, bound to the subject reference and the key's
// generation. Data is sealed with AES-256-GCM under the data key, binding
// the subject reference, the key generation and the caller's associated
// data. Shredding a subject (Keyring.Shred) overwrites its wrapped keys in
// the store: from then on, every copy of that subject's ciphertext, wherever
// it went, is noise, and Decrypt answers ESHREDDED. Hashes over the
// ciphertext (the audit log's PayloadHash, consent events) stay verifiable,
// because they commit to the ciphertext, not to the plaintext. Data sealed
// for the subject after a shred gets a new key (generation 2, 3, ...); the
// shredded generations stay shredded.
//
// # Backups, and reshredding after a restore
//
// Lethe's own backups (copies of lethe.db, PostgreSQL dumps) hold the
// wrapped keys as they were when the backup was taken. A subject shredded
// after that backup can be decrypted from it, by someone who also holds
// MasterKey, until the backup rotates out of retention: that is the window
// to state in your records of processing, and a reason to keep the secrets
// apart from the store's backups. After restoring a store from such a
// backup, re-apply the shreds made since, before serving traffic: every
// shred is recorded, PII-free (subject reference and time), in the store
// (lethe.SubjectKeyStore.SubjectShredList) and by the server in the data
// directory's shred journal. Export them with WriteShreds (`lethe subject
// shreds`), keep the file where the store's backups are not, and after the
// restore run Keyring.Reshred on them (`lethe subject reshred FILE`). Keys
// created after a shred (new data for the same subject) are kept.
//
// # Secrets: losing them is losing data
//
// Secrets holds three keys. Back them up, apart from the store's backups,
// the day they are created:
//
//   - RefKey: without it, no identity can be matched to its subject
//     reference again. Consent checks, access and erasure requests find
//     nothing for anyone recorded before.
//   - MasterKey: without it, nothing sealed with a subject key (consent
//     evidence: IP, user agent, the notice shown, the subject identifier)
//     can ever be decrypted again. There is no recovery.
//   - SigningKey: signs audit checkpoints. Losing it only means signing
//     with a new key; keep the old public key to verify older checkpoints.
//
// Where they come from (LoadSecrets):
//
//   - LETHE_REF_KEY, LETHE_MASTER_KEY, LETHE_SIGNING_KEY: all three, each
//     32 bytes in standard base64 (the signing key as its ed25519 seed).
//     For several nodes sharing one store, which must all hold the same
//     secrets, e.g. from a secret manager.
//   - LETHE_SECRETS_DIR: a directory holding ref.key, master.key and
//     signing.key (the files below; a mounted secret volume). It is never
//     created: a node that lost its mount fails instead of inventing keys.
//   - Otherwise <data dir>/secrets/{ref,master,signing}.key, generated on
//     first start (LoadOrCreateSecrets): base64 text, files mode 0600 in a
//     0700 directory, created all at once or not at all, never
//     overwritten. A file readable by group or others is refused.
//
// Set either the three variables or LETHE_SECRETS_DIR, not both.
package keyring
