package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector/connectortest"
)

// The shared suite, against a service that keeps the dataset in memory
// and implements the protocol as doc.go describes it: what the suite
// checks of the connector is the call it sends (identities, each value
// once, no call without values), the streaming decode, Columns and
// Distinct, erase counts, cancellation and concurrency; what it checks
// of the service (each row once, exact matches) is this fake's.
//
// Not claimed: Anonymise (the service applies its own masks; none are
// sent), Cutoff (refused), Transactions (one call per step), Schema (a
// service has no columns to describe) and Types (JSON has no time type:
// created_at arrives as text).
func TestSuite(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Capabilities: connectortest.Capabilities{References: true, Columns: true},
		Setup:        suiteSetup,
	})
}

// fakeService holds users and orders and answers signed calls.
type fakeService struct {
	mu     sync.Mutex
	users  []connectortest.User
	orders []connectortest.Order
}

func suiteSetup(t testing.TB, data connectortest.Dataset) connectortest.Fixture {
	svc := &fakeService{users: slices.Clone(data.Users), orders: slices.Clone(data.Orders)}
	srv := httptest.NewServer(VerifyRequest(testSecret, http.HandlerFunc(svc.serve)))
	t.Cleanup(srv.Close)
	c := New(srv.URL, testSecret, Options{MinBackoff: time.Millisecond})
	t.Cleanup(func() { c.Close() })
	return connectortest.Fixture{
		Connector: c,
		Users: &lethe.Collection{Name: "users", Datastore: "svc", PrimaryKey: "id",
			Identities: map[lethe.IdentityType]string{lethe.IdentityUserID: "id", lethe.IdentityEmail: "email"},
			Fields:     map[string]*lethe.Field{"email": {Category: "contact.email"}, "name": {Category: "name"}}},
		Orders: &lethe.Collection{Name: "orders", Datastore: "svc", PrimaryKey: "id",
			References: map[string]string{"user_id": "users.id"},
			Fields:     map[string]*lethe.Field{"note": {Category: "free_text"}}},
		Raw: svc.raw,
	}
}

// has reports whether any of the identities' values under keys is v.
func has(ids map[string][]string, v string, keys ...string) bool {
	for _, k := range keys {
		if slices.Contains(ids[k], v) {
			return true
		}
	}
	return false
}

func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *fakeService) serve(w http.ResponseWriter, r *http.Request) {
	var call Call
	if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
		http.Error(w, "bad call", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []map[string]any
	erased := 0
	switch call.Collection {
	case "users":
		kept := s.users[:0:0]
		for _, u := range s.users {
			id := fmt.Sprint(u.ID)
			if !has(call.Identities, u.Email, "email") && !has(call.Identities, id, "user_id", "id") {
				kept = append(kept, u)
				continue
			}
			rows = append(rows, map[string]any{"id": u.ID, "email": u.Email, "name": null(u.Name), "created_at": u.CreatedAt.Format(time.RFC3339)})
			erased++
		}
		if call.Action == ActionErasure {
			s.users = kept
		}
	case "orders":
		kept := s.orders[:0:0]
		for _, o := range s.orders {
			if !has(call.Identities, fmt.Sprint(o.UserID), "user_id") && !has(call.Identities, fmt.Sprint(o.ID), "id") {
				kept = append(kept, o)
				continue
			}
			rows = append(rows, map[string]any{"id": o.ID, "user_id": o.UserID, "total": o.Total, "note": null(o.Note), "created_at": o.CreatedAt.Format(time.RFC3339)})
			erased++
		}
		if call.Action == ActionErasure {
			s.orders = kept
		}
	default:
		http.Error(w, "no such collection", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case call.Action == ActionErasure && call.Mode == ModeDelete:
		json.NewEncoder(w).Encode(map[string]any{"erased": erased})
	case call.Action == ActionAccess:
		if rows == nil {
			rows = []map[string]any{}
		}
		json.NewEncoder(w).Encode(map[string]any{"rows": rows})
	default:
		http.Error(w, "not implemented", http.StatusNotImplemented)
	}
}

func (s *fakeService) raw(t testing.TB, collection string) []connectortest.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []connectortest.Record
	if collection == "users" {
		for _, u := range s.users {
			out = append(out, connectortest.Record{"id": fmt.Sprint(u.ID), "email": u.Email, "name": null(u.Name), "created_at": u.CreatedAt.Format(time.RFC3339)})
		}
		return out
	}
	for _, o := range s.orders {
		out = append(out, connectortest.Record{"id": fmt.Sprint(o.ID), "user_id": fmt.Sprint(o.UserID), "total": fmt.Sprint(o.Total), "note": null(o.Note), "created_at": o.CreatedAt.Format(time.RFC3339)})
	}
	return out
}
