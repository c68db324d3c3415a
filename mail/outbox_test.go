package mail_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/mail"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// smtpServer is an in-process SMTP server on loopback that records what
// arrived, and refuses the next `refuse` messages with a 451.
type smtpServer struct {
	mu       sync.Mutex
	received []received
	refuse   int
	addr     *net.TCPAddr
}

type received struct {
	from string
	to   []string
	data []byte
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	srv := &smtpServer{}
	s := smtp.NewServer(srv)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.addr = l.Addr().(*net.TCPAddr)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return srv
}

func (srv *smtpServer) config() *mail.SMTPConfig {
	return &mail.SMTPConfig{Host: "127.0.0.1", Port: srv.addr.Port, From: "Privacy team <privacy@example.com>", TLS: mail.TLSNone, Timeout: 5 * time.Second}
}

func (srv *smtpServer) messages() []received {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]received(nil), srv.received...)
}

func (srv *smtpServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{srv: srv}, nil }

type session struct {
	srv *smtpServer
	cur received
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.cur.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if s.srv.refuse > 0 {
		s.srv.refuse--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later, " + strings.Join(s.cur.to, ",")}
	}
	s.cur.data = b
	s.srv.received = append(s.srv.received, s.cur)
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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

type env struct {
	logs  *syncBuffer
	store *sqlite.Store
	keys  *keyring.Keyring
	clock *testClock
}

func newEnv(t *testing.T) env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "lethe.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	secrets, err := keyring.GenerateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	k := keyring.New(st, secrets, keyring.Options{})
	t.Cleanup(func() { k.Close() })
	return env{logs: &syncBuffer{}, store: st, keys: k, clock: &testClock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}}
}

func (e env) outbox(t *testing.T, smtpConfig *mail.SMTPConfig) *mail.Outbox {
	t.Helper()
	o, err := mail.New(mail.Options{Store: e.store, Sealer: e.keys, SMTP: smtpConfig, Clock: e.clock,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (e env) only(t *testing.T) lethe.OutboxMessage {
	t.Helper()
	all, err := e.store.OutboxList(context.Background(), false, 0)
	if err != nil || len(all) != 1 {
		t.Fatalf("outbox: %v, %v; want one message", all, err)
	}
	return all[0]
}

var (
	alice = lethe.SubjectRef{0xa1, 0x1c, 0xe}
	to    = "alice@example.org"
	code  = map[string]any{"code": "482913", "expires_in": "15 minutes"}
)

// bodyOf parses an arrived e-mail and decodes its body.
func bodyOf(t *testing.T, data []byte) (*netmail.Message, string) {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the e-mail that arrived does not parse: %v", err)
	}
	var r io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(m.Body)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return m, strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestVerificationCodeArrives(t *testing.T) {
	e, srv := newEnv(t), startSMTP(t)
	ctx := context.Background()
	o := e.outbox(t, srv.config())
	id, err := o.Enqueue(ctx, alice, to, mail.TemplateVerificationCode, code)
	if err != nil {
		t.Fatal(err)
	}
	stored := e.only(t)
	if stored.ID != id || stored.Status != lethe.OutboxPending || bytes.Contains(stored.Sealed, []byte("alice")) || bytes.Contains(stored.Sealed, []byte("482913")) {
		t.Errorf("stored message %s (%s): want pending, with neither the address nor the code in the clear", stored.ID, stored.Status)
	}
	var audited lethe.AuditEntry
	if err := e.store.AuditEntries(ctx, 0, 1<<20, func(a lethe.AuditEntry) error {
		if a.Action == "mail.queued" {
			audited = a
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if audited.Object != id || audited.SubjectRef != alice {
		t.Errorf("mail.queued audit entry %+v, want one for %s", audited.AuditRecord, id)
	}

	res, err := o.SendDue(ctx)
	if err != nil || res.Sent != 1 {
		t.Fatalf("send due: %+v, %v; want 1 sent", res, err)
	}
	got := srv.messages()
	if len(got) != 1 {
		t.Fatalf("%d e-mails arrived, want 1", len(got))
	}
	if len(got[0].to) != 1 || got[0].to[0] != to || got[0].from != "privacy@example.com" {
		t.Errorf("envelope from %q to %q, want privacy@example.com to %s", got[0].from, got[0].to, to)
	}
	m, body := bodyOf(t, got[0].data)
	if subj := m.Header.Get("Subject"); subj != "Your verification code: 482913" {
		t.Errorf("subject %q", subj)
	}
	if hdr := m.Header.Get("To"); !strings.Contains(hdr, to) {
		t.Errorf("To header %q, want %s", hdr, to)
	}
	if !strings.Contains(body, "    482913\n") || !strings.Contains(body, "valid for 15 minutes") {
		t.Errorf("body does not give the code and its validity:\n%s", body)
	}
	if sent := e.only(t); sent.Status != lethe.OutboxSent || sent.SentAt == nil || sent.Attempts != 1 {
		t.Errorf("after sending: %+v, want sent after 1 attempt", sent)
	}
	if res, err := o.SendDue(ctx); err != nil || res != (mail.SendResult{}) || len(srv.messages()) != 1 {
		t.Errorf("second send due: %+v, %v, %d arrived; want nothing sent again", res, err, len(srv.messages()))
	}
}

func TestRefusedThenRetried(t *testing.T) {
	e, srv := newEnv(t), startSMTP(t)
	ctx := context.Background()
	srv.refuse = 1
	o := e.outbox(t, srv.config())
	if _, err := o.Enqueue(ctx, alice, to, mail.TemplateVerificationCode, code); err != nil {
		t.Fatal(err)
	}
	res, err := o.SendDue(ctx)
	if err != nil || res.Retrying != 1 || res.Sent != 0 {
		t.Fatalf("first send due against a 451: %+v, %v; want 1 retrying", res, err)
	}
	m := e.only(t)
	if m.Status != lethe.OutboxPending || m.Attempts != 1 || !m.NextAttemptAt.Equal(e.clock.Now().Add(time.Minute)) {
		t.Errorf("after a 451: %+v; want pending, 1 attempt, next in 1 minute", m)
	}
	if !strings.Contains(m.LastError, "451") || strings.Contains(m.LastError, "alice") {
		t.Errorf("last error %q: want the code, never the address (the server's reply quoted it)", m.LastError)
	}
	e.clock.advance(59 * time.Second)
	if res, err := o.SendDue(ctx); err != nil || res != (mail.SendResult{}) {
		t.Errorf("before the retry is due: %+v, %v; want nothing", res, err)
	}
	e.clock.advance(time.Second)
	if res, err := o.SendDue(ctx); err != nil || res.Sent != 1 {
		t.Fatalf("at the retry: %+v, %v; want 1 sent", res, err)
	}
	if got := srv.messages(); len(got) != 1 {
		t.Errorf("%d e-mails arrived, want 1", len(got))
	}
	if m := e.only(t); m.Status != lethe.OutboxSent || m.Attempts != 2 || m.LastError != "" {
		t.Errorf("after the retry: %+v; want sent after 2 attempts", m)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "will retry") || strings.Contains(logs, "alice") || strings.Contains(logs, "482913") {
		t.Errorf("logs: want the retry, never the address or the code:\n%s", logs)
	}
}

func TestOutOfAttempts(t *testing.T) {
	e, srv := newEnv(t), startSMTP(t)
	ctx := context.Background()
	srv.refuse = 100
	o, err := mail.New(mail.Options{Store: e.store, Sealer: e.keys, SMTP: srv.config(), Clock: e.clock, MaxAttempts: 3, Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Enqueue(ctx, alice, to, mail.TemplateVerificationCode, code); err != nil {
		t.Fatal(err)
	}
	for i, wait := range []time.Duration{0, time.Minute, 5 * time.Minute} {
		e.clock.advance(wait)
		res, err := o.SendDue(ctx)
		if err != nil || res.Retrying+res.Failed != 1 {
			t.Fatalf("attempt %d: %+v, %v", i+1, res, err)
		}
	}
	m := e.only(t)
	if m.Status != lethe.OutboxFailed || m.Attempts != 3 || !strings.Contains(m.LastError, "out of attempts") {
		t.Errorf("after 3 refusals: %+v; want failed, out of attempts", m)
	}
	e.clock.advance(48 * time.Hour)
	if res, err := o.SendDue(ctx); err != nil || res != (mail.SendResult{}) {
		t.Errorf("a failed message was tried again: %+v, %v", res, err)
	}
}

func TestErasedSubjectNotSent(t *testing.T) {
	e, srv := newEnv(t), startSMTP(t)
	ctx := context.Background()
	o := e.outbox(t, srv.config())
	if _, err := o.Enqueue(ctx, alice, to, mail.TemplateVerificationCode, code); err != nil {
		t.Fatal(err)
	}
	if n, err := e.keys.Shred(ctx, alice, "cli"); err != nil || n != 1 {
		t.Fatalf("shred: %d, %v", n, err)
	}
	res, err := o.SendDue(ctx)
	if err != nil || res.Failed != 1 || res.Sent != 0 {
		t.Fatalf("send due after the shred: %+v, %v; want 1 failed", res, err)
	}
	if got := srv.messages(); len(got) != 0 {
		t.Errorf("%d e-mails arrived for an erased subject", len(got))
	}
	if m := e.only(t); m.Status != lethe.OutboxFailed || !strings.Contains(m.LastError, "erased") {
		t.Errorf("after the shred: %+v; want failed, saying the subject was erased", m)
	}
}

// shreddedSealer seals like the real keyring would, but every key is gone
// by the time the message is read.
type shreddedSealer struct{}

func (shreddedSealer) Encrypt(_ context.Context, _ lethe.SubjectRef, p, _ []byte) ([]byte, error) {
	return append([]byte("sealed:"), p...), nil
}

func (shreddedSealer) Decrypt(context.Context, lethe.SubjectRef, []byte, []byte) ([]byte, error) {
	return nil, lethe.Errorf(lethe.ESHREDDED, "the subject's key was shredded")
}

func TestShreddedSealer(t *testing.T) {
	e, srv := newEnv(t), startSMTP(t)
	ctx := context.Background()
	o, err := mail.New(mail.Options{Store: e.store, Sealer: shreddedSealer{}, SMTP: srv.config(), Clock: e.clock, Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Enqueue(ctx, alice, to, mail.TemplateRequestReceived, map[string]any{"request_id": "req_1", "request_type": "erasure", "due_date": "2 January 2027"}); err != nil {
		t.Fatal(err)
	}
	if res, err := o.SendDue(ctx); err != nil || res.Failed != 1 || len(srv.messages()) != 0 {
		t.Fatalf("send due: %+v, %v, %d arrived; want 1 failed, none sent", res, err, len(srv.messages()))
	}
	if m := e.only(t); m.Status != lethe.OutboxFailed || !strings.Contains(m.LastError, "erased") {
		t.Errorf("%+v; want failed, saying the subject was erased", m)
	}
}

func TestNoSMTPKeepsQueued(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.outbox(t, nil)
	for i := range 2 {
		if _, err := o.Enqueue(ctx, alice, to, mail.TemplateVerificationCode, map[string]any{"code": strconv.Itoa(100000 + i), "expires_in": "15 minutes"}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := o.SendDue(ctx)
	if err != nil || res != (mail.SendResult{Waiting: 2}) {
		t.Fatalf("send due without SMTP: %+v, %v; want 2 waiting", res, err)
	}
	pending, err := e.store.OutboxList(ctx, true, 0)
	if err != nil || len(pending) != 2 || pending[0].Attempts != 0 {
		t.Errorf("pending: %v, %v; want both, untried", pending, err)
	}
}

func TestEnqueueRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.outbox(t, nil)
	cases := []struct {
		name, to, template string
		data               map[string]any
	}{
		{"bad address", "not an address", mail.TemplateVerificationCode, code},
		{"unknown template", to, "newsletter", code},
		{"missing data", to, mail.TemplateVerificationCode, map[string]any{"code": "1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := o.Enqueue(ctx, alice, c.to, c.template, c.data)
			if lethe.ErrorCode(err) != lethe.EINVALID || strings.Contains(err.Error(), "not an address") {
				t.Errorf("%v: want EINVALID without the value", err)
			}
		})
	}
	if all, _ := e.store.OutboxList(ctx, false, 0); len(all) != 0 {
		t.Errorf("refused input was queued: %d messages", len(all))
	}
}

func TestNewRefusesBadSMTP(t *testing.T) {
	e := newEnv(t)
	_, err := mail.New(mail.Options{Store: e.store, Sealer: e.keys, SMTP: &mail.SMTPConfig{TLS: "ssl3"}})
	var le *lethe.Error
	if lethe.ErrorCode(err) != lethe.EINVALID || !asError(err, &le) || len(le.Fields) != 3 {
		t.Fatalf("%v: want EINVALID naming smtp.host, smtp.from and smtp.tls", err)
	}
}
