package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector/webhook"
)

// A service written in Go receives Lethe's calls: VerifyRequest refuses
// any call whose signature does not check out, and the handler decodes
// the Call and answers with the subject's rows.
func ExampleVerifyRequest() {
	secret := []byte("the datastore's secret, shared with Lethe")

	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var call webhook.Call
		if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
			http.Error(w, "bad call", http.StatusBadRequest)
			return
		}
		fmt.Println("service got:", call.Action, call.Collection, call.Identities["email"])
		switch call.Action {
		case webhook.ActionAccess:
			json.NewEncoder(w).Encode(map[string]any{"rows": []map[string]any{
				{"email": "jane@example.com", "plan": "pro"},
			}})
		case webhook.ActionErasure:
			json.NewEncoder(w).Encode(map[string]any{"erased": 1})
		}
	})
	srv := httptest.NewServer(webhook.VerifyRequest(secret, receiver))
	defer srv.Close()

	// Lethe's side.
	conn := webhook.New(srv.URL, secret, webhook.Options{})
	defer conn.Close()
	contacts := &lethe.Collection{Name: "contacts"}
	matches := []lethe.Match{{Column: "email", Identity: lethe.IdentityEmail, Values: []any{"jane@example.com"}}}
	err := conn.Find(context.Background(), lethe.FindParams{Collection: contacts, Matches: matches}, func(row lethe.Row) error {
		plan, _ := row.Get("plan")
		fmt.Println("lethe got a row, plan:", plan)
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}

	// A caller without the secret is refused before the handler runs.
	body := []byte(`{"action":"erasure","collection":"contacts","identities":{"email":["jane@example.com"]}}`)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	req.Header.Set(webhook.SignatureHeader, webhook.Sign([]byte("a guess"), body, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		fmt.Println("forged call:", resp.Status)
		resp.Body.Close()
	}
	// Output:
	// service got: access contacts [jane@example.com]
	// lethe got a row, plan: pro
	// forged call: 401 Unauthorized
}

// Verify checks the signature over the raw body, and refuses a call
// recorded and replayed after the tolerance.
func ExampleVerify() {
	secret := []byte("the datastore's secret, shared with Lethe")
	body := []byte(`{"action":"access","request_id":"dsr_1","collection":"contacts","identities":{"email":["jane@example.com"]}}`)
	sent := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	header := webhook.Sign(secret, body, sent)

	fmt.Println(webhook.Verify(secret, header, body, sent.Add(2*time.Second), 0))
	fmt.Println(webhook.Verify(secret, header, body, sent.Add(time.Hour), 0))
	fmt.Println(webhook.Verify([]byte("another secret"), header, body, sent, 0))
	// Output:
	// <nil>
	// webhook: the signature's timestamp is outside the tolerance (a replayed call, or clocks apart)
	// webhook: the signature does not match the body and timestamp; check the secret
}
