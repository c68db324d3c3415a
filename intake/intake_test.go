package intake_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/intake"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/mail"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is the real outbox, remembering the codes it was given so the
// test can type them back (the HTTP tests read them from delivered mail).
type recorder struct {
	*mail.Outbox
	mu    sync.Mutex
	codes map[string]string // message id -> code
}

func (r *recorder) EnqueueID(ctx context.Context, id string, ref lethe.SubjectRef, to, template string, data map[string]any) error {
	err := r.Outbox.EnqueueID(ctx, id, ref, to, template, data)
	if err == nil {
		r.mu.Lock()
		r.codes[id] = data["code"].(string)
		r.mu.Unlock()
	}
	return err
}

func (r *recorder) code(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.codes[id]
}

type env struct {
	svc   *intake.Service
	store *sqlite.Store
	keys  *keyring.Keyring
	mail  *recorder
	clock *testClock
	logs  *bytes.Buffer
}

const jane = "Jane.Doe@Example.com"

func newEnv(t *testing.T, opts intake.Options) env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "lethe.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	secrets, err := keyring.GenerateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	keys := keyring.New(st, secrets, keyring.Options{})
	clock := &testClock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	out, err := mail.New(mail.Options{Store: st, Sealer: keys, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Outbox: out, codes: map[string]string{}}
	logs := &bytes.Buffer{}
	opts.Store, opts.Mailer, opts.Secret, opts.Clock = st, rec, secrets.RefKey[:], clock
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := intake.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return env{svc: svc, store: st, keys: keys, mail: rec, clock: clock, logs: logs}
}

func (e env) ref(t *testing.T) lethe.SubjectRef {
	ref, err := e.keys.SubjectRef(lethe.Identity{Type: lethe.IdentityEmail, Value: jane})
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestIssueAndCheck(t *testing.T) {
	e := newEnv(t, intake.Options{})
	ctx := context.Background()
	issued, err := e.svc.Issue(ctx, "req_1", e.ref(t), jane)
	if err != nil {
		t.Fatal(err)
	}
	if issued.Issue != 1 || !issued.ExpiresAt.Equal(e.clock.Now().Add(30*time.Minute)) || issued.MessageID != "mail_verification_req_1_1" {
		t.Errorf("issued %+v; want issue 1, valid 30 minutes", issued)
	}
	code := e.mail.code(issued.MessageID)
	if len(code) != intake.CodeDigits || strings.Trim(code, "0123456789") != "" {
		t.Fatalf("the code %q is not %d digits", code, intake.CodeDigits)
	}
	stored, err := e.store.VerificationGet(ctx, "req_1")
	if err != nil || bytes.Contains(stored.Hash, []byte(code)) || stored.MaxAttempts != 5 || stored.SubjectRef != e.ref(t) {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	msgs, _ := e.store.OutboxList(ctx, true, 0)
	if len(msgs) != 1 || msgs[0].ID != issued.MessageID || bytes.Contains(msgs[0].Sealed, []byte(code)) || msgs[0].Template != mail.TemplateVerificationCode {
		t.Errorf("outbox %+v; want the one sealed message", msgs)
	}

	wrong := "00000000"
	if wrong == code {
		wrong = "00000001"
	}
	res, err := e.svc.Check(ctx, "req_1", wrong)
	if lethe.ErrorCode(err) != lethe.EINVALID || res.AttemptsLeft != 4 || res.Verified ||
		len(lethe.ErrorFields(err)) != 1 || lethe.ErrorFields(err)[0].Path != "code" || !strings.Contains(lethe.ErrorMessage(err), "4 attempts left") {
		t.Errorf("wrong code: %+v, %v; want EINVALID on code with 4 attempts left", res, err)
	}
	if _, err := e.svc.Check(ctx, "req_1", "12ab"); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("malformed code: %v", err)
	}
	if got, _ := e.store.VerificationGet(ctx, "req_1"); got.Attempts != 1 {
		t.Errorf("attempts %d, want 1 (a malformed code does not count)", got.Attempts)
	}
	// Typed with a space in the middle, as people do.
	res, err = e.svc.Check(ctx, "req_1", code[:4]+" "+code[4:])
	if err != nil || !res.Verified {
		t.Fatalf("right code: %+v, %v", res, err)
	}
	if _, err := e.svc.Check(ctx, "req_1", code); lethe.ErrorCode(err) != lethe.ECONFLICT || !strings.Contains(lethe.ErrorMessage(err), "already used") {
		t.Errorf("replay: %v; want ECONFLICT, already used", err)
	}
	if _, err := e.svc.Check(ctx, "req_2", code); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("the code against another request: %v; want ENOTFOUND", err)
	}
	if _, err := e.svc.Issue(ctx, "req_1", e.ref(t), jane); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("a new code after verification: %v; want ECONFLICT", err)
	}
	var audited []string
	e.store.AuditEntries(ctx, 0, 1<<20, func(a lethe.AuditEntry) error {
		audited = append(audited, a.Action)
		return nil
	})
	want := "request.verification_sent mail.queued request.verification_failed request.verification_passed"
	if strings.Join(audited, " ") != want {
		t.Errorf("audit %v, want %s", audited, want)
	}
	logs := e.logs.String()
	if strings.Contains(strings.ToLower(logs), "jane") || strings.Contains(logs, code) || strings.Contains(logs, wrong) || !strings.Contains(logs, "req_1") {
		t.Errorf("logs must name the request, never the address or a code:\n%s", logs)
	}
}

func TestCodeBoundToRequest(t *testing.T) {
	e := newEnv(t, intake.Options{})
	ctx := context.Background()
	a, _ := e.svc.Issue(ctx, "req_a", e.ref(t), jane)
	if _, err := e.svc.Issue(ctx, "req_b", e.ref(t), jane); err != nil {
		t.Fatal(err)
	}
	codeA := e.mail.code(a.MessageID)
	if codeA == e.mail.code(intake.MessageID("req_b", 1)) {
		t.Skip("two random codes collided (1 in 10^8)")
	}
	if _, err := e.svc.Check(ctx, "req_b", codeA); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("req_a's code against req_b: %v; want a wrong code", err)
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, intake.Options{CodeTTL: 10 * time.Minute})
	ctx := context.Background()
	issued, err := e.svc.Issue(ctx, "req_1", e.ref(t), jane)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(10 * time.Minute)
	_, err = e.svc.Check(ctx, "req_1", e.mail.code(issued.MessageID))
	if lethe.ErrorCode(err) != lethe.ECONFLICT || !strings.Contains(lethe.ErrorMessage(err), "expired") {
		t.Fatalf("the right code at expiry: %v; want ECONFLICT, expired", err)
	}
	// A new code replaces it and works.
	again, err := e.svc.Issue(ctx, "req_1", e.ref(t), jane)
	if err != nil || again.Issue != 2 || again.MessageID == issued.MessageID {
		t.Fatalf("issue after expiry: %+v, %v", again, err)
	}
	if _, err := e.svc.Check(ctx, "req_1", e.mail.code(issued.MessageID)); err == nil {
		t.Errorf("the first code works after a second was sent")
	}
	if res, err := e.svc.Check(ctx, "req_1", e.mail.code(again.MessageID)); err != nil || !res.Verified {
		t.Errorf("the second code: %+v, %v", res, err)
	}
}

func TestAttemptsAndResend(t *testing.T) {
	e := newEnv(t, intake.Options{MaxAttempts: 3, ResendAfter: 2 * time.Minute})
	ctx := context.Background()
	issued, err := e.svc.Issue(ctx, "req_1", e.ref(t), jane)
	if err != nil {
		t.Fatal(err)
	}
	code := e.mail.code(issued.MessageID)
	wrong := "99999999"
	if wrong == code {
		wrong = "99999998"
	}
	for left := 2; left >= 0; left-- {
		res, err := e.svc.Check(ctx, "req_1", wrong)
		if lethe.ErrorCode(err) != lethe.EINVALID || res.AttemptsLeft != left {
			t.Fatalf("wrong code: %+v, %v; want %d left", res, err, left)
		}
	}
	if _, err := e.svc.Check(ctx, "req_1", code); lethe.ErrorCode(err) != lethe.ECONFLICT || !strings.Contains(lethe.ErrorMessage(err), "locked") {
		t.Errorf("the right code after the attempts: %v; want ECONFLICT, locked", err)
	}
	// Resending waits for the cooldown.
	e.clock.advance(time.Minute)
	_, err = e.svc.Issue(ctx, "req_1", e.ref(t), jane)
	if wait, ok := intake.RetryAfter(err); lethe.ErrorCode(err) != lethe.ERATELIMITED || !ok || wait != time.Minute {
		t.Fatalf("resend within the cooldown: %v (retry after %v); want ERATELIMITED, 1m", err, wait)
	}
	e.clock.advance(time.Minute)
	again, err := e.svc.Issue(ctx, "req_1", e.ref(t), jane)
	if err != nil || again.Issue != 2 {
		t.Fatalf("resend after the cooldown: %+v, %v", again, err)
	}
	if res, err := e.svc.Check(ctx, "req_1", e.mail.code(again.MessageID)); err != nil || !res.Verified {
		t.Errorf("the new code: %+v, %v", res, err)
	}
}

func TestIssueRetryQueuesOnce(t *testing.T) {
	e := newEnv(t, intake.Options{})
	ctx := context.Background()
	// An earlier Issue of the same request and issue queued its message
	// and failed after: the retry must not queue a second one.
	id := intake.MessageID("req_1", 1)
	if err := e.mail.Outbox.EnqueueID(ctx, id, e.ref(t), jane, mail.TemplateVerificationCode, map[string]any{"code": "12345678", "expires_in": "30 minutes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Issue(ctx, "req_1", e.ref(t), jane); err != nil {
		t.Fatal(err)
	}
	msgs, _ := e.store.OutboxList(ctx, false, 0)
	if len(msgs) != 1 || msgs[0].ID != id {
		t.Errorf("outbox holds %d messages, want the one %s", len(msgs), id)
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, intake.Options{PerIdentity: lethe.Rate{Limit: 2, Window: time.Hour}, PerClient: lethe.Rate{Limit: 3, Window: 10 * time.Minute}})
	ctx := context.Background()
	e.clock.advance(15 * time.Minute) // 10:15, a quarter into the hour's window
	for i := range 2 {
		// Spelled differently, still the same address.
		if err := e.svc.LimitIdentity(ctx, []string{jane, " jane.doe@example.COM"}[i]); err != nil {
			t.Fatalf("identity call %d: %v", i+1, err)
		}
	}
	err := e.svc.LimitIdentity(ctx, jane)
	if wait, _ := intake.RetryAfter(err); lethe.ErrorCode(err) != lethe.ERATELIMITED || wait != 45*time.Minute {
		t.Fatalf("third identity call: %v (retry after %v); want ERATELIMITED, 45m", err, wait)
	}
	if strings.Contains(strings.ToLower(lethe.ErrorMessage(err)), "jane") {
		t.Errorf("the error names the address: %v", err)
	}
	if err := e.svc.LimitIdentity(ctx, "other@example.com"); err != nil {
		t.Errorf("another address: %v", err)
	}
	if err := e.svc.LimitIdentity(ctx, "not an address"); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("not an address: %v", err)
	}

	v6a, v6b, v6c := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9"), netip.MustParseAddr("2001:db8:1:3::1")
	for i, a := range []netip.Addr{v6a, v6b, v6a} {
		if err := e.svc.LimitClient(ctx, a); err != nil {
			t.Fatalf("client call %d: %v", i+1, err)
		}
	}
	if err := e.svc.LimitClient(ctx, v6b); lethe.ErrorCode(err) != lethe.ERATELIMITED {
		t.Errorf("fourth call from the same /64: %v; want ERATELIMITED", err)
	}
	if err := e.svc.LimitClient(ctx, v6c); err != nil {
		t.Errorf("another /64: %v", err)
	}
	v4 := netip.MustParseAddr("203.0.113.7")
	for range 3 {
		if err := e.svc.LimitClient(ctx, v4); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.LimitClient(ctx, netip.MustParseAddr("::ffff:203.0.113.7")); lethe.ErrorCode(err) != lethe.ERATELIMITED {
		t.Errorf("the same IPv4 address, IPv6-mapped: %v; want ERATELIMITED", err)
	}
	e.clock.advance(10 * time.Minute)
	if err := e.svc.LimitClient(ctx, v4); err != nil {
		t.Errorf("in the next window: %v", err)
	}

	// The counters are keyed by HMACs, never the values.
	rows, err := e.store.DB().QueryContext(ctx, `SELECT key FROM rate_limits`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k string
		rows.Scan(&k)
		n++
		if strings.Contains(k, "@") || strings.Contains(k, "203.0.113") || strings.Contains(k, "2001:db8") || strings.Contains(k, "jane") {
			t.Errorf("a counter key holds the value: %s", k)
		}
	}
	if n == 0 {
		t.Error("no counters stored")
	}
	res, err := e.svc.Purge(ctx)
	if err != nil || res.Counters == 0 {
		t.Errorf("purge: %+v, %v; want the ended windows deleted", res, err)
	}
}

func TestPurge(t *testing.T) {
	e := newEnv(t, intake.Options{})
	ctx := context.Background()
	if _, err := e.svc.Issue(ctx, "req_1", e.ref(t), jane); err != nil {
		t.Fatal(err)
	}
	if res, err := e.svc.Purge(ctx); err != nil || res.Codes != 0 {
		t.Fatalf("purge of a live code: %+v, %v", res, err)
	}
	e.clock.advance(31 * time.Minute)
	if res, err := e.svc.Purge(ctx); err != nil || res.Codes != 1 {
		t.Fatalf("purge after expiry: %+v, %v; want 1", res, err)
	}
	if _, err := e.svc.Check(ctx, "req_1", "12345678"); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("check after purge: %v; want ENOTFOUND", err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	if _, err := intake.New(intake.Options{}); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("no store: %v", err)
	}
}
