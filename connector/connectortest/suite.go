package connectortest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Run runs the whole suite, each case on a fresh fixture from h.Setup.
func Run(t *testing.T, h Harness) {
	if h.Setup == nil {
		t.Fatal("connectortest: Harness.Setup is required")
	}
	caps := h.Capabilities
	cases := []struct {
		name string
		need bool
		fn   func(t *testing.T, h Harness)
	}{
		{"FindByIdentity", true, testFindByIdentity},
		{"FindByReference", caps.References, testFindByReference},
		{"MatchesORed", true, testMatchesORed},
		{"ColumnsDistinct", caps.Columns, testColumnsDistinct},
		{"LargeBatches", true, testLargeBatches},
		{"HostileValuesInert", true, testHostileValues},
		{"NoValues", true, testNoValues},
		{"Delete", true, testDelete},
		{"AwaitGate", caps.References, testAwait},
		{"Anonymise", caps.Anonymise, testAnonymise},
		{"AnonymiseLargeSubject", caps.Anonymise && caps.References, testAnonymiseLarge},
		{"ConstantMasks", caps.Anonymise, testConstantMasks},
		{"Cutoff", caps.Cutoff, testCutoff},
		{"Idempotent", true, testIdempotent},
		{"OneTransaction", caps.Transactions && caps.Anonymise, testOneTransaction},
		{"CancelStopsFind", true, testCancel},
		{"CallbackError", true, testCallbackError},
		{"Describe", true, testDescribe},
		{"MissingTableOrColumn", caps.Schema, testMissing},
		{"MaskOutputMustFit", caps.Schema && caps.Anonymise, testMaskMustFit},
		{"Concurrent", true, testConcurrent},
		{"ScanValues", true, testScanValues},
		{"Sample", true, testSample},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.need {
				t.Skip("the connector does not claim this capability")
			}
			t.Parallel()
			c.fn(t, h)
		})
	}
}

// ---- helpers ---------------------------------------------------------------

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// found is a row copied out of Find's callback.
type found map[string]any

func find(t *testing.T, fx Fixture, p lethe.FindParams) []found {
	t.Helper()
	var out []found
	err := fx.Connector.Find(ctxFor(t), p, func(r lethe.Row) error {
		if len(r.Columns) != len(r.Values) {
			t.Errorf("row has %d columns and %d values", len(r.Columns), len(r.Values))
		}
		f := found{}
		for i, c := range r.Columns {
			f[c] = r.Values[i]
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		t.Fatalf("find in %s: %v", p.Collection.Name, err)
	}
	return out
}

// ids returns the rows' id values as text, sorted, failing on a
// duplicate: Find returns each row once.
func ids(t *testing.T, rows []found) []string {
	t.Helper()
	var out []string
	for _, r := range rows {
		out = append(out, str(r["id"]))
	}
	slices.Sort(out)
	if d := slices.Compact(slices.Clone(out)); len(d) != len(out) {
		t.Errorf("rows returned more than once: %v", out)
	}
	return out
}

func idList(ids ...int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprint(id)
	}
	slices.Sort(out)
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func match(column string, values ...any) lethe.Match {
	return lethe.Match{Column: column, Values: values}
}

func erase(t *testing.T, fx Fixture, steps ...lethe.EraseStep) []int64 {
	t.Helper()
	res, err := fx.Connector.Erase(ctxFor(t), steps)
	if err != nil {
		t.Fatalf("erase: %v", err)
	}
	if len(res) != len(steps) {
		t.Fatalf("erase returned %d results for %d steps", len(res), len(steps))
	}
	out := make([]int64, len(res))
	for i, r := range res {
		out[i] = r.Rows
	}
	return out
}

func byID(records []Record) map[string]Record {
	out := map[string]Record{}
	for _, r := range records {
		out[r.ID()] = r
	}
	return out
}

func notUser(ids ...int64) func(Record) bool {
	return func(r Record) bool {
		for _, id := range ids {
			if r.ID() == fmt.Sprint(id) {
				return false
			}
		}
		return true
	}
}

func notOrderOf(ids ...int64) func(Record) bool {
	return func(r Record) bool {
		for _, id := range ids {
			if str(r["user_id"]) == fmt.Sprint(id) {
				return false
			}
		}
		return true
	}
}

func equalInts(a, b []int64) bool { return slices.Equal(a, b) }

// ---- cases -----------------------------------------------------------------

func testFindByIdentity(t *testing.T, h Harness) {
	data := baseData()
	fx := h.Setup(t, data)
	rows := find(t, fx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{{Column: "email", Values: []any{alice.Email}, Identity: lethe.IdentityEmail}}})
	if got := ids(t, rows); !slices.Equal(got, idList(alice.ID)) {
		t.Fatalf("by e-mail: found users %v, want [1]", got)
	}
	if rows[0]["email"] != alice.Email || rows[0]["name"] != alice.Name {
		t.Errorf("by e-mail: row %v does not hold the stored e-mail and name", rows[0])
	}
	// Identities arrive as text, whatever the column's type.
	rows = find(t, fx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{{Column: "id", Values: []any{"2"}, Identity: lethe.IdentityUserID}}})
	if got := ids(t, rows); !slices.Equal(got, idList(bob.ID)) {
		t.Fatalf("by user id \"2\": found users %v, want [2]", got)
	}
	if rows[0]["name"] != bob.Name {
		t.Errorf("user 2 has name %q, want the stored %q", rows[0]["name"], bob.Name)
	}
	rows = find(t, fx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{match("email", zoe.Email)}})
	if got := ids(t, rows); !slices.Equal(got, idList(zoe.ID)) || rows[0]["name"] != zoe.Name {
		t.Fatalf("by a unicode e-mail: found %v, want user 3 with its unicode name", rows)
	}
	if !h.Capabilities.Types {
		return
	}
	rows = find(t, fx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{match("id", int64(silentUser))}})
	if len(rows) != 1 {
		t.Fatalf("by user id %d: %d rows", silentUser, len(rows))
	}
	r := rows[0]
	want := data.user(silentUser)
	if r["id"] != want.ID {
		t.Errorf("id is %#v (%T), want int64 %d", r["id"], r["id"], want.ID)
	}
	if r["email"] != want.Email {
		t.Errorf("email is %#v (%T), want the string %q", r["email"], r["email"], want.Email)
	}
	if r["name"] != nil {
		t.Errorf("a NULL name came back as %#v", r["name"])
	}
	if ts, ok := r["created_at"].(time.Time); !ok || !ts.Equal(want.CreatedAt) {
		t.Errorf("created_at is %#v (%T), want the time.Time %v", r["created_at"], r["created_at"], want.CreatedAt)
	}
	for c, v := range r {
		switch v.(type) {
		case nil, int64, float64, bool, string, []byte, time.Time:
		default:
			t.Errorf("column %s: value of type %T is none of the Row types", c, v)
		}
	}
}

func testFindByReference(t *testing.T, h Harness) {
	data := baseData()
	fx := h.Setup(t, data)
	want := keys(data.ordersOf(1, 2))
	rows := find(t, fx, lethe.FindParams{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", int64(1), int64(2))}})
	if got := ids(t, rows); !slices.Equal(got, want) {
		t.Fatalf("orders of users 1 and 2: %v, want %v", got, want)
	}
	for _, r := range rows {
		if o := data.ordersOf(1, 2)[str(r["id"])]; str(r["note"]) != o.Note || str(r["user_id"]) != fmt.Sprint(o.UserID) {
			t.Errorf("order %v: row %v does not hold the stored values", o.ID, r)
		}
	}
	// Reference values as another datastore would hand them over: text.
	rows = find(t, fx, lethe.FindParams{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", "1", "2")}})
	if got := ids(t, rows); !slices.Equal(got, want) {
		t.Fatalf("orders of users \"1\" and \"2\": %v, want %v", got, want)
	}
}

func testMatchesORed(t *testing.T, h Harness) {
	fx := h.Setup(t, baseData())
	rows := find(t, fx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{
		match("email", alice.Email, bob.Email),
		match("id", "1", "2", "3"),
		match("email", alice.Email), // the same column again
	}})
	if got := ids(t, rows); !slices.Equal(got, idList(1, 2, 3)) {
		t.Fatalf("matches ORed: found users %v, want each of 1, 2, 3 once", got)
	}
}

func testColumnsDistinct(t *testing.T, h Harness) {
	data := baseData()
	fx := h.Setup(t, data)
	ctx := ctxFor(t)
	var got []string
	err := fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", int64(1), int64(2))}, Columns: []string{"user_id"}, Distinct: true}, func(r lethe.Row) error {
		if !slices.Equal(r.Columns, []string{"user_id"}) || len(r.Values) != 1 {
			t.Errorf("distinct user_id: row columns %v, values %d", r.Columns, len(r.Values))
		}
		got = append(got, str(r.Values[0]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("distinct user_id of the orders of users 1, 2: %v, want [1 2]", got)
	}
	n := 0
	err = fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", int64(1))}, Columns: []string{"note", "id"}}, func(r lethe.Row) error {
		n++
		if !slices.Equal(r.Columns, []string{"note", "id"}) || len(r.Values) != 2 {
			t.Errorf("columns note, id: row has columns %v and %d values", r.Columns, len(r.Values))
		}
		if o := data.ordersOf(1)[str(r.Values[1])]; str(r.Values[0]) != o.Note {
			t.Errorf("columns note, id: row %v does not hold order %v's note", r.Values, r.Values[1])
		}
		return nil
	})
	if err != nil || n != ordersPerUser {
		t.Fatalf("columns note, id: %d rows, %v", n, err)
	}
	rows := find(t, fx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{match("id", "1")}})
	if len(rows) != 1 || len(rows[0]) != 4 {
		t.Fatalf("no Columns: want every column (id, email, name, created_at), got %v", rows)
	}
	for _, c := range []string{"id", "email", "name", "created_at"} {
		if _, ok := rows[0][c]; !ok {
			t.Errorf("no Columns: column %s missing from %v", c, rows[0])
		}
	}
	// Distinct over several statements (more values than one batch, two
	// columns) still returns each combination once.
	var many []any
	for i := range 2 * lethe.MaxBatch {
		many = append(many, fmt.Sprintf("nobody%d@example.com", i))
	}
	got = nil
	err = fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{match("email", append([]any{alice.Email, bob.Email}, many...)...), match("id", int64(1), int64(2))}, Columns: []string{"id"}, Distinct: true}, func(r lethe.Row) error {
		got = append(got, str(r.Values[0]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("distinct over batches: %v, want [1 2]", got)
	}
	if !h.Capabilities.References {
		return
	}
	// One column over several statements: alice's three orders fall in
	// different batches, and her user_id is still returned once.
	orderIDs := make([]any, 2500)
	for i := range orderIDs {
		orderIDs[i] = int64(900000 + i)
	}
	orderIDs[0], orderIDs[1500], orderIDs[2400] = int64(100), int64(101), int64(102)
	got = nil
	err = fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Orders, Matches: []lethe.Match{match("id", orderIDs...)}, Columns: []string{"user_id"}, Distinct: true}, func(r lethe.Row) error {
		got = append(got, str(r.Values[0]))
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"1"}) {
		t.Fatalf("distinct user_id of three orders in three batches: %v, %v; want [1]", got, err)
	}
}

func testLargeBatches(t *testing.T, h Harness) {
	data := baseData()
	fx := h.Setup(t, data)
	var all []string
	for _, u := range data.Users {
		all = append(all, fmt.Sprint(u.ID))
	}
	slices.Sort(all)

	// 2,500 user ids: every real one, the rest unknown.
	var userIDs []any
	for i := int64(1); i <= 2500; i++ {
		if i <= numUsers {
			userIDs = append(userIDs, fmt.Sprint(i))
		} else {
			userIDs = append(userIDs, fmt.Sprint(10000+i))
		}
	}
	rows := find(t, fx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{{Column: "id", Values: userIDs}}})
	if got := ids(t, rows); !slices.Equal(got, all) {
		t.Fatalf("2,500 user ids: found %d users, want the %d stored", len(got), len(all))
	}

	// Two columns, each over one batch: rows selected through both are
	// returned once.
	var emails, ids2 []any
	for i := range 1500 {
		if i < numUsers {
			emails = append(emails, data.Users[i].Email)
			ids2 = append(ids2, fmt.Sprint(data.Users[i].ID))
		} else {
			emails = append(emails, fmt.Sprintf("nobody%d@example.com", i))
			ids2 = append(ids2, fmt.Sprint(20000+i))
		}
	}
	rows = find(t, fx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{match("email", emails...), match("id", ids2...)}})
	if got := ids(t, rows); !slices.Equal(got, all) {
		t.Fatalf("1,500 e-mails ORed with 1,500 ids: found %d users, want each of %d once", len(got), len(all))
	}

	if !h.Capabilities.References {
		return
	}
	rows = find(t, fx, lethe.FindParams{Collection: fx.Orders, Matches: []lethe.Match{{Column: "user_id", Values: userIDs}}})
	if got := ids(t, rows); len(got) != len(data.Orders) {
		t.Fatalf("orders of 2,500 user ids: %d, want %d", len(got), len(data.Orders))
	}
	// Erase the orders of users 1..20 among 2,500 values.
	var half []any
	for i := int64(1); i <= 2500; i++ {
		if i <= numUsers/2 {
			half = append(half, i)
		} else {
			half = append(half, 10000+i)
		}
	}
	before := fx.Raw(t, "orders")
	n := erase(t, fx, lethe.EraseStep{Collection: fx.Orders, Matches: []lethe.Match{{Column: "user_id", Values: half}}, Action: lethe.EraseDelete})
	if n[0] != numUsers/2*ordersPerUser {
		t.Errorf("delete the orders of 20 users named among 2,500 values: %d rows, want %d", n[0], numUsers/2*ordersPerUser)
	}
	after := fx.Raw(t, "orders")
	kept := func(r Record) bool {
		for i := int64(1); i <= numUsers/2; i++ {
			if str(r["user_id"]) == fmt.Sprint(i) {
				return false
			}
		}
		return true
	}
	if len(after) != len(before)-numUsers/2*ordersPerUser || checksum(after, nil) != checksum(before, kept) {
		t.Errorf("after the batched delete %d orders remain (want %d), or other users' orders changed", len(after), len(before)-numUsers/2*ordersPerUser)
	}
}

// hostile are identity values that must select nothing and break nothing.
var hostile = []string{
	"' OR '1'='1",
	"' OR 1=1 --",
	"1; DROP TABLE users",
	"1 OR 1=1",
	`"; DROP TABLE users; --`,
	`\' OR 1=1 #`,
	"alice@example.com' --",
	"alice@example.com\" OR \"\"=\"",
	"') UNION SELECT * FROM users --",
	"%",
	"_",
	"*",
	"alice@example.com%",
	"ALICE@EXAMPLE.COM",  // exact: a case-insensitive collation must not
	"alice@example.com ", // conflate identities, nor trailing spaces
	" alice@example.com",
	"ålice@exämple.com",
	"😀@example.com",
	"\u202egro.elpmaxe@ecila",
	"a\x00b",
	"$1",
	"?",
	"",
	strings.Repeat("x", 5000),
}

func testHostileValues(t *testing.T, h Harness) {
	fx := h.Setup(t, baseData())
	ctx := ctxFor(t)
	usersBefore, ordersBefore := checksum(fx.Raw(t, "users"), nil), checksum(fx.Raw(t, "orders"), nil)
	values := make([]any, len(hostile))
	for i, v := range hostile {
		values[i] = v
	}
	if h.Capabilities.Types {
		// Values that cannot be integers, for the integer id.
		values = append(values, "abc", "1.5", 1.5, "99999999999999999999", 1e30, true, time.Now(), []byte("1 OR 1=1"),
			struct{ X int }{1}, map[string]int{"a": 1}, " 1", "1 ", "0x1", "1e3", "+-1", nil)
	}
	for _, column := range []string{"email", "id"} {
		for _, v := range values {
			n := 0
			err := fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{{Column: column, Values: []any{v}}}}, func(lethe.Row) error { n++; return nil })
			if err != nil || n != 0 {
				t.Errorf("find users by %s %q: %d rows, error %v; want none and no error", column, fmt.Sprint(v), n, err)
			}
		}
		// All at once, in one statement.
		n := 0
		err := fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{{Column: column, Values: values}}}, func(lethe.Row) error { n++; return nil })
		if err != nil || n != 0 {
			t.Errorf("find users by %d hostile %s values: %d rows, error %v", len(values), column, n, err)
		}
		res, err := fx.Connector.Erase(ctx, []lethe.EraseStep{{Collection: fx.Users, Matches: []lethe.Match{{Column: column, Values: values}}, Action: lethe.EraseDelete}})
		if err != nil || len(res) != 1 || res[0].Rows != 0 {
			t.Errorf("erase users by hostile %s values: %v, %v; want 0 rows and no error", column, res, err)
		}
	}
	if checksum(fx.Raw(t, "users"), nil) != usersBefore || checksum(fx.Raw(t, "orders"), nil) != ordersBefore {
		t.Fatal("hostile values changed the stored data")
	}
}

func testNoValues(t *testing.T, h Harness) {
	fx := h.Setup(t, baseData())
	for _, ms := range [][]lethe.Match{nil, {match("email")}, {{Column: "email", Values: []any{}}}} {
		if rows := find(t, fx, lethe.FindParams{Collection: fx.Users, Matches: ms}); len(rows) != 0 {
			t.Errorf("matches %v select nothing, found %d rows", ms, len(rows))
		}
		if n := erase(t, fx, lethe.EraseStep{Collection: fx.Users, Matches: ms, Action: lethe.EraseDelete}); n[0] != 0 {
			t.Errorf("erase with matches %v: %d rows, want 0", ms, n[0])
		}
	}
	if n := erase(t, fx); len(n) != 0 {
		t.Errorf("erase without steps: %v", n)
	}
	if got := len(fx.Raw(t, "users")); got != numUsers {
		t.Fatalf("%d users remain, want all %d", got, numUsers)
	}
}

func testDelete(t *testing.T, h Harness) {
	data := baseData()
	fx := h.Setup(t, data)
	users0, orders0 := fx.Raw(t, "users"), fx.Raw(t, "orders")
	var steps []lethe.EraseStep
	if h.Capabilities.References {
		steps = append(steps, lethe.EraseStep{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", alice.ID)}, Action: lethe.EraseDelete})
	}
	steps = append(steps, lethe.EraseStep{Collection: fx.Users, Matches: []lethe.Match{{Column: "email", Values: []any{alice.Email}, Identity: lethe.IdentityEmail}, {Column: "id", Values: []any{"1"}, Identity: lethe.IdentityUserID}}, Action: lethe.EraseDelete})
	got := erase(t, fx, steps...)
	want := []int64{1}
	if h.Capabilities.References {
		want = []int64{ordersPerUser, 1}
	}
	if !equalInts(got, want) {
		t.Errorf("delete alice: rows %v, want %v", got, want)
	}
	users1, orders1 := fx.Raw(t, "users"), fx.Raw(t, "orders")
	if _, ok := byID(users1)["1"]; ok {
		t.Error("alice's user row is still stored")
	}
	if checksum(users1, nil) != checksum(users0, notUser(alice.ID)) {
		t.Error("other users' rows changed")
	}
	if h.Capabilities.References {
		for _, r := range orders1 {
			if str(r["user_id"]) == "1" {
				t.Errorf("alice's order %s is still stored", r.ID())
			}
		}
		if checksum(orders1, nil) != checksum(orders0, notOrderOf(alice.ID)) {
			t.Error("other users' orders changed")
		}
	}
}

// testAwait: a step whose Await refuses is skipped with the ones after
// it, the steps before are kept, and Erase reports no error; an Await
// that lets it through applies it.
func testAwait(t *testing.T, h Harness) {
	fx := h.Setup(t, baseData())
	calls := 0
	closed := func(context.Context) error { calls++; return errors.New("another datastore failed") }
	steps := []lethe.EraseStep{
		{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", alice.ID)}, Action: lethe.EraseDelete},
		{Collection: fx.Users, Matches: []lethe.Match{{Column: "id", Values: []any{"1"}, Identity: lethe.IdentityUserID}}, Action: lethe.EraseDelete, Await: closed},
	}
	res, err := fx.Connector.Erase(context.Background(), steps)
	if err != nil {
		t.Fatalf("a closed gate is not an error: %v", err)
	}
	if calls != 1 || len(res) != 2 || res[0].Rows != ordersPerUser || res[0].Skipped || !res[1].Skipped || res[1].Rows != 0 {
		t.Fatalf("closed gate: %d calls, results %+v; want the orders deleted and users skipped", calls, res)
	}
	if _, ok := byID(fx.Raw(t, "users"))["1"]; !ok {
		t.Error("the user behind a closed gate was deleted")
	}
	for _, r := range fx.Raw(t, "orders") {
		if str(r["user_id"]) == "1" {
			t.Errorf("the order %s before the gate was not deleted (or rolled back)", r.ID())
		}
	}
	steps[1].Await = func(context.Context) error { return nil }
	res, err = fx.Connector.Erase(context.Background(), steps[1:])
	if err != nil || len(res) != 1 || res[0].Rows != 1 || res[0].Skipped {
		t.Fatalf("open gate: %+v, %v", res, err)
	}
	if _, ok := byID(fx.Raw(t, "users"))["1"]; ok {
		t.Error("the user behind an open gate is still stored")
	}
}

func testAnonymise(t *testing.T, h Harness) {
	data := baseData()
	fx := h.Setup(t, data)
	users0 := fx.Raw(t, "users")
	orders0 := fx.Raw(t, "orders")
	m := &hashMask{}
	got := erase(t, fx, lethe.EraseStep{
		Collection: fx.Users,
		Matches:    []lethe.Match{match("email", alice.Email), match("id", "2", fmt.Sprint(silentUser))},
		Action:     lethe.EraseAnonymise,
		Masks:      map[string]lethe.Mask{"email": m, "name": m},
	})
	if !equalInts(got, []int64{3}) {
		t.Errorf("anonymise users 1, 2, %d: rows %v, want [3]", silentUser, got)
	}
	users1 := byID(fx.Raw(t, "users"))
	before := byID(users0)
	for _, id := range []int64{alice.ID, bob.ID, silentUser} {
		u := data.user(id)
		r := users1[fmt.Sprint(id)]
		if r == nil {
			t.Fatalf("anonymise deleted user %d", id)
		}
		if r["email"] != masked(u.Email) {
			t.Errorf("user %d: email is %v, want the mask's output %s", id, r["email"], masked(u.Email))
		}
		wantName := any(nil)
		if u.Name != "" {
			wantName = masked(u.Name)
		}
		if r["name"] != wantName {
			t.Errorf("user %d: name is %v, want %v", id, r["name"], wantName)
		}
		for _, c := range []string{"id", "created_at"} {
			if str(r[c]) != str(before[fmt.Sprint(id)][c]) {
				t.Errorf("user %d: unmasked column %s changed from %v to %v", id, c, before[fmt.Sprint(id)][c], r[c])
			}
		}
	}
	var after []Record
	for _, r := range users1 {
		after = append(after, r)
	}
	if checksum(after, notUser(alice.ID, bob.ID, silentUser)) != checksum(users0, notUser(alice.ID, bob.ID, silentUser)) {
		t.Error("other users' rows changed")
	}
	if checksum(fx.Raw(t, "orders"), nil) != checksum(orders0, nil) {
		t.Error("anonymising users changed orders")
	}
}

func testAnonymiseLarge(t *testing.T, h Harness) {
	data := withBulk(baseData())
	fx := h.Setup(t, data)
	orders0 := fx.Raw(t, "orders")
	m := &hashMask{}
	want := int64(len(data.ordersOf(bulkUser)))
	got := erase(t, fx, lethe.EraseStep{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", int64(bulkUser))}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"note": m}})
	if got[0] != want {
		t.Errorf("anonymise the %d orders of user %d: rows %d", want, bulkUser, got[0])
	}
	orders1 := fx.Raw(t, "orders")
	theirs := data.ordersOf(bulkUser)
	for _, r := range orders1 {
		o, ok := theirs[r.ID()]
		if !ok {
			continue
		}
		if r["note"] != masked(o.Note) {
			t.Fatalf("order %d: note is %v, want the mask's output", o.ID, r["note"])
		}
		if str(r["total"]) != fmt.Sprint(o.Total) {
			t.Fatalf("order %d: unmasked total changed", o.ID)
		}
	}
	if checksum(orders1, notOrderOf(bulkUser)) != checksum(orders0, notOrderOf(bulkUser)) {
		t.Error("other users' orders changed")
	}
	if calls := m.calls.Load(); calls >= want {
		t.Logf("the mask ran %d times for %d rows with 10 distinct notes (no reuse of outputs)", calls, want)
	}
	if got := erase(t, fx, lethe.EraseStep{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", int64(bulkUser))}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"note": m}}); got[0] != 0 {
		t.Errorf("anonymising the same orders again changed %d rows, want 0", got[0])
	}
}

func testConstantMasks(t *testing.T, h Harness) {
	data := baseData()
	fx := h.Setup(t, data)
	users0 := fx.Raw(t, "users")
	step := lethe.EraseStep{Collection: fx.Users, Matches: []lethe.Match{match("id", "1", "2", fmt.Sprint(silentUser))}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"name": constMask{nil}}}
	if got := erase(t, fx, step); !equalInts(got, []int64{2}) {
		t.Errorf("null mask on the names of users 1, 2 and %d (already NULL): rows %v, want [2]", silentUser, got)
	}
	users1 := byID(fx.Raw(t, "users"))
	for _, id := range []string{"1", "2"} {
		if users1[id]["name"] != nil {
			t.Errorf("user %s: name %v, want NULL", id, users1[id]["name"])
		}
		if users1[id]["email"] != byID(users0)[id]["email"] {
			t.Errorf("user %s: the unmasked email changed", id)
		}
	}
	if got := erase(t, fx, step); !equalInts(got, []int64{0}) {
		t.Errorf("the same null mask again: rows %v, want [0]", got)
	}
	// A fixed value with a computed mask in the same step; a NULL stays
	// NULL, as Apply(nil) returns nil.
	mixed := lethe.EraseStep{Collection: fx.Users, Matches: []lethe.Match{match("email", data.user(4).Email, data.user(silentUser).Email)}, Action: lethe.EraseAnonymise,
		Masks: map[string]lethe.Mask{"name": constMask{"[redacted]"}, "email": &hashMask{}}}
	if got := erase(t, fx, mixed); !equalInts(got, []int64{2}) {
		t.Errorf("fixed and computed masks on users 4 and %d: rows %v, want [2]", silentUser, got)
	}
	users2 := byID(fx.Raw(t, "users"))
	if r := users2["4"]; r["name"] != "[redacted]" || r["email"] != masked(data.user(4).Email) {
		t.Errorf("user 4: name %v, email %v; want [redacted] and the mask's output", r["name"], r["email"])
	}
	if r := users2[fmt.Sprint(silentUser)]; r["name"] != nil {
		t.Errorf("user %d: a NULL name became %v", silentUser, r["name"])
	}
	// The same on one row alone.
	mixed.Matches = []lethe.Match{match("id", int64(6))}
	if got := erase(t, fx, mixed); !equalInts(got, []int64{1}) {
		t.Errorf("fixed and computed masks on user 6: rows %v, want [1]", got)
	}
	if r := byID(fx.Raw(t, "users"))["6"]; r["name"] != "[redacted]" || r["email"] != masked(data.user(6).Email) {
		t.Errorf("user 6: name %v, email %v; want [redacted] and the mask's output", r["name"], r["email"])
	}
	if got := erase(t, fx, mixed); !equalInts(got, []int64{0}) {
		t.Errorf("fixed and computed masks on user 6 again: rows %v, want [0]", got)
	}
	fixedOnly := lethe.EraseStep{Collection: fx.Users, Matches: []lethe.Match{match("id", int64(5), int64(silentUser))}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"name": constMask{"[redacted]"}}}
	if got := erase(t, fx, fixedOnly); !equalInts(got, []int64{1}) {
		t.Errorf("fixed mask on user 5 and user %d (NULL name): rows %v, want [1]", silentUser, got)
	}
	if got := erase(t, fx, fixedOnly); !equalInts(got, []int64{0}) {
		t.Errorf("the same fixed mask again: rows %v, want [0]", got)
	}
	users3 := byID(fx.Raw(t, "users"))
	if users3["5"]["name"] != "[redacted]" || users3[fmt.Sprint(silentUser)]["name"] != nil {
		t.Errorf("fixed mask: user 5 name %v, user %d name %v", users3["5"]["name"], silentUser, users3[fmt.Sprint(silentUser)]["name"])
	}
	var all []Record
	for _, r := range users3 {
		all = append(all, r)
	}
	if checksum(all, notUser(1, 2, 4, 5, 6, silentUser)) != checksum(users0, notUser(1, 2, 4, 5, 6, silentUser)) {
		t.Error("other users' rows changed")
	}
}

func testCutoff(t *testing.T, h Harness) {
	data := baseData()
	fx := h.Setup(t, data)
	orders0 := fx.Raw(t, "orders")
	got := erase(t, fx, lethe.EraseStep{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", alice.ID)}, Action: lethe.EraseDelete, Before: &lethe.Cutoff{Column: "created_at", Time: cutoff}})
	if !equalInts(got, []int64{2}) {
		t.Errorf("delete alice's orders older than the cutoff: rows %v, want [2]", got)
	}
	orders1 := byID(fx.Raw(t, "orders"))
	for id, o := range data.ordersOf(alice.ID) {
		_, kept := orders1[id]
		if older := o.CreatedAt.Before(cutoff); older == kept {
			t.Errorf("order %s from %v: kept=%v, want kept only when newer than the cutoff", id, o.CreatedAt, kept)
		}
	}
	if h.Capabilities.Anonymise {
		m := &hashMask{}
		got = erase(t, fx, lethe.EraseStep{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", bob.ID)}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"note": m}, Before: &lethe.Cutoff{Column: "created_at", Time: cutoff}})
		if !equalInts(got, []int64{2}) {
			t.Errorf("anonymise bob's orders older than the cutoff: rows %v, want [2]", got)
		}
		orders2 := byID(fx.Raw(t, "orders"))
		for id, o := range data.ordersOf(bob.ID) {
			want := o.Note
			if o.CreatedAt.Before(cutoff) {
				want = masked(o.Note)
			}
			if orders2[id]["note"] != want {
				t.Errorf("order %s from %v: note %v, want %v", id, o.CreatedAt, orders2[id]["note"], want)
			}
		}
	}
	var all []Record
	for _, r := range fx.Raw(t, "orders") {
		all = append(all, r)
	}
	if checksum(all, notOrderOf(alice.ID, bob.ID)) != checksum(orders0, notOrderOf(alice.ID, bob.ID)) {
		t.Error("other users' orders changed")
	}
}

func testIdempotent(t *testing.T, h Harness) {
	data := baseData()
	fx := h.Setup(t, data)
	del := []lethe.EraseStep{{Collection: fx.Users, Matches: []lethe.Match{match("email", alice.Email), match("id", "1")}, Action: lethe.EraseDelete}}
	if h.Capabilities.References {
		del = append([]lethe.EraseStep{{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", "1")}, Action: lethe.EraseDelete}}, del...)
	}
	erase(t, fx, del...)
	users1, orders1 := checksum(fx.Raw(t, "users"), nil), checksum(fx.Raw(t, "orders"), nil)
	for i, n := range erase(t, fx, del...) {
		if n != 0 {
			t.Errorf("delete again, step %d: %d rows, want 0", i+1, n)
		}
	}
	if checksum(fx.Raw(t, "users"), nil) != users1 || checksum(fx.Raw(t, "orders"), nil) != orders1 {
		t.Error("the second delete changed the data")
	}
	if !h.Capabilities.Anonymise {
		return
	}
	// Matched by an unmasked column and by the masked one.
	m := &hashMask{}
	anon := lethe.EraseStep{Collection: fx.Users, Matches: []lethe.Match{match("id", "2"), match("email", bob.Email)}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"email": m, "name": m}}
	if got := erase(t, fx, anon); !equalInts(got, []int64{1}) {
		t.Errorf("anonymise bob: rows %v, want [1]", got)
	}
	users2 := checksum(fx.Raw(t, "users"), nil)
	if got := erase(t, fx, anon); !equalInts(got, []int64{0}) {
		t.Errorf("anonymise bob again: rows %v, want [0]", got)
	}
	if checksum(fx.Raw(t, "users"), nil) != users2 {
		t.Error("the second anonymisation wrote different values")
	}
}

func testOneTransaction(t *testing.T, h Harness) {
	fx := h.Setup(t, baseData())
	users0, orders0 := checksum(fx.Raw(t, "users"), nil), checksum(fx.Raw(t, "orders"), nil)
	steps := []lethe.EraseStep{
		{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", alice.ID, bob.ID)}, Action: lethe.EraseDelete},
		{Collection: fx.Users, Matches: []lethe.Match{match("email", alice.Email)}, Action: lethe.EraseDelete},
		{Collection: fx.Users, Matches: []lethe.Match{match("email", bob.Email)}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"name": failMask{}}},
	}
	res, err := fx.Connector.Erase(ctxFor(t), steps)
	if err == nil {
		t.Fatalf("a failing mask in the last step: erase succeeded with %v", res)
	}
	if !errors.Is(err, errMaskRefused) {
		t.Errorf("the mask's error is not in the chain: %v", err)
	}
	for _, secret := range []string{alice.Email, bob.Email, bob.Name} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error quotes a personal value: %v", err)
		}
	}
	if checksum(fx.Raw(t, "users"), nil) != users0 || checksum(fx.Raw(t, "orders"), nil) != orders0 {
		t.Fatal("the earlier steps were not rolled back")
	}
}

func testCancel(t *testing.T, h Harness) {
	data := withBulk(baseData())
	fx := h.Setup(t, data)
	coll, m := fx.Users, match("id", func() []any {
		var v []any
		for _, u := range data.Users {
			v = append(v, u.ID)
		}
		return v
	}()...)
	total := numUsers
	if h.Capabilities.References {
		coll, m, total = fx.Orders, match("user_id", int64(bulkUser)), len(data.ordersOf(bulkUser))
	}
	ctx, cancel := context.WithCancel(ctxFor(t))
	n := 0
	err := fx.Connector.Find(ctx, lethe.FindParams{Collection: coll, Matches: []lethe.Match{m}}, func(lethe.Row) error {
		n++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("find cancelled after its first row: error %v, want context.Canceled", err)
	}
	if n >= total {
		t.Errorf("find cancelled after its first row went on to all %d rows", n)
	}
	n = 0
	err = fx.Connector.Find(ctx, lethe.FindParams{Collection: coll, Matches: []lethe.Match{m}}, func(lethe.Row) error { n++; return nil })
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("find on a cancelled context: %d rows, error %v", n, err)
	}
	before := checksum(fx.Raw(t, "users"), nil)
	if _, err := fx.Connector.Erase(ctx, []lethe.EraseStep{{Collection: fx.Users, Matches: []lethe.Match{match("id", "1")}, Action: lethe.EraseDelete}}); err == nil {
		t.Error("erase on a cancelled context succeeded")
	}
	if checksum(fx.Raw(t, "users"), nil) != before {
		t.Error("erase on a cancelled context changed the data")
	}
}

func testCallbackError(t *testing.T, h Harness) {
	fx := h.Setup(t, baseData())
	stop := errors.New("stop here")
	n := 0
	err := fx.Connector.Find(ctxFor(t), lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{match("id", "1", "2", "3", "4", "5")}}, func(lethe.Row) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("callback failing on its third row: %d calls, error %v; want 3 calls and the callback's error", n, err)
	}
}

func testDescribe(t *testing.T, h Harness) {
	fx := h.Setup(t, baseData())
	colls := []*lethe.Collection{fx.Users, fx.Orders}
	if h.Capabilities.Schema {
		colls = append(colls, fx.Missing)
	}
	got, err := fx.Connector.Describe(ctxFor(t), colls)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(colls) {
		t.Fatalf("describe %d collections: %d schemas", len(colls), len(got))
	}
	for i, s := range got {
		if s.Collection != colls[i] {
			t.Errorf("schema %d is for collection %v, want %s", i, s.Collection, colls[i].Name)
		}
	}
	if !got[0].Exists || !got[1].Exists {
		t.Fatalf("users and orders exist: %v, %v", got[0].Exists, got[1].Exists)
	}
	if !h.Capabilities.Schema {
		return
	}
	if got[2].Exists || len(got[2].Columns) != 0 {
		t.Errorf("a missing table: Exists %v with %d columns", got[2].Exists, len(got[2].Columns))
	}
	type want struct {
		kind                      lethe.ColumnKind
		nullable, unique, indexed bool
		maxLength                 int
	}
	check := func(s lethe.TableSchema, cols map[string]want) {
		t.Helper()
		if len(s.Columns) != len(cols) {
			t.Errorf("%s: %d columns, want %d", s.Collection.Name, len(s.Columns), len(cols))
		}
		for name, w := range cols {
			c, ok := s.Column(name)
			if !ok {
				t.Errorf("%s: no column %s", s.Collection.Name, name)
				continue
			}
			if c.Type == "" {
				t.Errorf("%s.%s: no type name", s.Collection.Name, name)
			}
			g := want{c.Kind, c.Nullable, c.Unique, c.Indexed, c.MaxLength}
			if g != w {
				t.Errorf("%s.%s (%s): kind %s nullable %v unique %v indexed %v max length %d; want %s %v %v %v %d",
					s.Collection.Name, name, c.Type, g.kind, g.nullable, g.unique, g.indexed, g.maxLength, w.kind, w.nullable, w.unique, w.indexed, w.maxLength)
			}
		}
	}
	check(got[0], map[string]want{
		"id":         {lethe.KindInteger, false, true, true, 0},
		"email":      {lethe.KindText, false, true, true, 255},
		"name":       {lethe.KindText, true, false, false, 0},
		"created_at": {lethe.KindTime, false, false, false, 0},
	})
	check(got[1], map[string]want{
		"id":         {lethe.KindInteger, false, true, true, 0},
		"user_id":    {lethe.KindInteger, false, false, true, 0},
		"total":      {lethe.KindInteger, false, false, false, 0},
		"note":       {lethe.KindText, true, false, false, 0},
		"created_at": {lethe.KindTime, false, false, false, 0},
	})
}

func testMissing(t *testing.T, h Harness) {
	fx := h.Setup(t, baseData())
	ctx := ctxFor(t)
	users0 := checksum(fx.Raw(t, "users"), nil)
	noop := func(lethe.Row) error { return nil }
	expect := func(what string, err error, names ...string) {
		t.Helper()
		if lethe.ErrorCode(err) != lethe.EINVALID {
			t.Errorf("%s: error %v (code %q), want EINVALID", what, err, lethe.ErrorCode(err))
			return
		}
		for _, n := range names {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("%s: the error does not name %s: %v", what, n, err)
			}
		}
		if strings.Contains(err.Error(), alice.Email) {
			t.Errorf("%s: the error quotes a value: %v", what, err)
		}
	}
	expect("find in a missing table", fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Missing, Matches: []lethe.Match{match("id", "1")}}, noop), fx.Missing.TableName())
	expect("find a missing column", fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{match("id", "1")}, Columns: []string{"id", "no_such_column"}}, noop), "no_such_column")
	expect("match a missing column", fx.Connector.Find(ctx, lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{match("no_such_column", alice.Email)}}, noop), "no_such_column")
	_, err := fx.Connector.Erase(ctx, []lethe.EraseStep{
		{Collection: fx.Users, Matches: []lethe.Match{match("email", alice.Email)}, Action: lethe.EraseDelete},
		{Collection: fx.Missing, Matches: []lethe.Match{match("id", "1")}, Action: lethe.EraseDelete},
	})
	expect("erase in a missing table", err, fx.Missing.TableName())
	if h.Capabilities.Anonymise {
		_, err = fx.Connector.Erase(ctx, []lethe.EraseStep{{Collection: fx.Users, Matches: []lethe.Match{match("email", alice.Email)}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"no_such_column": &hashMask{}}}})
		expect("mask a missing column", err, "no_such_column")
	}
	if checksum(fx.Raw(t, "users"), nil) != users0 {
		t.Error("a failed erase changed users")
	}
}

func testConcurrent(t *testing.T, h Harness) {
	data := baseData()
	fx := h.Setup(t, data)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				u := data.Users[(g*10+i)%len(data.Users)]
				n := 0
				err := fx.Connector.Find(context.Background(), lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{match("email", u.Email)}}, func(lethe.Row) error { n++; return nil })
				if err == nil && n != 1 {
					err = fmt.Errorf("user %d: %d rows", u.ID, n)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent find: %v", err)
	}
}

// longMask writes a value longer than users.email's 255 characters.
type longMask struct{}

func (longMask) Apply(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	return strings.Repeat("x", 300), nil
}
func (longMask) Constant() (any, bool) { return nil, false }

func testMaskMustFit(t *testing.T, h Harness) {
	fx := h.Setup(t, baseData())
	ctx := ctxFor(t)
	users0, orders0 := checksum(fx.Raw(t, "users"), nil), checksum(fx.Raw(t, "orders"), nil)
	cases := []struct {
		what string
		step lethe.EraseStep
	}{
		{"a mask longer than varchar(255)", lethe.EraseStep{Collection: fx.Users, Matches: []lethe.Match{match("id", "1")}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"email": longMask{}}}},
		{"a null mask on a NOT NULL column", lethe.EraseStep{Collection: fx.Users, Matches: []lethe.Match{match("id", "1")}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"email": constMask{nil}}}},
		{"a text mask on an integer column", lethe.EraseStep{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", "1")}, Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"total": constMask{"redacted"}}}},
	}
	for _, c := range cases {
		steps := []lethe.EraseStep{{Collection: fx.Orders, Matches: []lethe.Match{match("user_id", "2")}, Action: lethe.EraseDelete}, c.step}
		_, err := fx.Connector.Erase(ctx, steps)
		if lethe.ErrorCode(err) != lethe.EINVALID {
			t.Errorf("%s: error %v, want EINVALID", c.what, err)
			continue
		}
		for name := range c.step.Masks {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("%s: the error does not name column %s: %v", c.what, name, err)
			}
		}
		if strings.Contains(err.Error(), alice.Email) {
			t.Errorf("%s: the error quotes a value: %v", c.what, err)
		}
	}
	if checksum(fx.Raw(t, "users"), nil) != users0 || checksum(fx.Raw(t, "orders"), nil) != orders0 {
		t.Error("a refused erase changed the data")
	}
}
