package events_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector/webhook"
	"github.com/lethe-privacy/lethe/consent"
	"github.com/lethe-privacy/lethe/events"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/store/postgres"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

func openSQLite(t *testing.T) lethe.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "lethe.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t *testing.T) lethe.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{URL: testenv.PostgresSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var stores = []struct {
	name string
	open func(t *testing.T) lethe.Store
}{{"sqlite", openSQLite}, {"postgres", openPostgres}}

// jetStream connects to the test NATS server and creates a stream of its
// own capturing <prefix>.>, deleted when the test ends.
func jetStream(t *testing.T) (url, stream, prefix string, js jetstream.JetStream) {
	t.Helper()
	url = os.Getenv("LETHE_TEST_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		testenv.Unavailable(t, "NATS", err)
	}
	t.Cleanup(nc.Close)
	js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	stream, prefix = "LETHE_TEST_"+strings.ToUpper(suffix), "lethe_test_"+suffix
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{prefix + ".>"}, Duplicates: time.Hour}); err != nil {
		testenv.Unavailable(t, "NATS JetStream", err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream) })
	return url, stream, prefix, js
}

func streamMessages(t *testing.T, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func testConfig() *lethe.Config {
	return &lethe.Config{
		Controller:   lethe.Controller{Name: "Shop"},
		Jurisdiction: lethe.GDPR,
		Purposes: []lethe.Purpose{
			{ID: "newsletter", LawfulBasis: lethe.BasisConsent, PolicyVersion: "v1", Categories: []string{"contact.email"},
				Recipients: []lethe.Recipient{{Name: "Mailer Inc"}}},
			{ID: "analytics", LawfulBasis: lethe.BasisConsent, PolicyVersion: "v1", Categories: []string{"network.ip"}},
		},
	}
}

func ledger(t *testing.T, s lethe.Store, cfg *lethe.Config) (*consent.Ledger, *keyring.Secrets) {
	t.Helper()
	secrets, err := keyring.GenerateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	keys := keyring.New(s, secrets, keyring.Options{})
	t.Cleanup(func() { keys.Close() })
	l, err := consent.New(context.Background(), consent.Options{Config: cfg, Store: s, Sealer: keys, CacheSubjects: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, secrets
}

func newBus(t *testing.T, opts events.Options) *events.Bus {
	t.Helper()
	if opts.Key == nil {
		opts.Key = make([]byte, 32)
	}
	if opts.Backoff == nil {
		opts.Backoff = []time.Duration{time.Nanosecond}
	}
	b, err := events.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

func record(t *testing.T, l *consent.Ledger, subject string, granted bool) {
	t.Helper()
	if _, err := l.Record(context.Background(), consent.RecordParams{SubjectID: subject, PolicyVersion: "v1", Mechanism: "form", Source: "test",
		Purposes: []consent.PurposeChoice{{Purpose: "newsletter", Granted: granted}}}); err != nil {
		t.Fatal(err)
	}
}

// drain runs delivery passes until nothing is left to do.
func drain(t *testing.T, b *events.Bus) {
	t.Helper()
	for range 100 {
		res, err := b.DeliverDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Delivered == 0 && res.Failed == 0 {
			return
		}
	}
	t.Fatal("delivery did not settle in 100 passes")
}

func TestConsentWithdrawalReachesJetStream(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			url, stream, prefix, js := jetStream(t)
			s := st.open(t)
			cfg := testConfig()
			cfg.Events = &lethe.Events{NATS: &lethe.NATSEvents{URL: url, Stream: stream, SubjectPrefix: prefix}}
			l, _ := ledger(t, s, cfg)
			b := newBus(t, events.Options{Config: cfg, Store: s})
			record(t, l, "user-42", true)
			record(t, l, "user-42", false)
			drain(t, b)

			msgs := streamMessages(t, js, stream)
			if len(msgs) != 2 {
				t.Fatalf("%d messages in the stream, want the grant and the withdrawal", len(msgs))
			}
			last := msgs[1]
			if last.Subject != prefix+".consent.changed" {
				t.Errorf("subject %s, want %s.consent.changed", last.Subject, prefix)
			}
			var m events.Message
			if err := json.Unmarshal(last.Data, &m); err != nil {
				t.Fatal(err)
			}
			var change events.ConsentChange
			if err := json.Unmarshal(m.Data, &change); err != nil {
				t.Fatal(err)
			}
			ref, _ := l.SubjectRef("user-42")
			if change.Granted || change.Purpose != "newsletter" || m.SubjectRef != ref.String() || m.Type != lethe.EventConsentChanged {
				t.Errorf("message %+v with %+v, want the withdrawal of newsletter for %s", m, change, ref)
			}
			if got := last.Header.Get(jetstream.MsgIDHeader); got == "" || got != m.ID || got != change.ConsentEventID {
				t.Errorf("Nats-Msg-Id %q, want the event id %q", got, m.ID)
			}
			if len(m.Identities) != 0 || strings.Contains(string(last.Data), "user-42") {
				t.Errorf("identities reached a subscriber not allowed them: %s", last.Data)
			}
		})
	}
}

// killingSink stops the dispatcher after n deliveries, as a process that
// dies would.
type killingSink struct {
	events.Sink
	n      int
	cancel context.CancelFunc
}

func (k *killingSink) Deliver(ctx context.Context, m *events.Message, body []byte) error {
	if k.n == 0 {
		k.cancel()
		return ctx.Err()
	}
	k.n--
	return k.Sink.Deliver(ctx, m, body)
}

func TestDispatcherKilledMidwayLosesNothing(t *testing.T) {
	url, stream, prefix, js := jetStream(t)
	s := openSQLite(t)
	cfg := testConfig()
	natsCfg := lethe.NATSEvents{URL: url, SubjectPrefix: prefix}
	l, _ := ledger(t, s, cfg)
	ensure := newBus(t, events.Options{Config: cfg, Store: s, Sinks: []events.Sink{events.NewNATSSink(natsCfg)}})
	_ = ensure
	const n = 20
	for i := range n {
		record(t, l, "user-"+string(rune('a'+i)), i%2 == 0)
	}

	ctx, cancel := context.WithCancel(context.Background())
	nats1 := events.NewNATSSink(natsCfg)
	t.Cleanup(func() { nats1.Close() })
	first := newBus(t, events.Options{Config: cfg, Store: s, Sinks: []events.Sink{&killingSink{Sink: nats1, n: 7, cancel: cancel}}, Batch: 3})
	if err := first.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(streamMessages(t, js, stream)); got != 7 {
		t.Fatalf("%d published before the kill, want 7", got)
	}
	// Restarted, it publishes the rest; what the first one published but
	// had not recorded is sent again, and JetStream drops it by id.
	second := newBus(t, events.Options{Config: cfg, Store: s, Sinks: []events.Sink{events.NewNATSSink(natsCfg)}, Batch: 3})
	drain(t, second)
	msgs := streamMessages(t, js, stream)
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.Header.Get(jetstream.MsgIDHeader)] = true
	}
	if len(msgs) != n || len(ids) != n {
		t.Fatalf("%d messages (%d ids) in the stream, want each of the %d events once", len(msgs), len(ids), n)
	}
	st, err := second.Status(context.Background())
	if err != nil || len(st) != 1 || st[0].Behind != 0 || st[0].Delivered < n-7 {
		t.Errorf("status %+v, %v", st, err)
	}
}

// receiver is a webhook subscriber that verifies signatures, fails the
// first `fail` calls with 500, and keeps what it got by event id.
type receiver struct {
	secret []byte
	mu     sync.Mutex
	fail   int
	calls  int
	bad    int
	got    map[string][]events.Message
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if err := webhook.Verify(r.secret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), 0); err != nil {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.fail > 0 {
		r.fail--
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	var m events.Message
	if err := json.Unmarshal(body, &m); err != nil || m.ID != req.Header.Get("Lethe-Event-Id") {
		r.bad++
		return
	}
	if r.got == nil {
		r.got = map[string][]events.Message{}
	}
	r.got[m.ID] = append(r.got[m.ID], m)
}

func (r *receiver) messages() map[string][]events.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got
}

func webhookServer(t *testing.T, fail int) (*receiver, string) {
	r := &receiver{secret: []byte("0123456789abcdef0123"), fail: fail}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func TestWebhookRetriesAndSignature(t *testing.T) {
	s := openSQLite(t)
	cfg := testConfig()
	rec, url := webhookServer(t, 2)
	cfg.Events = &lethe.Events{Webhooks: []lethe.EventWebhook{{Name: "crm", URL: url, Secret: string(rec.secret)}}}
	l, _ := ledger(t, s, cfg)
	b := newBus(t, events.Options{Config: cfg, Store: s, Backoff: []time.Duration{time.Nanosecond}})
	record(t, l, "user-1", true)
	record(t, l, "user-1", false)
	record(t, l, "user-2", true)

	ctx := context.Background()
	res, err := b.DeliverDue(ctx)
	if err != nil || res.Failed != 1 || res.Delivered != 0 {
		t.Fatalf("first pass %+v, %v; want a failure", res, err)
	}
	st, _ := b.Status(ctx)
	if len(st) != 1 || st[0].Attempts != 1 || !strings.Contains(st[0].LastError, "HTTP 500") {
		t.Errorf("status after a 500: %+v", st)
	}
	drain(t, b)
	got := rec.messages()
	if rec.bad != 0 || rec.calls != 5 || len(got) != 3 {
		t.Fatalf("%d calls, %d bad, %d events; want 2 failed + 3 delivered", rec.calls, rec.bad, len(got))
	}
	for id, ms := range got {
		if len(ms) != 1 || ms[0].Type != lethe.EventConsentChanged {
			t.Errorf("event %s received %d times: %+v", id, len(ms), ms)
		}
	}
	st, _ = b.Status(ctx)
	if st[0].Attempts != 0 || st[0].LastError != "" || st[0].Delivered != 3 || st[0].Behind != 0 {
		t.Errorf("status after delivery: %+v", st[0])
	}
}

func TestFailingSubscriberStopsAloneAndStaysVisible(t *testing.T) {
	s := openSQLite(t)
	cfg := testConfig()
	down, downURL := webhookServer(t, 1000)
	up, upURL := webhookServer(t, 0)
	cfg.Events = &lethe.Events{MaxAttempts: 3, Webhooks: []lethe.EventWebhook{
		{Name: "down", URL: downURL, Secret: string(down.secret)},
		{Name: "up", URL: upURL, Secret: string(up.secret)},
	}}
	l, _ := ledger(t, s, cfg)
	b := newBus(t, events.Options{Config: cfg, Store: s})
	record(t, l, "user-1", false)
	drain(t, b)
	if len(up.messages()) != 1 {
		t.Errorf("the working webhook got %d events, want 1", len(up.messages()))
	}
	st, _ := b.Status(context.Background())
	if st[0].Name != "webhook:down" || st[0].Status != lethe.EventSubscriptionFailed || st[0].Attempts != 3 || st[0].Behind == 0 {
		t.Errorf("failing subscriber %+v, want failed after 3 attempts", st[0])
	}
	if strings.Contains(st[0].LastError, downURL) {
		t.Errorf("the error quotes the URL: %s", st[0].LastError)
	}
	down.mu.Lock()
	down.fail = 0
	down.mu.Unlock()
	drain(t, b)
	if len(down.messages()) != 0 {
		t.Fatalf("a failed subscriber was retried without being asked")
	}
	if err := b.Retry(context.Background(), "webhook:down"); err != nil {
		t.Fatal(err)
	}
	drain(t, b)
	if len(down.messages()) != 1 {
		t.Errorf("after retry the webhook got %d events, want 1", len(down.messages()))
	}
	if err := b.Retry(context.Background(), "nope"); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("retry of an unknown subscriber: %v", err)
	}
}

func erasure(id string, ref lethe.SubjectRef) lethe.Request {
	now := time.Now().UTC()
	return lethe.Request{ID: id, Type: lethe.RequestErasure, Status: lethe.RequestCompleted, SubjectRef: ref, Jurisdiction: lethe.GDPR, CompletedAt: &now}
}

func TestIdentitiesOnlyToAuthorisedSubscribers(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			cfg := testConfig()
			allowed, allowedURL := webhookServer(t, 0)
			other, otherURL := webhookServer(t, 0)
			cfg.Events = &lethe.Events{Webhooks: []lethe.EventWebhook{
				{Name: "erasure-worker", URL: allowedURL, Secret: string(allowed.secret), Identities: true},
				{Name: "analytics", URL: otherURL, Secret: string(other.secret)},
			}}
			l, _ := ledger(t, s, cfg)
			b := newBus(t, events.Options{Config: cfg, Store: s, ConsentIdentities: func(ctx context.Context, id string) ([]lethe.Identity, error) {
				return []lethe.Identity{{Type: lethe.IdentityUserID, Value: "user-7"}}, nil
			}})
			record(t, l, "user-7", false)
			ref, _ := l.SubjectRef("user-7")
			ids := []lethe.Identity{{Type: lethe.IdentityEmail, Value: "jane@example.com"}, {Type: lethe.IdentityUserID, Value: "user-7"}}
			ctx := context.Background()
			if err := b.RequestFinished(ctx, erasure("req_1", ref), ids, nil); err != nil {
				t.Fatal(err)
			}
			// Idempotent: a second call records nothing new.
			if err := b.RequestFinished(ctx, erasure("req_1", ref), ids, nil); err != nil {
				t.Fatal(err)
			}
			drain(t, b)

			types := func(got map[string][]events.Message) []string {
				var out []string
				for _, ms := range got {
					out = append(out, string(ms[0].Type))
				}
				slices.Sort(out)
				return out
			}
			want := []string{"consent.changed", "request.completed", "subject.erased"}
			if g := types(allowed.messages()); !slices.Equal(g, want) {
				t.Errorf("authorised subscriber got %v, want %v", g, want)
			}
			if g := types(other.messages()); !slices.Equal(g, want) {
				t.Errorf("other subscriber got %v, want %v", g, want)
			}
			for _, ms := range other.messages() {
				if len(ms[0].Identities) != 0 {
					t.Errorf("an unauthorised subscriber saw identities in %s", ms[0].Type)
				}
			}
			for _, ms := range allowed.messages() {
				m := ms[0]
				if m.SubjectRef != ref.String() {
					t.Errorf("%s subject_ref %q", m.Type, m.SubjectRef)
				}
				switch m.Type {
				case lethe.EventSubjectErased, lethe.EventRequestCompleted:
					if len(m.Identities) != 2 || m.Identities[0].Value != "jane@example.com" {
						t.Errorf("%s identities %+v, want both", m.Type, m.Identities)
					}
				case lethe.EventConsentChanged:
					if len(m.Identities) != 1 || m.Identities[0].Value != "user-7" {
						t.Errorf("consent.changed identities %+v", m.Identities)
					}
				}
			}
			// Delivered to every subscriber: the sealed identities are gone.
			e, err := s.EventGet(ctx, "req_1:subject.erased")
			if err != nil || e.Identities != nil {
				t.Errorf("identities kept after delivery to everyone: %v, %v", e.Identities != nil, err)
			}
		})
	}
}

func TestArt19NoticesReachRecipientsOfAffectedPurposesOnly(t *testing.T) {
	s := openPostgres(t)
	mailer, mailerURL := webhookServer(t, 0)
	tracker, trackerURL := webhookServer(t, 0)
	cfg := testConfig()
	cfg.Purposes[0].Recipients = []lethe.Recipient{{Name: "Mailer Inc", Notify: &lethe.RecipientNotify{URL: mailerURL, Secret: string(mailer.secret)}}}
	cfg.Purposes[1].Recipients = []lethe.Recipient{{Name: "Tracker Ltd", Notify: &lethe.RecipientNotify{URL: trackerURL, Secret: string(tracker.secret)}}}
	b := newBus(t, events.Options{Config: cfg, Store: s})

	if got := events.RecipientsFor(cfg, []string{"contact.email"}); len(got) != 1 || got[0].Name != "Mailer Inc" {
		t.Errorf("RecipientsFor(contact.email) = %+v, want Mailer Inc", got)
	}
	if got := events.RecipientsFor(cfg, []string{"contact.email", "network.ip"}); len(got) != 2 {
		t.Errorf("RecipientsFor(both) = %+v, want both", got)
	}
	ref := lethe.SubjectRef{1}
	req := lethe.Request{ID: "req_r", Type: lethe.RequestRectification, Status: lethe.RequestCompleted, SubjectRef: ref}
	ctx := context.Background()
	if err := b.RequestFinished(ctx, req, []lethe.Identity{{Type: lethe.IdentityEmail, Value: "jane@example.com"}}, []string{"contact.email"}); err != nil {
		t.Fatal(err)
	}
	// A failed request tells no recipient.
	failed := lethe.Request{ID: "req_f", Type: lethe.RequestErasure, Status: lethe.RequestFailed, SubjectRef: ref}
	if err := b.RequestFinished(ctx, failed, nil, nil); err != nil {
		t.Fatal(err)
	}
	drain(t, b)
	if n := len(tracker.messages()); n != 0 {
		t.Errorf("the recipient of an unaffected purpose got %d notices", n)
	}
	got := mailer.messages()
	if len(got) != 1 {
		t.Fatalf("Mailer Inc got %d events, want the one notice", len(got))
	}
	for _, ms := range got {
		m := ms[0]
		var notice events.RecipientNotice
		_ = json.Unmarshal(m.Data, &notice)
		if m.Type != lethe.EventRecipientNotice || notice.RequestID != "req_r" || !slices.Equal(notice.Purposes, []string{"newsletter"}) ||
			len(m.Identities) != 1 || m.Identities[0].Value != "jane@example.com" {
			t.Errorf("notice %+v with %+v", m, notice)
		}
	}
	// The delivery is evidence in the audit log.
	var notified int
	if err := s.AuditEntries(ctx, 0, 1<<62, func(e lethe.AuditEntry) error {
		if e.Action == "recipient.notified" && e.Details["recipient"] == "Mailer Inc" {
			notified++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if notified != 1 {
		t.Errorf("%d recipient.notified entries, want 1", notified)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	_, err := events.New(events.Options{Config: testConfig(), Store: openSQLite(t), Key: []byte("short")})
	if lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("short key: %v", err)
	}
	var le *lethe.Error
	if _, err := events.New(events.Options{}); !errors.As(err, &le) {
		t.Errorf("no options: %v", err)
	}
}

func TestRestrictionAndObjectionReachSubscribers(t *testing.T) {
	s := openSQLite(t)
	cfg := testConfig()
	cfg.Purposes = append(cfg.Purposes, lethe.Purpose{ID: "fraud", LawfulBasis: lethe.BasisLegitimateInterests})
	rec, url := webhookServer(t, 0)
	cfg.Events = &lethe.Events{Webhooks: []lethe.EventWebhook{{Name: "crm", URL: url, Secret: string(rec.secret),
		Events: []lethe.EventType{lethe.EventSubjectRestricted, lethe.EventSubjectObjected}}}}
	l, _ := ledger(t, s, cfg)
	b := newBus(t, events.Options{Config: cfg, Store: s})
	ref, _ := l.SubjectRef("user-9")
	record(t, l, "user-9", true) // not subscribed to: skipped
	if err := l.Restrict(context.Background(), []lethe.SubjectRef{ref}, consent.RestrictParams{RequestID: "req_9", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	drain(t, b)
	got := rec.messages()
	if len(got) != 1 {
		t.Fatalf("%d events, want the restriction only: %v", len(got), got)
	}
	for id, ms := range got {
		var change events.ProcessingChange
		_ = json.Unmarshal(ms[0].Data, &change)
		if ms[0].Type != lethe.EventSubjectRestricted || !change.Restricted || change.RequestID != "req_9" || ms[0].SubjectRef != ref.String() || !strings.HasPrefix(id, "audit:") {
			t.Errorf("event %s: %+v %+v", id, ms[0], change)
		}
	}
}
