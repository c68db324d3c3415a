// Package lethe holds Lethe's domain: the types a privacy engineer reasons
// with (subjects and their pseudonymous references, purposes and lawful
// bases, consent events and decisions, audit entries and checkpoints, API
// keys), the interfaces that adapters implement (Store and its parts), and
// the one coded error type that the HTTP API and the CLI map to status codes
// and exit codes.
//
// The root package imports no database driver and no transport. Adapters
// live in packages named after what they adapt (store/sqlite,
// store/postgres); engines (consent, audit, keyring) are pure logic over the
// interfaces declared here; wiring happens in cmd/lethe and in app.Open for
// applications that embed Lethe as a library.
package lethe
