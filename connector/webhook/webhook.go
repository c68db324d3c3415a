package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Actions and modes of a Call.
const (
	ActionAccess  = "access"
	ActionErasure = "erasure"

	ModeDelete    = "delete"
	ModeAnonymise = "anonymise"
)

// Call is the JSON body Lethe posts to the service. Receivers written in
// Go decode it after Verify.
type Call struct {
	// Action is access or erasure.
	Action string `json:"action"`
	// RequestID identifies the data subject request, for the service's
	// logs; retries of a call carry the same one.
	RequestID string `json:"request_id"`
	// Collection is the name of the collection in Lethe's data map.
	Collection string `json:"collection"`
	// Identities maps an identity type (email, user_id...), or for values
	// reached through a reference the column name, to the values the
	// subject is known by, as text.
	Identities map[string][]string `json:"identities"`
	// Mode is delete or anonymise, for erasure only: what the data map
	// asks; the service decides how to honour it.
	Mode string `json:"mode,omitempty"`
}

// Defaults of Options.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxRetries       = 3
	DefaultMinBackoff       = 500 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultMaxResponseBytes = 1 << 30
)

// maxErasureResponse bounds an erasure response, which is a count.
const maxErasureResponse = 64 << 10

// Options tune a Connector. The zero value means every default.
type Options struct {
	// HTTPClient sends the calls; its own Timeout, if any, applies on top
	// of Timeout. Defaults to a client that does not follow redirects (a
	// signed call goes to the configured URL or fails).
	HTTPClient *http.Client
	// Timeout bounds each attempt of a call: sending it and reading the
	// whole response. Defaults to 30s.
	Timeout time.Duration
	// MaxRetries is how many times a call is tried again after a network
	// error, a timeout, 429 Too Many Requests or a 5xx status (but 501).
	// Defaults to 3; a negative value means no retries.
	MaxRetries int
	// MinBackoff is the wait before the first retry; each retry doubles
	// it, up to MaxBackoff, and each wait is drawn at random between half
	// and all of it so that callers spread out. A Retry-After header
	// longer than the wait is honoured; one longer than MaxBackoff ends
	// the retries. Default to 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Clock gives the time each call is signed with. Defaults to
	// time.Now.
	Clock func() time.Time
	// MaxResponseBytes bounds the body of an access response. Defaults to
	// 1 GiB.
	MaxResponseBytes int64
}

// Connector calls a service that holds personal data behind an HTTP
// API: one signed POST per Find and per erase step. It is safe for
// concurrent use.
type Connector struct {
	url    string
	secret []byte
	opts   Options
	client *http.Client
	// own: the client was made here, so Close releases its connections.
	own bool
	// name is the datastore's name, for messages.
	name string
}

var _ lethe.Connector = (*Connector)(nil)

// Open returns a Connector for a webhook datastore: ds.URL, an http(s)
// URL with a host; ds.Secret, which signs the calls (required); and
// ds.Timeout, which bounds each attempt (defaults to 30s). It makes no
// call. It returns EINVALID, naming the field but never repeating the
// URL or the secret, when one is missing or malformed.
func Open(ctx context.Context, ds *lethe.Datastore) (*Connector, error) {
	if ds.URL == "" {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: url is required for a webhook: the endpoint, e.g. https://crm.example.com/lethe", ds.Name)
	}
	u, err := url.Parse(ds.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: url must be an https:// (or http://) URL with a host (the value is not shown)", ds.Name)
	}
	if ds.Secret == "" {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: secret is required for a webhook: the key that signs each call", ds.Name)
	}
	var opts Options
	if !ds.Timeout.IsZero() {
		t0 := time.Unix(0, 0)
		opts.Timeout = ds.Timeout.AddTo(t0).Sub(t0)
	}
	c := New(ds.URL, []byte(ds.Secret), opts)
	c.name = ds.Name
	return c, nil
}

// New returns a Connector that posts calls to url signed with secret.
// The url and secret are not checked; Open checks them.
func New(url string, secret []byte, opts Options) *Connector {
	c := &Connector{url: url, secret: bytes.Clone(secret), opts: opts, client: opts.HTTPClient}
	if c.client == nil {
		c.own = true
		c.client = &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	c.opts.Timeout = cmp.Or(opts.Timeout, DefaultTimeout)
	switch {
	case opts.MaxRetries == 0:
		c.opts.MaxRetries = DefaultMaxRetries
	case opts.MaxRetries < 0:
		c.opts.MaxRetries = 0
	}
	c.opts.MinBackoff = cmp.Or(opts.MinBackoff, DefaultMinBackoff)
	c.opts.MaxBackoff = max(cmp.Or(opts.MaxBackoff, DefaultMaxBackoff), c.opts.MinBackoff)
	if c.opts.Clock == nil {
		c.opts.Clock = time.Now
	}
	c.opts.MaxResponseBytes = cmp.Or(opts.MaxResponseBytes, DefaultMaxResponseBytes)
	return c
}

// Close releases the idle connections of the client New made (not those
// of Options.HTTPClient).
func (c *Connector) Close() error {
	if c.own {
		c.client.CloseIdleConnections()
	}
	return nil
}

// Describe reports every collection as existing, without columns: the
// service's API is its schema. It makes no call.
func (c *Connector) Describe(ctx context.Context, collections []*lethe.Collection) ([]lethe.TableSchema, error) {
	out := make([]lethe.TableSchema, len(collections))
	for i, col := range collections {
		out[i] = lethe.TableSchema{Collection: col, Exists: true}
	}
	return out, nil
}

// Find posts an access call for the collection and the matches'
// identities, and calls fn for each row of the response as it is
// decoded. Columns, when given, limit each row to those (null where the
// service sent none), in that order; Distinct drops repeated rows. With
// no values to send, it makes no call.
//
// The call is retried (see Options) until the service answers 2xx; once
// rows are being decoded it is not, since fn has seen them: a response
// that breaks off or turns malformed fails Find after those rows.
// Errors: EUNAVAILABLE when the service cannot be reached or keeps
// failing, EINVALID when it refuses the call (4xx), ETOOLARGE when the
// response exceeds MaxResponseBytes, EINTERNAL for a response that is
// not the protocol's JSON. No message quotes the URL or the body.
func (c *Connector) Find(ctx context.Context, p lethe.FindParams, fn func(lethe.Row) error) error {
	call := newCall(ActionAccess, p.RequestID, p.Collection, p.Matches)
	if len(call.Identities) == 0 {
		return nil
	}
	if len(p.Columns) > 0 || p.Distinct {
		fn = project(p, fn)
	}
	emit := func(r lethe.Row) error {
		// A small response is read whole at once: stop between rows.
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(r)
	}
	return c.do(ctx, call, func(resp *http.Response) error {
		body := &limitReader{r: resp.Body, n: c.opts.MaxResponseBytes}
		err := decodeRows(json.NewDecoder(body), emit)
		if errors.Is(err, errTooLarge) {
			return lethe.Errorf(lethe.ETOOLARGE, "%s: the access response for collection %s exceeds %d bytes", c.where(), call.Collection, c.opts.MaxResponseBytes)
		}
		var b *badResponse
		if errors.As(err, &b) {
			return c.malformed(call, resp, b.what)
		}
		return err
	})
}

// Erase posts one erasure call per step, in order, with mode delete or
// anonymise as the step's action says (the service applies its own
// masks; Masks are not sent), and returns the counts the service
// reports. There is no transaction across calls: if a step fails, the
// earlier ones stay applied; erasing again is safe, as the service must
// treat an erasure as idempotent. A step with a Before cutoff (a hold
// counted from a column) is refused with EINVALID before any call: a
// service could not be trusted to keep the newer rows. Errors are as for
// Find.
func (c *Connector) Erase(ctx context.Context, steps []lethe.EraseStep) ([]lethe.EraseStepResult, error) {
	for _, s := range steps {
		if s.Before != nil {
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: a webhook cannot keep the rows newer than a cutoff (hold since:); remove since (the hold then keeps everything until it ends) or let the service apply its own retention", s.Collection.Name)
		}
		switch s.Action {
		case "", lethe.EraseDelete, lethe.EraseAnonymise:
		default:
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: unknown erase action %q", s.Collection.Name, s.Action)
		}
	}
	out := make([]lethe.EraseStepResult, len(steps))
	for i, s := range steps {
		if s.Await != nil && s.Await(ctx) != nil {
			for j := i; j < len(steps); j++ {
				out[j].Skipped = true
			}
			break
		}
		call := newCall(ActionErasure, s.RequestID, s.Collection, s.Matches)
		call.Mode = ModeDelete
		if s.Action == lethe.EraseAnonymise {
			call.Mode = ModeAnonymise
		}
		if len(call.Identities) == 0 {
			continue
		}
		err := c.do(ctx, call, func(resp *http.Response) error {
			n, err := decodeErased(&limitReader{r: resp.Body, n: maxErasureResponse})
			if errors.Is(err, errTooLarge) {
				err = bad("longer than %d bytes", maxErasureResponse)
			}
			var b *badResponse
			if errors.As(err, &b) {
				return c.malformed(call, resp, b.what)
			}
			out[i].Rows = n
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("erase %s: %w", s.Collection.Name, err)
		}
	}
	return out, nil
}

// newCall builds a call's identities from the matches: each value as
// text under the match's identity type, or its column, once.
func newCall(action, requestID string, col *lethe.Collection, matches []lethe.Match) Call {
	call := Call{Action: action, RequestID: requestID, Collection: col.Name, Identities: map[string][]string{}}
	seen := map[[2]string]bool{}
	for _, m := range matches {
		key := string(m.Identity)
		if key == "" {
			key = m.Column
		}
		for _, v := range m.Values {
			s, ok := text(v)
			if !ok || seen[[2]string{key, s}] {
				continue
			}
			seen[[2]string{key, s}] = true
			call.Identities[key] = append(call.Identities[key], s)
		}
	}
	return call
}

// text renders a match value as the text a service receives: strings and
// bytes as they are, numbers in their shortest decimal form, booleans as
// true/false, times in RFC 3339 UTC; a null is not sent.
func text(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case []byte:
		return string(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), true
	}
	return fmt.Sprint(v), true
}

// do posts the call, retrying as Options say, and hands a 2xx response to
// read within the attempt's timeout.
func (c *Connector) do(ctx context.Context, call Call, read func(*http.Response) error) error {
	body, err := json.Marshal(call)
	if err != nil {
		return fmt.Errorf("encode the %s call: %w", call.Action, err)
	}
	for attempt := 0; ; attempt++ {
		o, err := c.attempt(ctx, call, body, read)
		if err == nil || !o.retry {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s call for collection %s: %w", call.Action, call.Collection, ctx.Err())
		}
		if attempt == c.opts.MaxRetries {
			return c.unavailable(call, fmt.Sprintf("%s, after %d attempts", o.why, attempt+1))
		}
		if o.retryAfter > c.opts.MaxBackoff {
			return c.unavailable(call, fmt.Sprintf("%s, and the service asks to retry after %s, longer than the connector waits (%s)", o.why, o.retryAfter, c.opts.MaxBackoff))
		}
		if err := sleep(ctx, max(c.backoff(attempt+1), o.retryAfter)); err != nil {
			return fmt.Errorf("%s call for collection %s: %w", call.Action, call.Collection, err)
		}
	}
}

// outcome says whether a failed attempt is worth retrying, the wait the
// service asked for, and what went wrong.
type outcome struct {
	retry      bool
	retryAfter time.Duration
	why        string
}

// attempt makes one try of a call.
func (c *Connector) attempt(ctx context.Context, call Call, body []byte, read func(*http.Response) error) (outcome, error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return outcome{}, lethe.Errorf(lethe.EINVALID, "%s: the url cannot be requested (the value is not shown)", c.where())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "lethe-webhook/1")
	req.Header.Set(SignatureHeader, Sign(c.secret, body, c.opts.Clock()))
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return outcome{}, fmt.Errorf("%s call for collection %s: %w", call.Action, call.Collection, ctx.Err())
		}
		o := outcome{retry: true, why: failure(err)}
		return o, c.unavailable(call, o.why)
	}
	defer func() {
		// Drain a little so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	status := resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		resp.Body = &bodyReader{r: resp.Body}
		err := read(resp)
		var rerr *readError
		if !errors.As(err, &rerr) {
			return outcome{}, err // nil, fn's error, or a coded one
		}
		if ctx.Err() != nil {
			return outcome{}, fmt.Errorf("%s call for collection %s: %w", call.Action, call.Collection, ctx.Err())
		}
		why := "reading the response: " + failure(rerr.err)
		if actx.Err() != nil {
			why = fmt.Sprintf("reading the response took longer than the %s timeout", c.opts.Timeout)
		}
		// Rows already went to fn: an access call is not tried again.
		// An erasure is idempotent.
		o := outcome{retry: call.Action == ActionErasure, why: why}
		return o, c.unavailable(call, why)
	case status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented:
		o := outcome{retry: true, why: "HTTP " + strconv.Itoa(status), retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
		return o, c.unavailable(call, o.why)
	case status == http.StatusNotImplemented:
		return outcome{}, lethe.Errorf(lethe.EINVALID, "%s: the service does not implement %s (HTTP 501) for collection %s", c.where(), call.describe(), call.Collection)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return outcome{}, lethe.Errorf(lethe.EUNAVAILABLE, "%s: the service refused the %s call for collection %s (HTTP %d): check that both sides hold the same secret and that their clocks agree within %s", c.where(), call.Action, call.Collection, status, DefaultTolerance)
	case status == http.StatusNotFound:
		return outcome{}, lethe.Errorf(lethe.EINVALID, "%s: the service answered 404 Not Found to the %s call for collection %s: check the url and that the service knows the collection", c.where(), call.Action, call.Collection)
	case status >= 300 && status < 400:
		return outcome{}, lethe.Errorf(lethe.EINVALID, "%s: the service redirected the call (HTTP %d); set the url to the address it redirects to", c.where(), status)
	default:
		return outcome{}, lethe.Errorf(lethe.EINVALID, "%s: the service refused the %s call for collection %s (HTTP %d)", c.where(), call.Action, call.Collection, status)
	}
}

func (call Call) describe() string {
	if call.Mode != "" {
		return call.Action + " with mode " + call.Mode
	}
	return call.Action
}

// backoff returns the wait before retry number n (1 for the first):
// MinBackoff doubled each time, capped at MaxBackoff, drawn between half
// and all of it.
func (c *Connector) backoff(n int) time.Duration {
	d := c.opts.MinBackoff
	for i := 1; i < n && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Connector) where() string {
	if c.name != "" {
		return "webhook datastore " + c.name
	}
	return "webhook"
}

func (c *Connector) unavailable(call Call, what string) error {
	return lethe.Errorf(lethe.EUNAVAILABLE, "%s: %s call for collection %s: %s", c.where(), call.Action, call.Collection, what)
}

// malformed reports a 2xx response that is not the protocol's JSON,
// without quoting it: it may hold personal data.
func (c *Connector) malformed(call Call, resp *http.Response, what string) error {
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "none"
	}
	return lethe.Errorf(lethe.EINTERNAL, "%s: the %s response for collection %s is not the webhook protocol's JSON (%s; content type %.60s); the body is not shown, as it may hold personal data", c.where(), call.Action, call.Collection, what, ct)
}
