// Package app wires Lethe together: it loads the config, opens the store
// (embedded SQLite in a data directory, or PostgreSQL), loads or creates
// the secrets, and builds the keyring, the audit log, the consent ledger and
// the API key service on top. The CLI and the server use it, and so can an
// application that embeds Lethe as a library to check consent in-process,
// without HTTP:
//
//	l, err := app.Open(ctx, app.Options{ConfigPath: "lethe.yaml", DataDir: "lethe-data"})
//	if err != nil { ... }
//	defer l.Close()
//	d, err := l.Consent.Check(ctx, "u-1", "marketing_email")
//	if d.Allowed { ... }
package app
