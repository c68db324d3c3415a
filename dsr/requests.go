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
	"time"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/deadline"
	"github.com/lethe-privacy/lethe/mail"
)

// Sealer encrypts and decrypts with a subject's key (package keyring).
// Decrypt returns lethe.ESHREDDED once the subject's key was shredded.
type Sealer interface {
	Encrypt(ctx context.Context, ref lethe.SubjectRef, plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ctx context.Context, ref lethe.SubjectRef, ciphertext, associatedData []byte) ([]byte, error)
}

// Notifier queues e-mails to the person (package mail's Outbox). The id
// is deterministic for each notice, so queueing one again after a crash is
// refused (ECONFLICT) rather than sent twice.
type Notifier interface {
	EnqueueID(ctx context.Context, id string, ref lethe.SubjectRef, to, template string, data map[string]any) error
}

// RequestsOptions configure Requests.
type RequestsOptions struct {
	Engine *Engine
	Store  lethe.RequestStore
	// Sealer seals the identities and values a request names with the
	// subject's key before they are stored, and opens them for the worker.
	// Required to run requests that were not run at once (Wait).
	Sealer Sealer
	// Notices, when set, queues the e-mails that tell the person their
	// request was received, extended, rejected or completed (sent to the
	// e-mail identity the request names, if any).
	Notices Notifier
	// ShredKey destroys the key of a subject reference (package keyring's
	// Shred). Purge uses it for the request's own key, which seals an
	// erasure's completion notice past the subject's shred, once the
	// notice had NoticeKeep to go out. Without it that key is kept.
	ShredKey func(ctx context.Context, ref lethe.SubjectRef) error
	// NoticeKeep is how long after an erasure completed its notice key is
	// kept (for the outbox to send the notice, retries included). Defaults
	// to 3 days.
	NoticeKeep time.Duration
	// Controller signs the notices (the controller's name and contact).
	Controller string
	// SupervisoryAuthority is named in rejection notices (Art. 12(4)).
	SupervisoryAuthority string
	// ExportDir holds export packages (mode 0600). Required for access and
	// portability requests.
	ExportDir string
	// MaxRunning bounds the requests this process runs at once; more wait
	// their turn in the store. Defaults to 4.
	MaxRunning int
	// Lease is how long a worker holds a request without renewing it: a
	// request whose worker died is resumed by another (or the restarted
	// process) once its lease runs out. Renewed every third of it.
	// Defaults to 30 seconds.
	Lease time.Duration
	// Poll is how often Run looks for requests ready to run. Defaults to
	// one second.
	Poll time.Duration
	// MaxAttempts is how many runs a request gets when a datastore fails
	// (partially_completed) or the run fails, before it is left with that
	// outcome. Defaults to 5.
	MaxAttempts int
	// Backoff is the delay before each automatic retry; the last delay
	// repeats. Defaults to 1m, 5m, 15m, 1h.
	Backoff []time.Duration
	// KeepRecords is how long finished request records are kept (the
	// accountability record of Art. 5(2) and 12; at least 24 months is
	// advised). Defaults to 24 months.
	KeepRecords lethe.Duration
	// ExportMaxAge is how long an export package stays available for
	// download. Defaults to 30 days.
	ExportMaxAge time.Duration
	// UnverifiedMaxAge is how long a request waits for its verification
	// before it is dropped. Defaults to 30 days.
	UnverifiedMaxAge time.Duration
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

// DefaultBackoff is the delay before each automatic retry of a request.
var DefaultBackoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}

// Requests keeps data subject requests in the store, the one source of
// truth of their lifecycle, and runs them: Create records a request
// (unverified when the person's identity is still to be verified),
// Verify, Reject, Cancel, Extend and Retry move it along, and Run, the
// worker, claims verified requests with a lease, runs them through the
// Engine and records their outcome. Every transition is a compare-and-set
// on the stored status with its audit entry in the same transaction, so
// two workers, or a worker and an operator, never both act on one request.
// A worker records a checkpoint before each step that cannot be repeated
// (see Progress), so a request whose process died is resumed by the next
// worker once the lease runs out, without shredding keys or sending
// notices twice. Requests is safe for concurrent use.
type Requests struct {
	opts  RequestsOptions
	clock lethe.Clock
	log   *slog.Logger
	sem   chan struct{}
	wake  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Progress checkpoints of a running request.
const (
	// ProgressResolved: the identities found on the way are sealed in the
	// request; a resumed erasure starts from all of them.
	ProgressResolved = "resolved"
	// ProgressShredding: the erasure is complete and verified, its
	// certificate stored; only the key shred and the notice remain.
	ProgressShredding = "shredding"
	// ProgressClosed: the erasure's own notice key is shredded too.
	ProgressClosed = "closed"
)

// NewRequests returns the request service.
func NewRequests(opts RequestsOptions) *Requests {
	ctx, cancel := context.WithCancel(context.Background())
	opts.Lease = cmp.Or(opts.Lease, 30*time.Second)
	opts.Poll = cmp.Or(opts.Poll, time.Second)
	opts.MaxAttempts = cmp.Or(opts.MaxAttempts, 5)
	opts.ExportMaxAge = cmp.Or(opts.ExportMaxAge, 30*24*time.Hour)
	opts.NoticeKeep = cmp.Or(opts.NoticeKeep, 3*24*time.Hour)
	opts.UnverifiedMaxAge = cmp.Or(opts.UnverifiedMaxAge, 30*24*time.Hour)
	if opts.KeepRecords.IsZero() {
		opts.KeepRecords = lethe.Duration{Months: 24}
	}
	if len(opts.Backoff) == 0 {
		opts.Backoff = DefaultBackoff
	}
	r := &Requests{
		opts: opts, clock: opts.Clock, log: cmp.Or(opts.Logger, slog.Default()),
		sem: make(chan struct{}, cmp.Or(opts.MaxRunning, 4)), wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
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
	// Actor is who asks: api:<key name>, cli, web.
	Actor string
	// Channel is how the request arrived. Defaults to library.
	Channel lethe.RequestChannel
	// Verified says the requester's identity is established (a trusted
	// key or an operator): the request is ready to run. Otherwise it is
	// created unverified and waits for Verify.
	Verified bool
	// Jurisdiction decides the deadline; empty means the default.
	Jurisdiction lethe.Jurisdiction
	// Values are the corrected values of a rectification (see
	// RectifyParams.Values). They are personal data: sealed with the
	// subject's key while the request waits, dropped when it finishes.
	Values map[string]string
	// Wait runs the request before Create returns (a verified one).
	Wait bool
}

// Create validates and records the request, queues the notice of receipt,
// and, when Wait, runs it at once; otherwise a worker (Run) picks it up
// once it is verified. EINVALID, with the field, for an unknown type or a
// missing or malformed identity.
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
		ID: "req_" + uuid.Must(uuid.NewV7()).String(), Type: p.Type, Status: lethe.RequestUnverified,
		SubjectRef: r.opts.Engine.subjectRef(p.Identities), Actor: cmp.Or(p.Actor, "library"), CreatedAt: now, UpdatedAt: now,
		Channel: cmp.Or(p.Channel, lethe.ChannelLibrary), Jurisdiction: j, DueAt: due.Due, ExtendedDueAt: due.ExtendedDue,
	}
	if p.Verified {
		req.Status, req.VerifiedAt = lethe.RequestVerified, &now
	}
	if p.Wait && p.Verified {
		// Stored leased to this caller, so that no worker elsewhere takes
		// it before runNow starts it.
		token, err := newToken()
		if err != nil {
			return req, err
		}
		until := now.Add(r.opts.Lease)
		req.Lease, req.LeaseUntil = token, &until
	}
	if r.opts.Sealer != nil && !req.SubjectRef.IsZero() {
		if req.Identities, err = r.seal(ctx, req.SubjectRef, req.ID, "identities", identityMap(p.Identities)); err != nil {
			return req, err
		}
		if len(p.Values) > 0 {
			if req.Values, err = r.seal(ctx, req.SubjectRef, req.ID, "values", p.Values); err != nil {
				return req, err
			}
		}
	} else if !p.Wait {
		return req, lethe.Errorf(lethe.EINVALID, "dsr: a request run later needs a Sealer to keep its identities")
	}
	if err := r.opts.Store.RequestCreate(ctx, req, lethe.AuditRecord{
		Actor: req.Actor, Action: "request.created", SubjectRef: req.SubjectRef, Object: req.ID,
		Details: map[string]string{"type": string(req.Type), "identity_types": identityTypes(p.Identities), "channel": string(req.Channel), "status": string(req.Status)},
	}); err != nil {
		return req, err
	}
	if p.Verified {
		// An unverified request's receipt waits for the verification: until
		// then anyone could have typed the address, and the person gets the
		// code only.
		r.notify(ctx, req, p.Identities, "received", mail.TemplateRequestReceived, map[string]any{"due_date": r.dueDate(req.DueAt)})
	}
	if p.Wait && p.Verified {
		return r.runNow(ctx, req, p.Identities, p.Values)
	}
	if p.Verified {
		r.nudge()
	}
	return req, nil
}

// seal encrypts v as JSON with the subject's key, bound to the request
// and the part it is.
func (r *Requests) seal(ctx context.Context, ref lethe.SubjectRef, id, part string, v any) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("seal request %s: %w", part, err)
	}
	box, err := r.opts.Sealer.Encrypt(ctx, ref, plain, []byte("request:"+id+partSuffix(part)))
	if err != nil {
		return nil, fmt.Errorf("seal request %s: %w", part, err)
	}
	return box, nil
}

// open decrypts what seal sealed.
func (r *Requests) open(ctx context.Context, ref lethe.SubjectRef, id, part string, box []byte, v any) error {
	plain, err := r.opts.Sealer.Decrypt(ctx, ref, box, []byte("request:"+id+partSuffix(part)))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("open request %s: %w", part, err)
	}
	return nil
}

// partSuffix keeps the identities' associated data as it was before
// values were sealed too, so requests stored earlier still open.
func partSuffix(part string) string {
	if part == "identities" {
		return ""
	}
	return ":" + part
}

func (r *Requests) dueDate(t time.Time) string {
	return r.opts.Calendar.DateOf(t).String()
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
		if err := r.opts.Store.RequestClearExport(ctx, req.ID, r.clock.Now().UTC()); err != nil {
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

// Engine returns the engine the requests run on.
func (r *Requests) Engine() *Engine { return r.opts.Engine }

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
	case req.Open():
		return nil, req, lethe.Errorf(lethe.ECONFLICT, "the export is not ready: the request is %s", req.Status)
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
