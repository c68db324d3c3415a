package connector_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/dsr"
)

// An application plugs its own service into Lethe with two functions, the
// export_user_data / erase_user pattern, under a datastore declared with
// driver: custom. Lethe then exports and erases it along with the
// databases of the data map.
func ExampleFuncs() {
	// The application's own records: a loyalty service, by e-mail.
	var mu sync.Mutex
	points := map[string][]map[string]any{
		"jane@example.com": {{"card": "L-1001", "points": int64(420)}},
		"max@example.com":  {{"card": "L-1002", "points": int64(15)}},
	}
	loyalty := connector.Funcs{
		ExportUserData: func(ctx context.Context, q connector.SubjectQuery, emit func(map[string]any) error) error {
			mu.Lock()
			defer mu.Unlock()
			for _, email := range q.Identities["email"] {
				for _, rec := range points[strings.ToLower(fmt.Sprint(email))] {
					if err := emit(rec); err != nil {
						return err
					}
				}
			}
			return nil
		},
		EraseUser: func(ctx context.Context, q connector.SubjectQuery) (int64, error) {
			mu.Lock()
			defer mu.Unlock()
			var n int64
			for _, email := range q.Identities["email"] {
				key := strings.ToLower(fmt.Sprint(email))
				n += int64(len(points[key]))
				delete(points, key)
			}
			return n, nil
		},
	}

	cfg, err := config.Parse([]byte(`
controller: {name: Example Shop GmbH}
purposes: [{id: loyalty, lawful_basis: contract, categories: [loyalty.points]}]
datastores:
  loyalty:
    driver: custom
    collections:
      cards:
        identities: {email: email}
        fields: {points: {category: loyalty.points}}
`), "lethe.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	set := connector.NewSet(cfg.Datastores, connector.Options{Custom: map[string]lethe.Connector{"loyalty": loyalty}})
	defer set.Close()
	engine, err := dsr.New(dsr.Options{Config: cfg, Connectors: set, TempDir: os.TempDir()})
	if err != nil {
		fmt.Println(err)
		return
	}
	jane := []lethe.Identity{{Type: lethe.IdentityEmail, Value: "Jane@Example.com"}}
	cert, err := engine.Erase(context.Background(), dsr.EraseParams{RequestID: "req_example", Identities: jane})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range cert.Steps {
		fmt.Printf("%s.%s: %s %d row(s), %s\n", s.Datastore, s.Collection, s.Action, s.Rows, s.Status)
	}
	fmt.Println("verified:", cert.Verification.Passed)
	remaining := slices.Sorted(func(yield func(string) bool) {
		for k := range points {
			if !yield(k) {
				return
			}
		}
	})
	fmt.Println("left:", remaining)
	// Output:
	// loyalty.cards: delete 1 row(s), done
	// verified: true
	// left: [max@example.com]
}
