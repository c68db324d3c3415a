package dsr

import (
	"cmp"
	"context"
	"log/slog"
	"os"

	"github.com/lethe-privacy/lethe"
)

// Connectors gives the engine the connector of a datastore by name.
// package connector's Set implements it (opening each datastore on first
// use); tests may pass their own.
type Connectors interface {
	Connector(ctx context.Context, datastore string) (lethe.Connector, error)
}

// MaskFunc returns the mask for a strategy named in the data map (see
// package mask; the key is the caller's business).
type MaskFunc func(strategy string) (lethe.Mask, error)

// Auditor is the part of the audit log the engine writes to.
type Auditor interface {
	Append(ctx context.Context, records ...lethe.AuditRecord) ([]lethe.AuditEntry, error)
	Checkpoint(ctx context.Context) (lethe.AuditCheckpoint, error)
}

// Options configure an Engine.
type Options struct {
	// Config holds the data map and the purposes the export explains.
	Config *lethe.Config
	// Connectors opens the datastores.
	Connectors Connectors
	// Masks builds the masks of anonymised fields. Required for erasure
	// of collections with erase: anonymise.
	Masks MaskFunc
	// Consent returns the subject's consent history for the export (any
	// JSON-encodable value). Optional.
	Consent func(ctx context.Context, ids []lethe.Identity) (any, error)
	// Audit receives an entry per request (no personal data) and issues
	// the checkpoint an erasure certificate cites. Optional.
	Audit Auditor
	// SubjectRef computes the pseudonymous reference of an identity for
	// audit entries. Optional.
	SubjectRef func(lethe.Identity) (lethe.SubjectRef, error)
	// Shred destroys the subject's keys after a verified erasure and
	// returns how many keys it shredded. Optional.
	Shred func(ctx context.Context, ids []lethe.Identity) (int, error)
	// Tombstones, when set, receives a tombstone per identity of every
	// erasure that did not fail everywhere (the identities found on the
	// way included), before the keys are shredded; Rerun reads them.
	// Requires SubjectRef. Optional.
	Tombstones lethe.TombstoneStore
	// Clock defaults to the system clock.
	Clock lethe.Clock
	// TempDir holds export parts while a package is assembled. Defaults
	// to os.TempDir().
	TempDir string
	// Logger defaults to slog.Default(). Nothing personal is logged.
	Logger *slog.Logger
	// Actor names who runs requests in audit entries. Defaults to system.
	Actor string
}

// Engine runs access, portability and erasure requests over the data map.
// It is safe for concurrent use.
type Engine struct {
	opts       Options
	cfg        *lethe.Config
	model      *model
	connectors Connectors
	clock      lethe.Clock
	log        *slog.Logger
}

// New builds an engine. It returns EINVALID when the data map has a
// reference to an undeclared collection or an erasure order it cannot
// resolve (package config refuses those first).
func New(opts Options) (*Engine, error) {
	if opts.Config == nil || opts.Connectors == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "dsr: Config and Connectors are required")
	}
	if opts.Tombstones != nil && opts.SubjectRef == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "dsr: Tombstones needs SubjectRef")
	}
	m, err := newModel(opts.Config)
	if err != nil {
		return nil, err
	}
	for _, ds := range m.datastores {
		if _, err := m.eraseOrder(ds); err != nil {
			return nil, err
		}
	}
	opts.TempDir = cmp.Or(opts.TempDir, os.TempDir())
	opts.Actor = cmp.Or(opts.Actor, "system")
	e := &Engine{
		opts:       opts,
		cfg:        opts.Config,
		model:      m,
		connectors: opts.Connectors,
		clock:      opts.Clock,
		log:        cmp.Or(opts.Logger, slog.Default()),
	}
	if e.clock == nil {
		e.clock = lethe.SystemClock{}
	}
	return e, nil
}

// Failure is a datastore that could not be reached or refused a step.
// Message comes from the connector, which keeps DSNs and values out.
type Failure struct {
	Datastore string `json:"datastore"`
	Code      string `json:"code"`
	Message   string `json:"message"`
}

func failure(ds string, err error) Failure {
	return Failure{Datastore: ds, Code: string(lethe.ErrorCode(err)), Message: lethe.ErrorMessage(err)}
}

func (e *Engine) subjectRef(ids []lethe.Identity) lethe.SubjectRef {
	if e.opts.SubjectRef == nil {
		return lethe.SubjectRef{}
	}
	// The user_id identity names the subject in the consent ledger; fall
	// back to the first identity given.
	pick := -1
	for i, id := range ids {
		if id.Type == lethe.IdentityUserID {
			pick = i
			break
		}
	}
	if pick < 0 && len(ids) > 0 {
		pick = 0
	}
	if pick < 0 {
		return lethe.SubjectRef{}
	}
	ref, err := e.opts.SubjectRef(ids[pick])
	if err != nil {
		return lethe.SubjectRef{}
	}
	return ref
}

// checkIdentities validates the request's identities: at least one, each
// normalisable. Messages name the identity type, never the value.
func checkIdentities(ids []lethe.Identity) error {
	if len(ids) == 0 {
		return &lethe.Error{Code: lethe.EINVALID, Message: "a request needs at least one identity", Fields: []lethe.FieldError{{Path: "identities", Message: "give at least one identity, e.g. email or user_id"}}}
	}
	for _, id := range ids {
		if _, err := id.Normalise(); err != nil {
			return err
		}
	}
	return nil
}
