// Package ropa builds the controller's records of processing activities
// (GDPR Art. 30(1)) from the config: the controller, its DPO and
// representative (a), and for each purpose its description (b), the
// categories of data subjects and of personal data (c), the recipients
// (d), the transfers to third countries with their safeguards (e), the
// time limits for erasure (f) and the security measures (g).
//
// The record is derived, never edited by hand: what lethe.yaml declares
// is what the record says, and the data map adds what it knows (the
// categories stored in the collections that list the purpose, and their
// retention rules and holds). Build also validates the record: an
// element (a)-(e) that is missing is an error, a missing (f) or (g) a
// warning, as Art. 30 asks for those "where possible".
//
// `lethe ropa` prints it as JSON, CSV (one row per purpose, for
// spreadsheets) or self-contained HTML (for people and printing), and
// `lethe serve` answers GET /v1/ropa.
package ropa
