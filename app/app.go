package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/apikey"
	"github.com/lethe-privacy/lethe/audit"
	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/consent"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/events"
	"github.com/lethe-privacy/lethe/intake"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/mail"
	"github.com/lethe-privacy/lethe/store/postgres"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// Options says where Lethe's config, state and secrets are.
type Options struct {
	// ConfigPath is the lethe.yaml to load. Ignored when Config is set. When
	// both are empty, Lethe runs without purposes: enough for migrations,
	// API keys and the audit log, but consent calls will find no purpose.
	ConfigPath string
	// Config is an already loaded configuration (library use).
	Config *lethe.Config
	// DataDir holds the embedded database (lethe.db) and, unless secrets come
	// from the environment, the secrets. Defaults to ./lethe-data.
	DataDir string
	// DatabaseURL selects PostgreSQL instead of the embedded database.
	DatabaseURL string
	// Synchronous is the embedded database's durability: "full" (the
	// default: every commit is fsynced and survives a power loss) or
	// "normal" (commits survive a crash of the process; a power loss may
	// lose the last ones). See sqlite.Options. Ignored with DatabaseURL,
	// whose server decides (synchronous_commit).
	Synchronous string
	// Actor is recorded in the audit log for what Open itself appends
	// (config.loaded). Defaults to "library".
	Actor string
	// AuditConfigLoad appends a config.loaded entry with the config's hash.
	// The server sets it.
	AuditConfigLoad bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Clock defaults to the system clock.
	Clock lethe.Clock
	// Connectors are the application's own connectors for datastores
	// declared with driver: custom, by datastore name.
	Connectors map[string]lethe.Connector
}

// App is a wired Lethe instance. Close it when done.
type App struct {
	Config     *lethe.Config
	ConfigHash string // SHA-256 of the config file, hex; empty without a file
	Store      lethe.Store
	Secrets    *keyring.Secrets
	Keyring    *keyring.Keyring
	Audit      *audit.Log
	Consent    *consent.Ledger
	APIKeys    *apikey.Service
	// SecretsCreated is true when this Open generated new secrets.
	SecretsCreated bool
	// Datastores opens the data map's datastores on first use.
	Datastores *connector.Set
	// DSR runs access, portability and erasure over the data map.
	DSR *dsr.Engine
	// Requests records requests and runs them in the background.
	Requests *dsr.Requests
	// Outbox queues e-mail and sends it through the configured SMTP
	// server; `lethe serve` runs it.
	Outbox *mail.Outbox
	// Intake sends and checks the verification codes of requests made
	// without an API key, and rate-limits them; `lethe serve` runs its
	// purge.
	Intake *intake.Service
	// TrustedProxies are requests.trusted_proxies: the only peers whose
	// X-Forwarded-For names the client of a public request.
	TrustedProxies []netip.Prefix
	// PublicIntake says whether lethe serve accepts requests without an
	// API key (requests.public_intake).
	PublicIntake bool
	// Events records request outcomes and Art. 19 notices and delivers
	// them, with consent changes, to the subscribers lethe.yaml declares;
	// `lethe serve` runs its dispatcher.
	Events *events.Bus

	dataDir string
	maskKey []byte
	clock   lethe.Clock
	log     *slog.Logger
}

// Open loads the config, opens (and migrates) the store, loads or creates
// the secrets and builds the services. Errors are *lethe.Error where the
// cause is the caller's to fix: EINVALID for a bad config, EUNAVAILABLE for
// an unreachable database or unreadable secrets.
func Open(ctx context.Context, opts Options) (_ *App, err error) {
	log := cmp.Or(opts.Logger, slog.Default())
	clock := cmp.Or[lethe.Clock](opts.Clock, lethe.SystemClock{})
	a := &App{Config: opts.Config, clock: clock, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.Config == nil && opts.ConfigPath != "" {
		cfg, info, err := config.Load(opts.ConfigPath)
		if err != nil {
			return nil, err
		}
		a.Config, a.ConfigHash = cfg, info.Hash
	}
	if a.Config == nil {
		a.Config = &lethe.Config{Jurisdiction: lethe.GDPR}
	}

	dataDir := cmp.Or(opts.DataDir, "lethe-data")
	a.dataDir = dataDir
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot create the data directory " + dataDir, Err: err}
	}
	// Assign the store only on success: a nil *postgres.Store in the
	// interface would not be nil, and Close would call through it.
	if opts.DatabaseURL != "" {
		s, err := postgres.Open(ctx, postgres.Options{URL: opts.DatabaseURL, Clock: clock})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		a.Store = s
	} else {
		s, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dataDir, "lethe.db"), Synchronous: opts.Synchronous, Clock: clock})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		a.Store = s
	}

	a.Secrets, a.SecretsCreated, err = keyring.LoadSecrets(dataDir)
	if err != nil {
		return nil, fmt.Errorf("load secrets: %w", err)
	}
	if a.SecretsCreated {
		log.Warn("created new secrets; back them up: without them subjects cannot be matched and evidence cannot be decrypted", "dir", dataDir)
	}
	a.Keyring = keyring.New(a.Store, a.Secrets, keyring.Options{Clock: clock, CacheKeys: true, GuessNewSubjects: true})
	a.Audit = audit.New(a.Store, a.Secrets.Signer(), audit.Options{Clock: clock})
	if err := a.openOutbox(); err != nil {
		return nil, err
	}
	a.Consent, err = consent.New(ctx, consent.Options{Config: a.Config, Store: a.Store, Sealer: a.Keyring, Mail: a.Outbox, Clock: clock, Logger: log})
	if err != nil {
		return nil, err
	}
	a.APIKeys, err = apikey.New(ctx, a.Store, apikey.Options{Clock: clock})
	if err != nil {
		return nil, err
	}
	if err := a.openDSR(opts); err != nil {
		return nil, err
	}
	if err := a.openIntake(); err != nil {
		return nil, err
	}
	if err := a.openEvents(ctx); err != nil {
		return nil, err
	}
	if opts.AuditConfigLoad && a.ConfigHash != "" {
		if err := a.auditConfig(ctx, cmp.Or(opts.Actor, "library")); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// openOutbox builds the e-mail outbox, before the services that queue
// mail (the consent ledger's restriction notices, requests).
func (a *App) openOutbox() error {
	var smtp *mail.SMTPConfig
	if c := a.Config.SMTP; c != nil {
		smtp = &mail.SMTPConfig{Host: c.Host, Port: c.Port, Username: c.Username, Password: c.Password, From: c.From,
			TLS: mail.TLSMode(c.TLS), Timeout: c.Timeout.Clock}
	}
	var err error
	a.Outbox, err = mail.New(mail.Options{Store: a.Store, Sealer: a.Keyring, SMTP: smtp, Clock: a.clock, Logger: a.log})
	return err
}

// auditConfig records which config (by hash) the server started with.
func (a *App) auditConfig(ctx context.Context, actor string) error {
	_, err := a.Audit.Append(ctx, lethe.AuditRecord{Actor: actor, Action: "config.loaded", Object: "sha256:" + a.ConfigHash,
		Details: map[string]string{"purposes": fmt.Sprint(len(a.Config.Purposes))}})
	if err != nil {
		return fmt.Errorf("audit config load: %w", err)
	}
	return nil
}

// Ready reports whether the store answers.
func (a *App) Ready(ctx context.Context) error { return a.Store.Ping(ctx) }

// Close releases everything Open acquired. It is safe to call on a
// partially opened App.
func (a *App) Close() error {
	var errs []error
	if a.Requests != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, a.Requests.Close(ctx))
		cancel()
	}
	if a.Events != nil {
		errs = append(errs, a.Events.Close())
	}
	if a.Datastores != nil {
		errs = append(errs, a.Datastores.Close())
	}
	if a.APIKeys != nil {
		errs = append(errs, a.APIKeys.Close())
	}
	if a.Consent != nil {
		errs = append(errs, a.Consent.Close())
	}
	if a.Keyring != nil {
		errs = append(errs, a.Keyring.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	return errors.Join(errs...)
}
