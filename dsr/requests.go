package dsr

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/deadline"
)

// Sealer encrypts with a subject's key (package keyring).
type Sealer interface {
	Encrypt(ctx context.Context, ref lethe.SubjectRef, plaintext, associatedData []byte) ([]byte, error)
}

// RequestsOptions configure Requests.
type RequestsOptions struct {
	Engine *Engine
	Store  lethe.RequestStore
	// Sealer seals the identities a request names with the subject's key
	// before they are stored. Optional: without it they are not stored.
	Sealer Sealer
	// ExportDir holds export packages (mode 0600). Required for access and
	// portability requests.
	ExportDir string
	// MaxRunning bounds the requests this process runs at once; more wait
	// their turn. Defaults to 4.
	MaxRunning int
	// Calendar computes the legal deadline of each request: the
	// controller's time zone and public holidays. Defaults to UTC without
	// holidays (weekends still move a GDPR deadline).
	Calendar deadline.Calendar
	// Jurisdiction is the default for requests that name none. Defaults
	// to gdpr.
	Jurisdiction lethe.Jurisdiction
	Clock        lethe.Clock
	Logger       *slog.Logger
}

// Requests records data subject requests in the store and runs them in
// the background: Create answers at once with the request running, Get
// shows its steps as they finish, OpenExport serves the package. A
// request survives in the store with its outcome; a process that stops
// while requests run leaves them running (resuming them is the request
// lifecycle's job). Requests is safe for concurrent use.
type Requests struct {
	opts  RequestsOptions
	clock lethe.Clock
	log   *slog.Logger
	sem   chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewRequests returns the request service.
func NewRequests(opts RequestsOptions) *Requests {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Requests{
		opts: opts, clock: opts.Clock, log: cmp.Or(opts.Logger, slog.Default()),
		sem: make(chan struct{}, cmp.Or(opts.MaxRunning, 4)), ctx: ctx, cancel: cancel,
	}
	if r.clock == nil {
		r.clock = lethe.SystemClock{}
	}
	return r
}

// CreateParams is a new request.
type CreateParams struct {
	Type       lethe.RequestType
	Identities []lethe.Identity
	// Actor is who asks: api:<key name>, cli.
	Actor string
	// Jurisdiction decides the deadline; empty means the default.
	Jurisdiction lethe.Jurisdiction
	// Values are the corrected values of a rectification (see
	// RectifyParams.Values). They are personal data: held in memory for
	// the run, never stored.
	Values map[string]string
	// Wait runs the request before Create returns.
	Wait bool
}

// Create validates and records the request, then runs it (in the
// background unless Wait). EINVALID, with the field, for an unknown type
// or a missing or malformed identity.
func (r *Requests) Create(ctx context.Context, p CreateParams) (lethe.Request, error) {
	if !slices.Contains(lethe.RequestTypes, p.Type) {
		return lethe.Request{}, &lethe.Error{Code: lethe.EINVALID, Message: "unknown request type",
			Fields: []lethe.FieldError{{Path: "type", Message: fmt.Sprintf("%q is not one of access, portability, erasure, rectification", p.Type)}}}
	}
	if err := checkIdentities(p.Identities); err != nil {
		return lethe.Request{}, err
	}
	if p.Type == lethe.RequestRectification {
		if _, err := r.opts.Engine.rectifyTargets(p.Values); err != nil {
			return lethe.Request{}, err
		}
	}
	now := r.clock.Now().UTC()
	j := cmp.Or(p.Jurisdiction, r.opts.Jurisdiction, lethe.GDPR)
	due, err := r.opts.Calendar.Due(j, now)
	if err != nil {
		return lethe.Request{}, err
	}
	req := lethe.Request{
		ID: "req_" + uuid.Must(uuid.NewV7()).String(), Type: p.Type, Status: lethe.RequestRunning,
		SubjectRef: r.opts.Engine.subjectRef(p.Identities), Actor: cmp.Or(p.Actor, "library"), CreatedAt: now, UpdatedAt: now,
		Jurisdiction: j, DueAt: due.Due, ExtendedDueAt: due.ExtendedDue,
	}
	if r.opts.Sealer != nil && req.SubjectRef != (lethe.SubjectRef{}) {
		plain, err := json.Marshal(identityMap(p.Identities))
		if err != nil {
			return req, fmt.Errorf("seal identities: %w", err)
		}
		if req.Identities, err = r.opts.Sealer.Encrypt(ctx, req.SubjectRef, plain, []byte("request:"+req.ID)); err != nil {
			return req, fmt.Errorf("seal identities: %w", err)
		}
	}
	if err := r.opts.Store.RequestCreate(ctx, req, lethe.AuditRecord{
		Actor: req.Actor, Action: "request.created", SubjectRef: req.SubjectRef, Object: req.ID,
		Details: map[string]string{"type": string(req.Type), "identity_types": identityTypes(p.Identities)},
	}); err != nil {
		return req, err
	}
	if p.Wait {
		return r.run(ctx, req, p.Identities, p.Values), nil
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.run(r.ctx, req, p.Identities, p.Values)
	}()
	return req, nil
}

// run executes the request and stores its outcome.
func (r *Requests) run(ctx context.Context, req lethe.Request, ids []lethe.Identity, values map[string]string) lethe.Request {
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-ctx.Done():
		return req // left running: the process is stopping
	}
	var (
		result any
		status lethe.RequestStatus
		err    error
	)
	switch req.Type {
	case lethe.RequestRectification:
		var rr *RectifyResult
		rr, err = r.opts.Engine.Rectify(ctx, RectifyParams{RequestID: req.ID, Identities: ids, Values: values})
		if err == nil {
			result, status = rr, lethe.RequestStatus(rr.Status)
		}
	case lethe.RequestErasure:
		var cert *Certificate
		cert, err = r.opts.Engine.Erase(ctx, EraseParams{RequestID: req.ID, Identities: ids})
		if err == nil {
			result, status = cert, lethe.RequestStatus(cert.Status)
			if _, ferr := r.ForgetExports(context.WithoutCancel(ctx), ids, req.Actor); ferr != nil {
				r.log.Error("delete the erased subject's export packages", "request", req.ID, "err", ferr)
			}
		}
	default:
		var res AccessResult
		res, err = r.export(ctx, req, ids)
		if err == nil {
			result, status = res, lethe.RequestCompleted
			if len(res.Failed) > 0 {
				status = lethe.RequestPartiallyCompleted
			}
			req.Export = filepath.Base(r.exportPath(req.ID))
		}
	}
	now := r.clock.Now().UTC()
	req.UpdatedAt, req.CompletedAt = now, &now
	if err != nil {
		if ctx.Err() != nil {
			return req // stopped: leave it running rather than call it failed
		}
		req.Status, req.Error = lethe.RequestFailed, lethe.ErrorMessage(err)
		r.log.Warn("data subject request failed", "request", req.ID, "type", req.Type, "code", lethe.ErrorCode(err))
	} else {
		req.Status = status
		req.Result, _ = json.Marshal(result)
	}
	if err := r.opts.Store.RequestUpdate(context.WithoutCancel(ctx), req); err != nil {
		r.log.Error("store the outcome of a data subject request", "request", req.ID, "err", err)
	}
	return req
}

func (r *Requests) exportPath(id string) string {
	return filepath.Join(r.opts.ExportDir, id+".zip")
}

// export writes the package to a temporary file and renames it into place
// when complete, so that a half-written package is never served.
func (r *Requests) export(ctx context.Context, req lethe.Request, ids []lethe.Identity) (AccessResult, error) {
	if r.opts.ExportDir == "" {
		return AccessResult{}, lethe.Errorf(lethe.EUNAVAILABLE, "no export directory is configured")
	}
	if err := os.MkdirAll(r.opts.ExportDir, 0o700); err != nil {
		return AccessResult{}, fmt.Errorf("create export directory: %w", err)
	}
	f, err := os.CreateTemp(r.opts.ExportDir, ".export-*")
	if err != nil {
		return AccessResult{}, fmt.Errorf("create export: %w", err)
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	res, err := r.opts.Engine.Access(ctx, AccessParams{RequestID: req.ID, Identities: ids, Portability: req.Type == lethe.RequestPortability}, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	if err := os.Rename(f.Name(), r.exportPath(req.ID)); err != nil {
		return res, fmt.Errorf("store export: %w", err)
	}
	return res, nil
}

// ForgetExports deletes the export packages of earlier requests made for
// any of the identities (they are copies of the data an erasure removes)
// and clears their export names, appending one audit entry per subject
// reference with the count. It returns how many packages it deleted.
func (r *Requests) ForgetExports(ctx context.Context, ids []lethe.Identity, actor string) (int, error) {
	total := 0
	seen := map[lethe.SubjectRef]bool{}
	for _, id := range ids {
		if r.opts.Engine.opts.SubjectRef == nil {
			break
		}
		ref, err := r.opts.Engine.opts.SubjectRef(id)
		if err != nil || seen[ref] {
			continue
		}
		seen[ref] = true
		n, err := r.forgetExports(ctx, ref, actor)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (r *Requests) forgetExports(ctx context.Context, ref lethe.SubjectRef, actor string) (int, error) {
	list, err := r.opts.Store.RequestListBySubject(ctx, ref)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, req := range list {
		if req.Export == "" {
			continue
		}
		err := os.Remove(filepath.Join(r.opts.ExportDir, filepath.Base(req.Export)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("delete export: %w", err)
		}
		req.Export, req.UpdatedAt = "", r.clock.Now().UTC()
		if err := r.opts.Store.RequestUpdate(ctx, req); err != nil {
			return n, err
		}
		n++
	}
	if n > 0 && r.opts.Engine.opts.Audit != nil {
		if _, err := r.opts.Engine.opts.Audit.Append(ctx, lethe.AuditRecord{
			Actor: cmp.Or(actor, "system"), Action: "request.exports_deleted", SubjectRef: ref, Details: map[string]string{"packages": fmt.Sprint(n)},
		}); err != nil {
			return n, fmt.Errorf("audit export deletion: %w", err)
		}
	}
	return n, nil
}

// Get returns a request. ENOTFOUND for an unknown id.
func (r *Requests) Get(ctx context.Context, id string) (lethe.Request, error) {
	return r.opts.Store.RequestGet(ctx, id)
}

// OpenExport opens a request's export package. ENOTFOUND for an unknown
// request or one without a package (erasure); ECONFLICT while it runs.
func (r *Requests) OpenExport(ctx context.Context, id string) (*os.File, lethe.Request, error) {
	req, err := r.opts.Store.RequestGet(ctx, id)
	if err != nil {
		return nil, req, err
	}
	switch {
	case req.Type == lethe.RequestErasure || req.Type == lethe.RequestRectification:
		return nil, req, lethe.Errorf(lethe.ENOTFOUND, "a %s request has no export; its outcome is in the request", req.Type)
	case req.Status == lethe.RequestRunning:
		return nil, req, lethe.Errorf(lethe.ECONFLICT, "the export is not ready: the request is still running")
	case req.Export == "":
		return nil, req, lethe.Errorf(lethe.ENOTFOUND, "the request has no export package (status %s)", req.Status)
	}
	f, err := os.Open(filepath.Join(r.opts.ExportDir, filepath.Base(req.Export)))
	if err != nil {
		return nil, req, lethe.Errorf(lethe.ENOTFOUND, "the export package is no longer on this node")
	}
	return f, req, nil
}

// Close stops taking work and waits for running requests until ctx ends,
// then cancels them (they stay running in the store).
func (r *Requests) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel()
		<-done
	}
	r.cancel()
	return nil
}

func identityMap(ids []lethe.Identity) map[string][]string {
	out := map[string][]string{}
	for _, id := range ids {
		out[string(id.Type)] = append(out[string(id.Type)], id.Value)
	}
	return out
}

func identityTypes(ids []lethe.Identity) string {
	var types []string
	for _, id := range ids {
		if !slices.Contains(types, string(id.Type)) {
			types = append(types, string(id.Type))
		}
	}
	slices.Sort(types)
	b, _ := json.Marshal(types)
	return string(b)
}
