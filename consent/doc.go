// Package consent is the consent ledger engine: it records grants and
// withdrawals as append-only events (one atomic call per consent form),
// answers "may I process this subject's data for this purpose now?" on an
// application's hot path, returns a subject's full history with the
// evidence decrypted, and issues consent receipts.
//
// The ledger works on pseudonymous subject references only: the subject id
// is turned into a SubjectRef by the Sealer (package keyring), and the
// evidence that proves a consent (IP, user agent, notice text, the subject
// id itself) is sealed with the subject's own data key. Shredding that key
// erases the evidence everywhere while the pseudonymous timeline, and the
// audit log that commits to the ciphertext, stay verifiable.
//
// Checks are served from an in-memory cache of consent state when the store
// reports changes made by other processes (lethe.ChangeFeed); writes through
// this ledger drop the affected subject at once.
package consent
