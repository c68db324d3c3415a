package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mask"
)

// dataMapHeader comes before every data map in these tests, so that the
// first datastore is on line 4.
const dataMapHeader = "controller: {name: Shop}\npurposes: [{id: orders, lawful_basis: contract}]\ndatastores:\n"

// shopDataMap is a valid data map that uses every key and driver.
const shopDataMap = dataMapHeader + `  shop:
    driver: postgres
    dsn: ${SHOP_DSN}
    timeout: 10s
    collections:
      users:
        table: public.users
        primary_key: id
        identities: {user_id: id, email: email}
        erase: anonymise
        fields:
          email: {category: contact.email, erase: hmac}
          name: {category: name, erase: fake.name}
          phone: {category: contact.phone, erase: null}
          birthday: {category: birth_date, erase: ~}
          last_ip: {category: network.ip, erase: truncate.ip}
          note: {category: free_text}
        ignore: [created_at, plan]
      addresses:
        references: {user_id: users.id}
        fields:
          street: {category: contact.address, erase: "fixed:[removed]"}
      orders:
        references: {user_id: users.id}
        hold: {basis: legal_obligation, reason: "invoices: § 147 AO", keep_for: 10y, since: created_at, then: anonymise}
        fields:
          shipping_address: {category: contact.address, erase: redact}
      order_items:
        references: {order_id: orders.id}
      tickets:
        references: {email: users.email, parent_id: tickets.id}
        fields: {body: {category: free_text}}
      a:
        identities: {customer_no: customer_no}
        references: {b_id: b.id}
        after: [b]
      b:
        references: {a_id: a.id}
  analytics:
    driver: mysql
    dsn: ${ANALYTICS_DSN:-root@tcp(127.0.0.1:3306)/analytics}
    collections:
      events:
        references: {user_id: shop.users.id}
        fields: {ip: {category: network.ip, erase: truncate.ip}}
        after: [shop.orders]
  sessions:
    driver: redis
    url: redis://127.0.0.1:6379/0
    keys: ["session:{user_id}", "cart:{user_id}", "session:{email}:token"]
    collections:
      prefs:
        key: "prefs:{user_id}"
        identities: {user_id: user_id}
        fields: {theme: {category: preferences}}
      order_cache:
        key: "order:{order_id}"
        references: {order_id: shop.orders.id}
  crm:
    driver: webhook
    url: https://crm.example.com/lethe
    secret: ${CRM_SECRET}
    collections:
      contacts: {identities: {email: email}}
  legacy:
    driver: custom
    collections:
      accounts: {identities: {user_id: uid}, fields: {uid: {category: online.identifier}}}
  local:
    driver: sqlite
    dsn: /var/lib/shop/local.db
    collections:
      visits: {references: {user_id: shop.users.id}}
`

var shopEnv = map[string]string{
	"SHOP_DSN":   "postgres://lethe:hunter2@db.internal:5432/shop",
	"CRM_SECRET": "0123456789abcdef0123456789abcdef",
}

func TestDataMapDecodes(t *testing.T) {
	t.Parallel()
	cfg, err := parse([]byte(shopDataMap), "lethe.yaml", env(shopEnv))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.DatastoreNames(), []string{"analytics", "crm", "legacy", "local", "sessions", "shop"}; !slices.Equal(got, want) {
		t.Fatalf("DatastoreNames() = %v, want %v", got, want)
	}
	for _, name := range cfg.DatastoreNames() {
		d, _ := cfg.Datastore(name)
		if d.Name != name {
			t.Errorf("datastore %s has Name %q", name, d.Name)
		}
		for cn, c := range d.Collections {
			if c.Name != cn || c.Datastore != name {
				t.Errorf("collection %s.%s has Name %q, Datastore %q", name, cn, c.Name, c.Datastore)
			}
		}
	}

	shop, _ := cfg.Datastore("shop")
	if shop.DSN != shopEnv["SHOP_DSN"] || shop.Timeout != (lethe.Duration{Clock: 10 * time.Second}) {
		t.Errorf("shop = dsn from the environment %v, timeout %v", shop.DSN == shopEnv["SHOP_DSN"], shop.Timeout)
	}
	users, ok := cfg.Collection("shop", "users")
	if !ok {
		t.Fatal("shop.users not found")
	}
	want := &lethe.Collection{
		Name: "users", Datastore: "shop", Table: "public.users", PrimaryKey: "id",
		Identities: map[lethe.IdentityType]string{"user_id": "id", "email": "email"},
		Erase:      lethe.EraseAnonymise,
		Fields: map[string]*lethe.Field{
			"email":    {Category: "contact.email", Erase: "hmac"},
			"name":     {Category: "name", Erase: "fake.name"},
			"phone":    {Category: "contact.phone", Erase: "null"},
			"birthday": {Category: "birth_date", Erase: "null"},
			"last_ip":  {Category: "network.ip", Erase: "truncate.ip"},
			"note":     {Category: "free_text"},
		},
		Ignore: []string{"created_at", "plan"},
	}
	if diff := cmp.Diff(want, users); diff != "" {
		t.Errorf("shop.users (-want +got):\n%s", diff)
	}
	orders, _ := cfg.Collection("shop", "orders")
	wantHold := &lethe.Hold{Basis: "legal_obligation", Reason: "invoices: § 147 AO", KeepFor: lethe.Duration{Months: 120}, Since: "created_at", Then: lethe.EraseAnonymise}
	if diff := cmp.Diff(wantHold, orders.Hold); diff != "" {
		t.Errorf("shop.orders hold (-want +got):\n%s", diff)
	}
	if a, _ := cfg.Datastore("analytics"); a.DSN != "root@tcp(127.0.0.1:3306)/analytics" {
		t.Errorf("analytics dsn default not applied")
	}
	if c, _ := cfg.Collection("crm", "contacts"); c == nil || c.Path() != "crm.contacts" {
		t.Errorf("crm.contacts = %+v", c)
	}

	// The redis keys became collections named after their prefixes,
	// made unique, with their templates as identities; Keys is emptied.
	sessions, _ := cfg.Datastore("sessions")
	if sessions.Keys != nil {
		t.Errorf("sessions.Keys = %v, want them turned into collections", sessions.Keys)
	}
	if got, want := sessions.CollectionNames(), []string{"cart", "order_cache", "prefs", "session", "session_2"}; !slices.Equal(got, want) {
		t.Fatalf("sessions collections = %v, want %v", got, want)
	}
	for name, wantC := range map[string]*lethe.Collection{
		"session":   {Name: "session", Datastore: "sessions", Key: "session:{user_id}", Identities: map[lethe.IdentityType]string{"user_id": "user_id"}},
		"cart":      {Name: "cart", Datastore: "sessions", Key: "cart:{user_id}", Identities: map[lethe.IdentityType]string{"user_id": "user_id"}},
		"session_2": {Name: "session_2", Datastore: "sessions", Key: "session:{email}:token", Identities: map[lethe.IdentityType]string{"email": "email"}},
	} {
		if diff := cmp.Diff(wantC, sessions.Collections[name]); diff != "" {
			t.Errorf("sessions.%s (-want +got):\n%s", name, diff)
		}
	}

	var paths []string
	for _, c := range cfg.Collections() {
		paths = append(paths, c.Path())
	}
	if want := "analytics.events crm.contacts legacy.accounts local.visits sessions.cart sessions.order_cache sessions.prefs sessions.session sessions.session_2 shop.a shop.addresses shop.b shop.order_items shop.orders shop.tickets shop.users"; strings.Join(paths, " ") != want {
		t.Errorf("Collections() = %v", paths)
	}
	if _, ok := cfg.Collection("shop", "nope"); ok {
		t.Error("Collection found an undeclared collection")
	}
	if _, ok := cfg.Collection("nope", "users"); ok {
		t.Error("Collection found a collection of an undeclared datastore")
	}

	// What Lethe decoded, written back as YAML, reads as the same config.
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := parse(out, "round-trip.yaml", env(nil))
	if err != nil {
		t.Fatalf("re-parse of\n%s: %v", out, err)
	}
	if diff := cmp.Diff(cfg, again); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
}

// TestEraseNull: a YAML null for a field's erase is the strategy "null".
func TestEraseNull(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"null", "~", "Null", "", `"null"`, "${E}", "${E:-}", "*nothing"} {
		src := dataMapHeader + `  shop:
    driver: sqlite
    dsn: x.db
    collections:
      users:
        identities: {user_id: id}
        fields:
          name: {category: name, erase: &nothing ~}
          phone:
            category: contact.phone
            erase: ` + v + `
`
		cfg, err := parse([]byte(src), "lethe.yaml", env(map[string]string{"E": ""}))
		if err != nil {
			t.Errorf("erase: %s: %v", v, err)
			continue
		}
		users, _ := cfg.Collection("shop", "users")
		if got := users.Fields["phone"].Erase; got != "null" {
			t.Errorf("erase: %s decodes to %q, want \"null\"", v, got)
		}
		if got := users.Fields["name"].Erase; got != "null" {
			t.Errorf("erase: &nothing ~ decodes to %q, want \"null\"", got)
		}
	}
}

func TestDataMapErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string // the datastores, from line 4
		env  map[string]string
		want []problem
	}{
		// Drivers and what they need.
		{
			name: "driver missing and unknown",
			src: `  shop:
    dsn: x
    collections: {users: {identities: {user_id: id}}}
  analytics:
    driver: postgress
    collections: {events: {identities: {user_id: user_id}}}
`,
			want: []problem{
				{"datastores.shop.driver", 4, "is required"},
				{"datastores.analytics.driver", 8, `"postgress" is not one of postgres, mysql, sqlite, redis, webhook, custom`},
			},
		},
		{
			name: "sql datastores need a dsn",
			src: `  shop:
    driver: postgres
    collections: {users: {identities: {user_id: id}}}
  analytics:
    driver: mysql
    collections: {events: {identities: {user_id: user_id}}}
  local:
    driver: sqlite
    dsn: ""
    collections: {visits: {identities: {user_id: user_id}}}
`,
			want: []problem{
				{"datastores.shop.dsn", 4, "is required for a postgres datastore: the connection string, e.g. dsn: ${SHOP_DSN}"},
				{"datastores.analytics.dsn", 7, "is required for a mysql datastore"},
				{"datastores.local.dsn", 12, "must not be empty"},
			},
		},
		{
			name: "dsn from an unset variable",
			src: `  shop:
    driver: postgres
    dsn: ${SHOP_DSN}
    collections: {users: {identities: {user_id: id}}}
`,
			want: []problem{{"datastores.shop.dsn", 6, "environment variable ${SHOP_DSN} is not set"}},
		},
		{
			name: "redis needs a redis url and keys",
			src: `  sessions:
    driver: redis
    keys: ["session:{user_id}"]
  cache:
    driver: redis
    url: https://cache.example.com
    collections:
      carts: {identities: {user_id: user_id}}
      prefs: {key: "prefs:{user_id}", table: prefs, identities: {user_id: user_id}}
`,
			want: []problem{
				{"datastores.sessions.url", 4, "is required for a redis datastore: its address, e.g. url: ${SESSIONS_REDIS_URL}"},
				{"datastores.cache.url", 9, "must be a redis://, rediss:// (TLS) or unix:// URL, e.g. redis://localhost:6379/0 (the value is not shown"},
				{"datastores.cache.collections.carts.key", 11, `is required in a redis datastore: the key pattern with identity templates, e.g. key: "carts:{user_id}"`},
				{"datastores.cache.collections.prefs.table", 12, "only applies to postgres, mysql, sqlite and custom datastores; this datastore's driver is redis"},
			},
		},
		{
			name: "webhook needs an http url and a secret",
			src: `  crm:
    driver: webhook
    collections: {contacts: {identities: {email: email}}}
  billing:
    driver: webhook
    url: ftp://billing.example.com
    secret: ${BILLING_SECRET}
    collections: {customers: {identities: {email: email}}}
  support:
    driver: webhook
    url: https://support.example.com/lethe
    secret: ${SUPPORT_SECRET}
    collections: {tickets: {identities: {email: email}}}
`,
			env: map[string]string{"BILLING_SECRET": "0123456789abcdef", "SUPPORT_SECRET": "short"},
			want: []problem{
				{"datastores.crm.secret", 4, "is required for a webhook datastore: the key that signs each call, e.g. secret: ${CRM_SECRET}"},
				{"datastores.crm.url", 4, "is required for a webhook datastore: the endpoint"},
				{"datastores.billing.url", 9, "must be an https:// (or http://) URL with a host"},
				{"datastores.support.secret", 15, "is too short: a webhook secret has at least 16 bytes (e.g. the output of openssl rand -hex 32) (check ${SUPPORT_SECRET}; its value is not shown)"},
			},
		},
		{
			name: "connection keys of other drivers",
			src: `  shop:
    driver: postgres
    dsn: x
    url: redis://x
    secret: "0123456789abcdef"
    keys: ["session:{user_id}"]
    collections:
      users: {identities: {user_id: id}, key: "user:{user_id}"}
  sessions:
    driver: redis
    url: redis://x
    dsn: x
    keys: ["session:{user_id}"]
  crm:
    driver: webhook
    url: https://crm.example.com
    secret: "0123456789abcdef"
    collections:
      contacts: {identities: {email: email}, key: "c:{email}", table: contacts}
`,
			want: []problem{
				{"datastores.shop.url", 7, "only applies to redis, webhook and custom datastores; this datastore's driver is postgres"},
				{"datastores.shop.secret", 8, "only applies to webhook and custom datastores"},
				{"datastores.shop.keys", 9, "only applies to redis datastores"},
				{"datastores.shop.collections.users.key", 11, "only applies to redis and custom datastores; this datastore's driver is postgres; a table is named by table:, which defaults to the collection name"},
				{"datastores.sessions.dsn", 15, "only applies to postgres, mysql, sqlite and custom datastores; this datastore's driver is redis"},
				{"datastores.crm.collections.contacts.key", 22, "only applies to redis and custom datastores; this datastore's driver is webhook"},
				{"datastores.crm.collections.contacts.table", 22, "only applies to postgres, mysql, sqlite and custom datastores; this datastore's driver is webhook"},
			},
		},
		{
			name: "a datastore without collections or a value",
			src: `  shop:
    driver: postgres
    dsn: x
  sessions:
    driver: redis
    url: redis://x
    keys: []
  empty:
`,
			want: []problem{
				{"datastores.shop.collections", 4, "the datastore declares no collections: add collections: with the personal data it holds"},
				{"datastores.sessions.collections", 7, "add keys: or collections:"},
				{"datastores.empty", 11, "has no value"},
			},
		},
		{
			name: "timeout",
			src: `  shop:
    driver: sqlite
    dsn: x.db
    timeout: 30
    collections: {users: {identities: {user_id: id}}}
`,
			want: []problem{{"datastores.shop.timeout", 7, "expected text, got 30: a duration is"}},
		},
		{
			name: "scrub_allowed on a datastore lethe scrub cannot rewrite",
			src: `  sessions:
    driver: redis
    url: redis://x
    scrub_allowed: true
    keys: ["session:{user_id}"]
`,
			want: []problem{{"datastores.sessions.scrub_allowed", 7, "only applies to postgres, mysql and sqlite datastores; this datastore's driver is redis"}},
		},
		{
			name: "unknown scrub strategy",
			src: `  shop:
    driver: sqlite
    dsn: x.db
    scrub_allowed: true
    collections: {users: {identities: {email: email}, fields: {email: {category: contact.email, erase: hmac, scrub: fake.emial}}}}
`,
			want: []problem{{"datastores.shop.collections.users.fields.email.scrub", 8, "the strategy is one of"}},
		},

		// Names: only plain identifiers, so nothing can inject SQL.
		{
			name: "injection through table and column names",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users:
        table: "users; DROP TABLE x"
        primary_key: "id) OR 1=1 --"
        identities: {user_id: "id) OR 1=1 --", email: "e mail"}
        references: {"id) OR 1=1 --": users.id, ref: "users.id; DROP TABLE x"}
        fields:
          "id) OR 1=1 --": {category: name}
          "name\"": {category: name}
        hold: {basis: legal_claims, reason: claims, keep_for: 3y, since: "created_at--"}
        ignore: ["x;y"]
      "users; DROP TABLE x": {identities: {user_id: id}}
      public.users: {identities: {user_id: id}}
`,
			want: []problem{
				{"datastores.shop.collections.users.table", 9, `"users; DROP TABLE x" is not valid: only plain identifiers are allowed: a table is name or schema.name`},
				{"datastores.shop.collections.users.primary_key", 10, `"id) OR 1=1 --" is not valid: only plain identifiers are allowed`},
				{"datastores.shop.collections.users.identities.email", 11, `"e mail" is not valid: only plain identifiers are allowed`},
				{"datastores.shop.collections.users.identities.user_id", 11, `"id) OR 1=1 --" is not valid: only plain identifiers are allowed`},
				{"datastores.shop.collections.users.references.ref", 12, `"users.id; DROP TABLE x" is not valid: a reference is collection.column or datastore.collection.column`},
				{`datastores.shop.collections.users.references["id) OR 1=1 --"]`, 12, `"id) OR 1=1 --" is not a valid name: only plain identifiers are allowed`},
				{`datastores.shop.collections.users.fields["id) OR 1=1 --"]`, 14, `"id) OR 1=1 --" is not a valid name: only plain identifiers are allowed: letters, digits and _`},
				{`datastores.shop.collections.users.fields["name\""]`, 15, "is not a valid name: only plain identifiers are allowed"},
				{"datastores.shop.collections.users.hold.since", 16, `"created_at--" is not valid: only plain identifiers are allowed`},
				{"datastores.shop.collections.users.ignore[0]", 17, `"x;y" is not valid: only plain identifiers are allowed`},
				{`datastores.shop.collections["users; DROP TABLE x"]`, 18, "is not a valid name: only plain identifiers are allowed"},
				{`datastores.shop.collections["public.users"]`, 19, "is not a valid name: only plain identifiers are allowed"},
			},
		},
		{
			name: "datastore names",
			src: `  shop-db:
    driver: sqlite
    dsn: x.db
    collections: {users: {identities: {user_id: id}}}
  "1shop": {driver: custom, collections: {users: {identities: {user_id: id}}}}
`,
			want: []problem{
				{"datastores.shop-db", 4, `"shop-db" is not a valid name: only plain identifiers are allowed`},
				{`datastores["1shop"]`, 8, `"1shop" is not a valid name`},
			},
		},
		{
			name: "identity types are lower-case identifiers",
			src: `  shop:
    driver: sqlite
    dsn: x.db
    collections:
      users: {identities: {Email: email, user-id: id}}
  sessions:
    driver: redis
    url: redis://x
    keys: ["session:{UserID}", "cart:{user_id", "plain", "a:{user_id}:{user_id}", "b:{value}", "*:{user_id}:*"]
`,
			want: []problem{
				{"datastores.shop.collections.users.identities.Email", 8, `"Email" is not a valid name: an identity type uses lower-case letters`},
				{"datastores.shop.collections.users.identities.user-id", 8, `"user-id" is not a valid name: an identity type`},
				{"datastores.sessions.keys[0]", 12, `"session:{UserID}" is not valid: a key pattern is text with at least one {identity} template of lower-case letters`},
				{"datastores.sessions.keys[1]", 12, `"cart:{user_id" is not valid: a key pattern`},
				{"datastores.sessions.keys[2]", 12, `"plain" is not valid: a key pattern`},
				{"datastores.sessions.keys[3]", 12, `"a:{user_id}:{user_id}" is not a valid key pattern: {user_id} appears twice`},
				{"datastores.sessions.keys[4]", 12, `"b:{value}" is not a valid key pattern: {value} is the name of a column the redis connector gives each key (key, type, expires_at, value)`},
			},
		},
		{
			name: "redis key patterns",
			src: `  sessions:
    driver: redis
    url: redis://x
    keys: ["session:{user_id}", "session:{user_id}"]
    collections:
      carts:
        key: "cart:{cart_id}"
        identities: {user_id: user_id}
      tokens:
        key: "session:{user_id}"
        identities: {user_id: user_id}
`,
			want: []problem{
				{"datastores.sessions.keys[0]", 7, `key pattern "session:{user_id}" is declared twice (first at line 12)`},
				{"datastores.sessions.keys[1]", 7, `key pattern "session:{user_id}" is declared twice (first at line 12)`},
				{"datastores.sessions.collections.carts.key", 10, "the template {cart_id} is neither an identity column nor a reference column of the collection: add identities: {cart_id: cart_id}, or a reference from cart_id"},
			},
		},

		// References and after.
		{
			name: "references resolve",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users:
        identities: {user_id: id}
        fields: {email: {category: contact.email}}
      orders:
        references:
          user_id: users.idd
          buyer_id: userz.id
          seller_id: shpo.users.id
          email: users
          shop_id: orders.shop_id
  analytics:
    driver: mysql
    dsn: x
    collections:
      events:
        references: {user_id: shop.user.id}
`,
			want: []problem{
				{"datastores.shop.collections.orders.references.user_id", 13, "references undeclared field users.idd: a reference names the target's primary key (id), an identity column or a field; did you mean \"id\"?"},
				{"datastores.shop.collections.orders.references.buyer_id", 14, `references undeclared collection userz; did you mean "users"?`},
				{"datastores.shop.collections.orders.references.seller_id", 15, `references undeclared datastore shpo (in shpo.users.id); did you mean "shop"?`},
				{"datastores.shop.collections.orders.references.email", 16, `"users" is not valid: a reference is collection.column or datastore.collection.column`},
				{"datastores.shop.collections.orders.references.shop_id", 17, "references undeclared field orders.shop_id"},
				{"datastores.analytics.collections.events.references.user_id", 23, `references undeclared collection shop.user; did you mean "users"?`},
			},
		},
		{
			name: "a reference into an invalid collection is not reported again",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users: [id]
      orders:
        references: {user_id: users.id}
`,
			want: []problem{{"datastores.shop.collections.users", 8, "expected a mapping, got a list"}},
		},
		{
			name: "after names declared collections",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users: {identities: {user_id: id}}
      orders:
        identities: {user_id: user_id}
        after: [userz, shop.orders, analytic.events, "a.b.c", users]
`,
			want: []problem{
				{"datastores.shop.collections.orders.after[0]", 11, `names undeclared collection userz; did you mean "users"?`},
				{"datastores.shop.collections.orders.after[1]", 11, "names the collection itself"},
				{"datastores.shop.collections.orders.after[2]", 11, "names undeclared datastore analytic (in analytic.events); declared: shop"},
				{"datastores.shop.collections.orders.after[3]", 11, `"a.b.c" is not valid: an entry is collection or datastore.collection`},
			},
		},
		{
			name: "personal fields no identity reaches",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users: {identities: {user_id: id}}
      audit_log:
        fields: {ip: {category: network.ip}}
      notes:
        references: {log_id: audit_log.id}
        fields: {text: {category: free_text}}
      links:
        references: {log_id: audit_log.id}
`,
			want: []problem{
				{"datastores.shop.collections.audit_log", 9, "shop.audit_log holds personal fields but no identity reaches it: add identities or a reference"},
				{"datastores.shop.collections.notes", 11, "shop.notes holds personal fields but no identity reaches it"},
			},
		},
		{
			name: "unordered reference cycle",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users: {identities: {user_id: id}}
      a:
        references: {user_id: users.id, b_id: b.id}
      b:
        references: {c_id: c.id}
      c:
        references: {a_id: a.id}
        after: [users]
  other:
    driver: sqlite
    dsn: x.db
    collections:
      x: {identities: {user_id: user_id}, references: {y_id: y.id}, after: [shop.users]}
      y: {references: {x_id: x.id}}
`,
			want: []problem{
				{"datastores.shop.collections.a", 9, "unordered cycle: shop.a -> shop.b -> shop.c -> shop.a; add after: to one of them to say which is erased first"},
				{"datastores.other.collections.x", 20, "unordered cycle: other.x -> other.y -> other.x; add after:"},
			},
		},
		{
			name: "after entries that contradict each other",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users: {identities: {user_id: id}, after: [orders]}
      orders: {identities: {user_id: user_id}, after: [users]}
`,
			want: []problem{{"datastores.shop.collections.users.after", 8, "after: entries contradict each other: shop.users -> shop.orders -> shop.users (each is erased after the next); remove one"}},
		},

		// Holds, erase actions and fields.
		{
			name: "hold",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users: {identities: {user_id: id}}
      orders:
        references: {user_id: users.id}
        hold: {basis: tax_law, reason: "", then: archive}
      invoices:
        references: {user_id: users.id}
        hold: {basis: legal_obligation, keep_for: 10 years, reason: tax}
      payments:
        references: {user_id: users.id}
        hold: {reason: claims, keep_for: 3y, then: anonymise}
`,
			want: []problem{
				{"datastores.shop.collections.orders.hold.basis", 11, `"tax_law" is not one of freedom_of_expression, legal_obligation, public_health, archiving_research, legal_claims`},
				{"datastores.shop.collections.orders.hold.keep_for", 11, "is required"},
				{"datastores.shop.collections.orders.hold.reason", 11, "must not be empty"},
				{"datastores.shop.collections.orders.hold.then", 11, `"archive" is not one of delete, anonymise`},
				{"datastores.shop.collections.invoices.hold.keep_for", 14, `"10 years"`},
				{"datastores.shop.collections.payments.hold.basis", 17, "is required"},
				{"datastores.shop.collections.payments.hold.then", 17, "anonymise masks the collection's fields, and it declares none: list the personal columns under fields:, or then: delete"},
			},
		},
		{
			name: "anonymise needs fields",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users:
        identities: {user_id: id}
        erase: anonymise
      orders:
        identities: {user_id: user_id}
        erase: anonymize
`,
			want: []problem{
				{"datastores.shop.collections.users.erase", 10, "anonymise masks the collection's fields, and it declares none: list the personal columns under fields:, or erase: delete"},
				{"datastores.shop.collections.orders.erase", 13, `"anonymize" is not one of delete, anonymise`},
			},
		},
		{
			name: "fields",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users:
        identities: {user_id: id}
        erase: anonymise
        fields:
          email: {category: contact.email, erase: fake.mail}
          name: {erase: fake.name}
          ip: {category: Network IP}
          phone: {category: contact.phone, erase: 0}
          note: {category: free_text, erase: "fixed:"}
          city: contact.address
          plan: {category: product}
        ignore: [plan]
`,
			want: []problem{
				{"datastores.shop.collections.users.fields.email.erase", 12, `"fake.mail" is not valid: the strategy is one of null, blank, hmac, redact, fixed:<value>, fake.name,`},
				{"datastores.shop.collections.users.fields.name.category", 13, "is required"},
				{"datastores.shop.collections.users.fields.ip.category", 14, `"Network IP" is not valid: a category is lower-case words`},
				{"datastores.shop.collections.users.fields.phone.erase", 15, "got 0: the strategy is one of null, blank,"},
				{"datastores.shop.collections.users.fields.city", 17, `expected a mapping, got "contact.address"`},
				{"datastores.shop.collections.users.ignore[0]", 19, "plan is declared under fields too: a column is either personal data (fields:) or ignored, not both"},
			},
		},
		{
			name: "retention rules",
			src: `  shop:
    driver: postgres
    dsn: x
    collections:
      users:
        identities: {user_id: id}
        purposes: [orders, billing]
        retention:
          column: last_login_at
          action: anonymise
          where:
            - {column: status, equals: closed, is_null: true}
            - {column: "status; DROP TABLE users", equals: x}
  cache:
    driver: redis
    url: redis://x
    collections:
      sessions:
        key: "session:{user_id}"
        identities: {user_id: user_id}
        retention: {column: created_at, max_age: 1d}
`,
			want: []problem{
				{"datastores.shop.collections.users.purposes[1]", 10, `"billing" is not a declared purpose id; declared: orders`},
				{"datastores.shop.collections.users.retention.max_age", 11, `is required: give max_age, or list purposes with a retention`},
				{"datastores.shop.collections.users.retention.action", 13, `it declares none`},
				{"datastores.shop.collections.users.retention.where[0]", 15, `exactly one of equals, in or is_null`},
				{"datastores.shop.collections.users.retention.where[1].column", 16, `only plain identifiers`},
				{"datastores.cache.collections.sessions.retention", 24, `in redis, give the keys a time to live`},
			},
		},
		{
			name: "unknown keys",
			src: `  shop:
    driver: postgres
    dsn: x
    collection: {}
    collections:
      users:
        identities: {user_id: id}
        retention: {column: last_login_at, max_age: 3y, older_than: 2y}
        fields: {email: {category: contact.email, strategy: hmac}}
`,
			want: []problem{
				{"datastores.shop.collection", 7, `unknown key "collection"; did you mean "collections"?`},
				{"datastores.shop.collections.users.retention.older_than", 11, `unknown key "older_than"`},
				{"datastores.shop.collections.users.fields.email.strategy", 12, `unknown key "strategy"`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parse([]byte(dataMapHeader+tt.src), "lethe.yaml", env(tt.env))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want problems %v", cfg, tt.want)
			}
			got := invalidFields(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), render(got))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Path != w.path || g.Line != w.line || !strings.Contains(g.Message, w.msg) {
					t.Errorf("problem %d = %q, want path %q, line %d, message containing %q\nall:\n%s", i, g.String(), w.path, w.line, w.msg, render(got))
				}
			}
		})
	}
}

// TestDataMapSecretsNeverShown: a DSN, URL or secret, written in the file
// or taken from the environment, never appears in a message, whatever is
// wrong with it.
func TestDataMapSecretsNeverShown(t *testing.T) {
	t.Parallel()
	const secret = "hunter2"
	tests := []struct {
		name string
		src  string
		env  map[string]string
		want string // a path that must be reported
	}{
		{"redis url, literal, wrong scheme", `  s: {driver: redis, url: "http://:hunter2@cache:6379", keys: ["s:{user_id}"]}`, nil, "datastores.s.url"},
		{"redis url, from the environment", `  s: {driver: redis, url: "${URL}", keys: ["s:{user_id}"]}`, map[string]string{"URL": "ftp://u:hunter2@x"}, "datastores.s.url"},
		{"webhook url", `  w: {driver: webhook, url: "mailto:hunter2@x", secret: "0123456789abcdef", collections: {c: {identities: {email: email}}}}`, nil, "datastores.w.url"},
		{"short secret", `  w: {driver: webhook, url: "https://x", secret: hunter2, collections: {c: {identities: {email: email}}}}`, nil, "datastores.w.secret"},
		{"dsn on the wrong driver", `  s: {driver: redis, url: "redis://x", dsn: "postgres://u:hunter2@h/db", keys: ["s:{user_id}"]}`, nil, "datastores.s.dsn"},
		{"malformed reference in a dsn", `  p: {driver: postgres, dsn: "postgres://u:hunter2${@h/db", collections: {c: {identities: {email: email}}}}`, nil, "datastores.p.dsn"},
		{"malformed name in a dsn", `  p: {driver: postgres, dsn: "postgres://u:${hunter2 x}@h/db", collections: {c: {identities: {email: email}}}}`, nil, "datastores.p.dsn"},
		{"dsn of the wrong type", `  p: {driver: postgres, dsn: 7654321, collections: {c: {identities: {email: email}}}}`, nil, "datastores.p.dsn"},
		{"secret as a number", `  w: {driver: webhook, url: "https://x", secret: 7654321, collections: {c: {identities: {email: email}}}}`, nil, "datastores.w.secret"},
		{"url as a list", `  s: {driver: redis, url: [hunter2], keys: ["s:{user_id}"]}`, nil, "datastores.s.url"},
		{"dsn from the environment, unquoted, typed", "  p:\n    driver: postgres\n    dsn: ${DSN}\n    collections: {c: {identities: {email: email}}}", map[string]string{"DSN": "7654321"}, "datastores.p.dsn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse([]byte(dataMapHeader+tt.src+"\n"), "lethe.yaml", env(tt.env))
			fields := invalidFields(t, err)
			reported := false
			for _, f := range fields {
				reported = reported || f.Path == tt.want
			}
			if !reported {
				t.Errorf("%s not reported:\n%s", tt.want, render(fields))
			}
			for _, s := range []string{secret, "7654321"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error reveals the value: %v", err)
				}
			}
		})
	}
}

// TestIdentifierPatterns: the schema's patterns for names accept exactly
// what lethe.IsIdentifier and lethe.IsTableName accept, which is what the
// connectors rely on.
func TestIdentifierPatterns(t *testing.T) {
	t.Parallel()
	collection := schemaRoot().property("datastores").property("shop").property("collections").property("users")
	identifier := regexp.MustCompile(collection.property("primary_key").str("pattern"))
	table := regexp.MustCompile(collection.property("table").str("pattern"))
	long := strings.Repeat("a", 63)
	for _, s := range []string{"id", "user_id", "_x", "A1", long, long + "a", "", "1a", "a-b", "a b", "a.b", "a;b", `a"b`, "é", "id) OR 1=1 --", "users; DROP TABLE x", "a\n", "public.users", "a.b.c", ".a", "a."} {
		if got, want := identifier.MatchString(s), lethe.IsIdentifier(s); got != want {
			t.Errorf("identifier pattern on %q = %v, lethe.IsIdentifier = %v", s, got, want)
		}
		if got, want := table.MatchString(s), lethe.IsTableName(s); got != want {
			t.Errorf("table pattern on %q = %v, lethe.IsTableName = %v", s, got, want)
		}
	}
}

func TestKeyCollectionName(t *testing.T) {
	t.Parallel()
	taken := map[string]*lethe.Collection{"session": {}, "session_2": {}}
	for pattern, want := range map[string]string{
		"session:{user_id}":     "session_3",
		"cart:{user_id}":        "cart",
		"{user_id}":             "key",
		"*:{user_id}":           "key",
		"2fa:{user_id}":         "key_2fa",
		"app.v1/prefs{user_id}": "app_v1_prefs",
		"user{user_id}:x":       "user",
	} {
		if got := keyCollectionName(pattern, taken); got != want {
			t.Errorf("keyCollectionName(%q) = %q, want %q", pattern, got, want)
		}
	}
}

// TestEraseStrategiesMatchMask: the schema's pattern for a field's erase
// accepts exactly the strategies package mask parses.
func TestEraseStrategiesMatchMask(t *testing.T) {
	t.Parallel()
	field := schemaRoot().property("datastores").property("shop").property("collections").property("users").property("fields").property("email")
	pattern := regexp.MustCompile(field.property("erase").str("pattern"))
	var names []string
	for _, n := range mask.Names() {
		names = append(names, strings.ReplaceAll(n, "<value>", "[removed]"))
	}
	names = append(names, "fixed:", "fixed:a\nb", "fake.mail", "fake.", "truncate.ipv4", "truncate.date.day", "NULL", "Hmac", " hmac", "hmac ", "redacted", "fake.name.x")
	for _, n := range names {
		if got, want := pattern.MatchString(n), mask.Check(n) == nil; got != want {
			t.Errorf("erase %q: schema accepts %v, mask.Check accepts %v", n, got, want)
		}
	}
}

// TestDocsDataMapExample: the data map examples in docs/config.md are
// valid, and the complete one declares what the text says it does.
func TestDocsDataMapExample(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	_, section, ok := strings.Cut(text, "## Data map\n")
	if !ok {
		t.Fatal("docs/config.md has no Data map section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for rest := section; ; {
		_, after, ok := strings.Cut(rest, "```yaml\n")
		if !ok {
			break
		}
		block, next, _ := strings.Cut(after, "```\n")
		blocks = append(blocks, block)
		rest = next
	}
	if len(blocks) < 2 || !strings.HasPrefix(blocks[0], "datastores:\n") {
		t.Fatalf("the Data map section does not start with a complete example: %d yaml blocks", len(blocks))
	}
	vars := env(map[string]string{
		"SHOP_DATABASE_URL":  "postgres://lethe:secret@db:5432/shop",
		"ANALYTICS_DSN":      "lethe:secret@tcp(analytics:3306)/analytics?parseTime=true",
		"SESSIONS_REDIS_URL": "redis://:secret@cache:6379/0",
		"CRM_WEBHOOK_URL":    "https://crm.internal.example.com/lethe",
		"CRM_WEBHOOK_SECRET": "0123456789abcdef0123456789abcdef",
	})
	cfg, err := parse([]byte("controller: {name: Shop}\npurposes: [{id: orders, lawful_basis: contract}]\n"+blocks[0]), "docs/config.md", vars)
	if err != nil {
		t.Fatalf("the complete example is invalid: %v", err)
	}
	var got []string
	for _, c := range cfg.Collections() {
		got = append(got, c.Path())
	}
	want := []string{
		"analytics.events", "crm.contacts", "loyalty.cards", "sessions.cart", "sessions.session", "sessions.wishlist",
		"shop.addresses", "shop.newsletter_subscriptions", "shop.order_items", "shop.orders", "shop.support_tickets", "shop.users",
	}
	if !slices.Equal(got, want) {
		t.Errorf("the complete example declares %v, want %v", got, want)
	}
	drivers := map[string]string{}
	for _, name := range cfg.DatastoreNames() {
		d, _ := cfg.Datastore(name)
		drivers[name] = d.Driver
	}
	if diff := cmp.Diff(map[string]string{"shop": "postgres", "analytics": "mysql", "sessions": "redis", "crm": "webhook", "loyalty": "custom"}, drivers); diff != "" {
		t.Errorf("drivers (-want +got):\n%s", diff)
	}

	// The smaller examples are parts of a datastore: each is checked in
	// a setting of its own.
	snippets := map[string]string{
		"users:":       "  shop:\n    driver: postgres\n    dsn: x\n    collections:\n",
		"sessions:":    "",
		"collections:": "  sessions:\n    driver: redis\n    url: redis://x\n",
	}
	for _, block := range blocks[1:] {
		first := strings.TrimSpace(strings.SplitN(block, "\n", 2)[0])
		prefix, ok := snippets[first]
		if !ok {
			t.Errorf("no setting to check the example starting %q in", first)
			continue
		}
		if _, err := parse([]byte(dataMapHeader+prefix+block), "docs/config.md", vars); err != nil {
			t.Errorf("the example starting %q is invalid: %v", first, err)
		}
	}
}
