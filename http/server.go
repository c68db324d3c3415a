package http

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/apikey"
	"github.com/lethe-privacy/lethe/audit"
	"github.com/lethe-privacy/lethe/consent"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/intake"
	"github.com/lethe-privacy/lethe/retention"
)

// MaxBodyBytes bounds a request body. Larger bodies are answered 413.
const MaxBodyBytes = 1 << 20

// Timeouts of the http.Server that Serve runs. A slow client cannot hold a
// connection (or a goroutine) longer than these.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	// ShutdownTimeout bounds the graceful shutdown after the context of
	// Serve is cancelled; connections still busy then are closed.
	ShutdownTimeout = 10 * time.Second
)

// Options configures a Server. Every field is optional so that a Server
// built from the zero Options can still describe its API (OpenAPI); an
// endpoint whose dependency is missing answers 503.
type Options struct {
	// Ledger serves the consent endpoints.
	Ledger *consent.Ledger
	// Audit serves verification, checkpoint signing and proofs.
	Audit *audit.Log
	// Store lists the audit log's signed checkpoints, and is what /readyz
	// pings when Ready is nil.
	Store lethe.Store
	// APIKeys authenticates bearer tokens. Without it every authenticated
	// endpoint answers 503.
	APIKeys *apikey.Service
	// Ready reports whether the server can serve; /readyz answers 503 while
	// it fails. Defaults to Store.Ping, or to always ready without a Store.
	Ready func(context.Context) error
	// Logger receives one line per request (route pattern, status,
	// duration, request id, API key id: never a path, query or body) and the
	// causes of internal errors. Defaults to slog.Default().
	Logger *slog.Logger
	// Registry receives the server's metrics and is served on /metrics.
	// Defaults to a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// EvidenceFromRequest fills a consent's evidence.ip (from the
	// connection's remote address) and evidence.user_agent (from the
	// User-Agent header) when the body leaves them empty. Defaults to false:
	// behind a proxy or a backend, the connection is not the subject's, and
	// evidence that names the wrong party is worse than none. Enable it only
	// when subjects' browsers call the API directly.
	EvidenceFromRequest bool
	// MetricsToken, when set, is the bearer token /metrics requires.
	// Defaults to none: /metrics is open (it holds no personal data).
	MetricsToken string
	// Version is reported in the OpenAPI document, /healthz and the
	// lethe_build_info metric. Defaults to "dev".
	Version string
	// Requests serves the data subject request endpoints.
	Requests *dsr.Requests
	// Config serves the records of processing (GET /v1/ropa), built from
	// it on each call. Without it the endpoint answers 503.
	Config *lethe.Config
	// Intake serves requests made without an API key: POST /v1/requests
	// without an Authorization header, /verify and /resend. Without it
	// those answer 401 or 503.
	Intake *intake.Service
	// Retention is this node's retention scheduler, whose state and
	// schedule GET /v1/retention shows (nil: retention is off).
	Retention *retention.Scheduler
	// SubjectRef computes an identity's subject reference
	// (keyring.Keyring.SubjectRef): a resend checks with it that the
	// address given is the request's. Without it /resend answers 503.
	SubjectRef func(lethe.Identity) (lethe.SubjectRef, error)
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client of a public call, for its rate limit. Defaults to none:
	// the connection's address is the client's.
	TrustedProxies []netip.Prefix
	// GPCLastUpdate is the date /.well-known/gpc.json reports as lastUpdate.
	// Defaults to the day the server was created.
	GPCLastUpdate time.Time
}

// Server is Lethe's HTTP API. Its handler is safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	ledger   *consent.Ledger
	audit    *audit.Log
	store    lethe.Store
	keys     *apikey.Service
	requests *dsr.Requests
	intake   *intake.Service
	reg      *prometheus.Registry
	metrics  *metrics
	mux      *http.ServeMux
	api      huma.API
	spec     []byte // OpenAPI 3.1 JSON
	specYAML []byte
	// gpcPurposes lists the purposes a Sec-GPC signal opts out of.
	gpcPurposes []string
}

// NewServer builds the API: routes, OpenAPI document and metrics. It
// returns an error only when the metrics cannot be registered (a registry
// already holding other collectors of the same names).
func NewServer(opts Options) (*Server, error) {
	s := &Server{
		opts:     opts,
		log:      cmp.Or(opts.Logger, slog.Default()),
		ledger:   opts.Ledger,
		audit:    opts.Audit,
		store:    opts.Store,
		keys:     opts.APIKeys,
		requests: opts.Requests,
		intake:   opts.Intake,
		reg:      opts.Registry,
		mux:      http.NewServeMux(),
	}
	s.opts.Version = cmp.Or(opts.Version, "dev")
	if s.opts.GPCLastUpdate.IsZero() {
		s.opts.GPCLastUpdate = time.Now().UTC()
	}
	if s.reg == nil {
		s.reg = newRegistry()
	}
	if s.opts.Ready == nil && s.store != nil {
		s.opts.Ready = s.store.Ping
	}
	var requests lethe.RequestStore
	if s.opts.Store != nil {
		requests = s.opts.Store
	}
	m, err := newMetrics(s.reg, s.opts.Version, requests)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	s.metrics = m
	if s.ledger != nil {
		for _, p := range s.ledger.Purposes() {
			if p.GPC {
				s.gpcPurposes = append(s.gpcPurposes, p.ID)
			}
		}
	}

	s.api = humago.New(s.mux, s.humaConfig())
	s.registerSystem()
	s.registerConsent()
	s.registerAudit()
	s.registerRequests()
	s.registerLifecycle()
	s.registerIntake()
	s.registerROPA()
	s.registerRetention()
	if err := s.finishSpec(); err != nil {
		return nil, err
	}
	s.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/openapi+json")
		_, _ = w.Write(s.spec)
	})
	s.mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/openapi+yaml")
		_, _ = w.Write(s.specYAML)
	})
	s.mux.Handle("GET /metrics", s.metricsHandler())
	return s, nil
}

// jsonFormat decodes request bodies strictly: JSON must be UTF-8, and
// encoding/json would otherwise replace invalid bytes silently.
var jsonFormat = huma.Format{
	Marshal: huma.DefaultJSONFormat.Marshal,
	Unmarshal: func(data []byte, v any) error {
		if !utf8.Valid(data) {
			return errors.New("the request body is not valid UTF-8")
		}
		return json.Unmarshal(data, v)
	},
}

func (s *Server) humaConfig() huma.Config {
	// The zero registry config makes every object schema
	// additionalProperties: false, so unknown request fields are rejected
	// (422, "unexpected property"); finishSpec relaxes response schemas.
	registry := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	return huma.Config{
		OpenAPI: &huma.OpenAPI{
			OpenAPI: "3.1.0",
			Info: &huma.Info{
				Title:   "Lethe API",
				Version: s.opts.Version,
				Description: "Lethe's consent ledger and tamper-evident audit log. " +
					"Authenticate with `Authorization: Bearer lethe_...` (create keys with `lethe apikey create`); " +
					"a person's own data subject request (POST /v1/requests without a key, then /verify and /resend) takes none. " +
					"Errors are RFC 9457 problem details (application/problem+json).",
			},
			Components: &huma.Components{
				Schemas: registry,
				SecuritySchemes: map[string]*huma.SecurityScheme{
					"bearer": {
						Type: "http", Scheme: "bearer", BearerFormat: "lethe_<id>_<secret>",
						Description: "An API key. Scopes: consent:read, consent:write, audit:read, requests:read, requests:write, ropa:read, retention:read, admin (implies all).",
					},
				},
			},
		},
		// No docs UI (the stock ones load assets from a CDN), no schema
		// endpoints and no $schema links in bodies; the spec is served by
		// NewServer from bytes computed once.
		Formats:       map[string]huma.Format{"application/json": jsonFormat, "json": jsonFormat},
		DefaultFormat: "application/json",
		Transformers:  []huma.Transformer{s.transformProblem},
	}
}

// finishSpec post-processes the OpenAPI document once every operation is
// registered, and renders it.
func (s *Server) finishSpec() error {
	oapi := s.api.OpenAPI()
	schemas := oapi.Components.Schemas.Map()
	// huma registers its own error model while documenting errors; every
	// error here is a Problem.
	delete(schemas, "ErrorModel")
	delete(schemas, "ErrorDetail")
	// Requests are strict (unknown fields are errors), responses are open:
	// clients must be able to ignore fields added later.
	inRequests := map[string]bool{}
	for _, item := range oapi.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil || op.RequestBody == nil {
				continue
			}
			for _, mt := range op.RequestBody.Content {
				collectRefs(oapi.Components.Schemas, mt.Schema, inRequests)
			}
		}
	}
	for name, sc := range schemas {
		if !inRequests[name] {
			sc.AdditionalProperties = nil
		}
	}
	spec, err := json.Marshal(oapi)
	if err != nil {
		return fmt.Errorf("render openapi: %w", err)
	}
	specYAML, err := oapi.YAML()
	if err != nil {
		return fmt.Errorf("render openapi yaml: %w", err)
	}
	s.spec, s.specYAML = spec, specYAML
	return nil
}

// collectRefs records the names of the schemas sc refers to, recursively.
func collectRefs(reg huma.Registry, sc *huma.Schema, seen map[string]bool) {
	if sc == nil {
		return
	}
	if sc.Ref != "" {
		name := sc.Ref[len("#/components/schemas/"):]
		if seen[name] {
			return
		}
		seen[name] = true
		collectRefs(reg, reg.SchemaFromRef(sc.Ref), seen)
		return
	}
	for _, p := range sc.Properties {
		collectRefs(reg, p, seen)
	}
	collectRefs(reg, sc.Items, seen)
	if ap, ok := sc.AdditionalProperties.(*huma.Schema); ok {
		collectRefs(reg, ap, seen)
	}
	for _, list := range [][]*huma.Schema{sc.OneOf, sc.AnyOf, sc.AllOf} {
		for _, x := range list {
			collectRefs(reg, x, seen)
		}
	}
}

// OpenAPI returns the OpenAPI 3.1 document (JSON) that /openapi.json
// serves; `lethe openapi` prints it without listening.
func (s *Server) OpenAPI() []byte { return bytes.Clone(s.spec) }

// Handler returns the API's handler: request ids, body limit, recovery,
// metrics and logging around the routes.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

type requestInfoKey struct{}

// requestInfo travels in the request context so that inner layers (auth,
// problems) can report to the outer one.
type requestInfo struct {
	id    string
	keyID string // set once authenticated
	// remoteAddr and userAgent are kept only with EvidenceFromRequest.
	remoteAddr, userAgent string
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{id: newRequestID()}
	if s.opts.EvidenceFromRequest {
		info.remoteAddr, info.userAgent = r.RemoteAddr, r.UserAgent()
	}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	sw := &statusWriter{ResponseWriter: w, req: r, reqID: info.id}
	h := w.Header()
	h.Set("X-Request-Id", info.id)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	s.metrics.inFlight.Inc()
	defer func() {
		rec := recover()
		if rec != nil {
			if rec == http.ErrAbortHandler {
				s.metrics.inFlight.Dec()
				panic(rec)
			}
			s.log.Error("panic serving request", slog.String("request_id", info.id), slog.String("route", r.Pattern),
				slog.Any("panic", rec), slog.String("stack", string(debug.Stack())))
			if !sw.wroteHeader {
				p := newProblem(http.StatusInternalServerError, genericDetail[lethe.EINTERNAL])
				p.RequestID = info.id
				writeProblem(sw, p)
			}
		}
		s.metrics.inFlight.Dec()
		s.observe(r, sw, info, time.Since(start))
	}()

	if r.Body != nil && r.Body != http.NoBody {
		if !s.readBody(sw, r) {
			return
		}
	}
	s.mux.ServeHTTP(sw, r)
}

// readBody reads the whole body (bounded by MaxBodyBytes) before routing,
// so that an over-long or broken body is answered here as a problem (413,
// 400) rather than surfacing as a read error deep in a handler.
func (s *Server) readBody(w *statusWriter, r *http.Request) bool {
	fail := func(status int, detail string) bool {
		// The body is refused before routing; name the route it was for
		// in the metrics and the log all the same.
		if _, pattern := s.mux.Handler(r); pattern != "" {
			w.route = pattern
		}
		p := newProblem(status, detail)
		p.RequestID = w.reqID
		writeProblem(w, p)
		return false
	}
	tooLarge := fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes)
	if r.ContentLength > MaxBodyBytes {
		return fail(http.StatusRequestEntityTooLarge, tooLarge)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	_ = r.Body.Close()
	if err != nil {
		bufPool.Put(buf)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(http.StatusRequestEntityTooLarge, tooLarge)
		}
		return fail(http.StatusBadRequest, "the request body could not be read")
	}
	// The handler may keep slices of the body (huma does not, but a raw
	// body field would), so the bytes are copied out of the pooled buffer.
	body := bytes.Clone(buf.Bytes())
	if buf.Cap() <= 64<<10 {
		bufPool.Put(buf)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return true
}

// quietRoutes are logged at debug level: probes and scrapes would drown
// the request log.
var quietRoutes = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true}

func (s *Server) observe(r *http.Request, sw *statusWriter, info *requestInfo, d time.Duration) {
	route := cmp.Or(r.Pattern, sw.route, unmatchedRoute)
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	code := strconv.Itoa(status)
	s.metrics.requests.WithLabelValues(route, code).Inc()
	s.metrics.duration.WithLabelValues(route, code).Observe(d.Seconds())

	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case quietRoutes[route]:
		level = slog.LevelDebug
	}
	ctx := context.WithoutCancel(r.Context())
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", info.id),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.Int64("bytes_out", sw.bytes),
	}
	if info.keyID != "" {
		attrs = append(attrs, slog.String("api_key", info.keyID))
	}
	s.log.LogAttrs(ctx, level, "http request", attrs...)
}

func newRequestID() string {
	return fmt.Sprintf("%016x", rand.Uint64())
}

// statusWriter records the status and size of the response, and turns the
// mux's own plain-text 404 and 405 answers into problems.
type statusWriter struct {
	http.ResponseWriter
	req         *http.Request
	reqID       string
	route       string // the route of a request refused before routing
	status      int
	bytes       int64
	wroteHeader bool
	swallow     bool // the mux's text body is replaced by a problem
}

func (w *statusWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if w.req.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		// Only the mux answers without a matched pattern.
		w.swallow = true
		detail := "no such endpoint; see /openapi.json"
		if code == http.StatusMethodNotAllowed {
			detail = "method not allowed on this endpoint; see the Allow header"
		}
		p := newProblem(code, detail)
		p.RequestID = w.reqID
		w.wroteHeader, w.status = true, code
		h := w.ResponseWriter.Header()
		h.Set("Content-Type", "application/problem+json")
		h.Del("Content-Length")
		w.ResponseWriter.WriteHeader(code)
		b, _ := json.Marshal(p)
		n, _ := w.ResponseWriter.Write(append(b, '\n'))
		w.bytes += int64(n)
		return
	}
	w.wroteHeader, w.status = true, code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController (and huma's body deadline) reach the
// connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes through.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)})
	if s.opts.MetricsToken == "" {
		return h
	}
	want := []byte("Bearer " + s.opts.MetricsToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lethe-metrics"`)
			p := newProblem(http.StatusUnauthorized, "/metrics requires Authorization: Bearer <metrics token>")
			if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
				p.RequestID = info.id
			}
			writeProblem(w, p)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Serve serves the API on ln until ctx is cancelled, then shuts down
// gracefully: new connections are refused and requests in flight get up to
// ShutdownTimeout to finish. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down http server: %w", err)
	}
	return nil
}

// ListenAndServe listens on addr (host:port) and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.log.Info("serving http", slog.String("addr", ln.Addr().String()))
	return s.Serve(ctx, ln)
}
