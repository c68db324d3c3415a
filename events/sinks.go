package events

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector/webhook"
)

// Sink is one subscriber. Its name keys its delivery state in the store.
type Sink interface {
	Name() string
	// Accepts reports whether the subscriber takes the event.
	Accepts(m *Message) bool
	// Identities reports whether the subscriber may see identities.
	Identities() bool
	// Deliver sends the message, body being its JSON. An error says why,
	// without personal data or secrets; the event is retried.
	Deliver(ctx context.Context, m *Message, body []byte) error
}

// broadcast are the types a subscriber takes when it names none.
var broadcast = []lethe.EventType{lethe.EventConsentChanged, lethe.EventRequestCompleted, lethe.EventSubjectErased, lethe.EventSubjectRestricted, lethe.EventSubjectObjected}

func accepts(types []lethe.EventType, m *Message) bool {
	if m.Recipient != "" {
		return false // addressed to one recipient
	}
	if len(types) == 0 {
		types = broadcast
	}
	return slices.Contains(types, m.Type)
}

// sinksFor builds the subscribers the config declares.
func sinksFor(cfg *lethe.Config, client *http.Client, clock lethe.Clock) ([]Sink, error) {
	var out []Sink
	if ev := cfg.Events; ev != nil {
		if ev.NATS != nil {
			out = append(out, &NATSSink{cfg: *ev.NATS})
		}
		for _, w := range ev.Webhooks {
			out = append(out, &WebhookSink{name: "webhook:" + w.Name, url: w.URL, secret: []byte(w.Secret),
				types: w.Events, identities: w.Identities, client: client, clock: clock})
		}
	}
	seen := map[string]bool{}
	for _, p := range cfg.Purposes {
		for _, r := range p.Recipients {
			if r.Notify == nil || seen[r.Name] {
				continue
			}
			seen[r.Name] = true
			out = append(out, &WebhookSink{name: "recipient:" + r.Name, recipient: r.Name,
				url: r.Notify.URL, secret: []byte(r.Notify.Secret), identities: true, client: client, clock: clock})
		}
	}
	return out, nil
}

// WebhookSink posts each event, signed like connector/webhook's calls:
// Lethe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">, with
// the event's id in Lethe-Event-Id.
type WebhookSink struct {
	name       string
	recipient  string // set for a recipient's notify webhook
	url        string
	secret     []byte
	types      []lethe.EventType
	identities bool
	client     *http.Client
	clock      lethe.Clock
}

// NewWebhookSink returns a webhook subscriber named "webhook:"+name.
func NewWebhookSink(name, url string, secret []byte, types []lethe.EventType, identities bool, client *http.Client) *WebhookSink {
	return &WebhookSink{name: "webhook:" + name, url: url, secret: secret, types: types, identities: identities,
		client: cmp.Or(client, http.DefaultClient), clock: lethe.SystemClock{}}
}

// Name implements Sink.
func (w *WebhookSink) Name() string { return w.name }

// Identities implements Sink.
func (w *WebhookSink) Identities() bool { return w.identities }

// Accepts implements Sink: a recipient's webhook takes the notices
// addressed to it, any other the types it names.
func (w *WebhookSink) Accepts(m *Message) bool {
	if w.recipient != "" {
		return m.Type == lethe.EventRecipientNotice && m.Recipient == w.recipient
	}
	return accepts(w.types, m)
}

// Deliver implements Sink: any 2xx answer is a delivery.
func (w *WebhookSink) Deliver(ctx context.Context, m *Message, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lethe-events")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(w.secret, body, w.clock.Now()))
	req.Header.Set("Lethe-Event-Id", m.ID)
	req.Header.Set("Lethe-Event-Type", string(m.Type))
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text quotes the URL, which may hold a token
		}
		return fmt.Errorf("post event: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the webhook answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// NATSSink publishes to JetStream subjects <subject_prefix>.<type>, with
// the event id as Nats-Msg-Id so that the stream drops redeliveries
// within its duplicate window.
type NATSSink struct {
	cfg lethe.NATSEvents

	mu sync.Mutex
	nc *nats.Conn
	js jetstream.JetStream
}

// NewNATSSink returns the NATS subscriber.
func NewNATSSink(cfg lethe.NATSEvents) *NATSSink { return &NATSSink{cfg: cfg} }

// Name implements Sink.
func (n *NATSSink) Name() string { return "nats" }

// Identities implements Sink.
func (n *NATSSink) Identities() bool { return n.cfg.Identities }

// Accepts implements Sink.
func (n *NATSSink) Accepts(m *Message) bool { return accepts(n.cfg.Events, m) }

// Subject returns the subject an event type is published on.
func (n *NATSSink) Subject(t lethe.EventType) string {
	return cmp.Or(n.cfg.SubjectPrefix, "lethe") + "." + string(t)
}

func (n *NATSSink) connect(ctx context.Context) (jetstream.JetStream, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.js != nil {
		return n.js, nil
	}
	nc, err := nats.Connect(n.cfg.URL, nats.Name("lethe"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	if n.cfg.Stream != "" {
		if _, err := js.Stream(ctx, n.cfg.Stream); errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: n.cfg.Stream, Subjects: []string{cmp.Or(n.cfg.SubjectPrefix, "lethe") + ".>"}})
			if err != nil {
				nc.Close()
				return nil, fmt.Errorf("create JetStream stream %s: %w", n.cfg.Stream, err)
			}
		} else if err != nil {
			nc.Close()
			return nil, fmt.Errorf("look up JetStream stream %s: %w", n.cfg.Stream, err)
		}
	}
	n.nc, n.js = nc, js
	return js, nil
}

// Deliver implements Sink: the publish counts once JetStream acknowledged
// it (stored, or a duplicate it already had).
func (n *NATSSink) Deliver(ctx context.Context, m *Message, body []byte) error {
	js, err := n.connect(ctx)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(n.Subject(m.Type))
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, m.ID)
	msg.Header.Set("Lethe-Event-Type", string(m.Type))
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish to JetStream: %w", err)
	}
	return nil
}

// Close closes the connection.
func (n *NATSSink) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nc != nil {
		n.nc.Close()
		n.nc, n.js = nil, nil
	}
	return nil
}
