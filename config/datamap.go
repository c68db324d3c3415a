package config

import (
	"cmp"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mask"
)

// dataMap holds the state of the data map checks of one Parse: where each
// collection sits in the file, and the references and after entries that
// resolved, which the reachability and cycle checks walk.
type dataMap struct {
	p   *parser
	cfg *lethe.Config
	// at is the path of each collection: datastores.<ds>.collections.<c>,
	// or datastores.<ds>.keys[i] for one made from a redis key pattern.
	at map[*lethe.Collection]string
	// refs are the resolved references, child to parent: the child's rows
	// are found from the parent's, and erased before them.
	refs map[*lethe.Collection][]*lethe.Collection
	// after are the resolved after entries: the collection is erased after
	// each of them.
	after map[*lethe.Collection][]*lethe.Collection
	// all lists the collections in a stable order (datastore, name).
	all []*lethe.Collection
}

var identityTypeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// minSecretLen is the shortest webhook signing secret accepted: an HMAC
// key much shorter than the hash is guessable offline from one signed
// call.
const minSecretLen = 16

// checkDataMap completes the data map and applies its rules: it fills the
// names the keys give (Datastore.Name, Collection.Name and .Datastore),
// turns each redis key pattern into a collection, and checks what the
// schema cannot: what each driver needs, that every table and column is a
// plain identifier, that references and after entries name declared
// collections and columns, that every collection with personal fields is
// reached from an identity, and that references form no cycle without an
// after entry ordering it.
func (p *parser) checkDataMap(cfg *lethe.Config) {
	if len(cfg.Datastores) == 0 {
		cfg.Datastores = nil // datastores: {} reads as no data map
		return
	}
	m := &dataMap{
		p:     p,
		cfg:   cfg,
		at:    map[*lethe.Collection]string{},
		refs:  map[*lethe.Collection][]*lethe.Collection{},
		after: map[*lethe.Collection][]*lethe.Collection{},
	}
	for _, dn := range cfg.DatastoreNames() {
		d := cfg.Datastores[dn]
		if d == nil {
			delete(cfg.Datastores, dn) // reported by the schema
			continue
		}
		d.Name = dn
		for _, cn := range d.CollectionNames() {
			c := d.Collections[cn]
			if c == nil {
				delete(d.Collections, cn)
				continue
			}
			c.Name, c.Datastore = cn, dn
			m.at[c] = childPath(datastorePath(dn)+".collections", cn)
		}
		if d.Driver == lethe.DriverRedis || d.Driver == "" {
			m.expandKeys(d)
		}
	}
	m.all = cfg.Collections()
	for _, dn := range cfg.DatastoreNames() {
		m.checkDatastore(cfg.Datastores[dn])
	}
	for _, c := range m.all {
		m.checkCollection(cfg.Datastores[c.Datastore], c)
	}
	m.checkReached()
	m.checkReferenceCycles()
	m.checkAfterCycles()
}

func datastorePath(name string) string { return childPath("datastores", name) }

// expandKeys turns the redis shorthand keys: ["session:{user_id}"] into
// collections: each is named after the pattern's fixed prefix (session),
// made unique within the datastore, and its templates are its identities
// ({user_id: user_id}). Keys is emptied, so that the config holds each
// collection once, whichever way it was written.
func (m *dataMap) expandKeys(d *lethe.Datastore) {
	at := datastorePath(d.Name) + ".keys"
	first := map[string]string{} // pattern -> path of its first declaration
	for _, c := range d.Collections {
		if c.Key != "" {
			first[c.Key] = m.at[c]
		}
	}
	for i, pattern := range d.Keys {
		kat := itemPath(at, i)
		if pattern == "" || m.p.covered(kat) {
			continue // reported by the schema, and blanked
		}
		vars, problem := keyTemplates(pattern)
		if problem != "" {
			m.p.add(kat, m.p.lineOf(kat), "%q is not a valid key pattern: %s", pattern, problem)
			continue
		}
		if prev, dup := first[pattern]; dup {
			m.p.add(kat, m.p.lineOf(kat), "key pattern %q is declared twice (first at line %d)", pattern, m.p.lineOf(prev))
			continue
		}
		first[pattern] = kat
		name := keyCollectionName(pattern, d.Collections)
		c := &lethe.Collection{Name: name, Datastore: d.Name, Key: pattern, Identities: map[lethe.IdentityType]string{}}
		for _, v := range vars {
			c.Identities[lethe.IdentityType(v)] = v
		}
		if d.Collections == nil {
			d.Collections = map[string]*lethe.Collection{}
		}
		d.Collections[name] = c
		m.at[c] = kat
	}
	if !m.p.problemsUnder(at) {
		d.Keys = nil
	}
}

// keyTemplates returns the template names of a redis key pattern in
// order, or what is wrong with the pattern: it needs at least one
// template, each a lower-case identifier (an identity type) named once
// and not one of the columns the redis connector adds to a row; braces
// only enclose templates. `*` matches any text, and every other byte is
// literal (the connector escapes glob characters).
func keyTemplates(pattern string) ([]string, string) {
	var vars []string
	rest := pattern
	for {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			break
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if rest[open] == '}' || end < 0 || rest[open+1+end] != '}' {
			return nil, "braces only enclose {identity} templates, e.g. session:{user_id}"
		}
		v := rest[open+1 : open+1+end]
		switch {
		case !identityTypeRe.MatchString(v):
			return nil, fmt.Sprintf("{%s} is not an identity type: lower-case letters, digits and _, starting with a letter", v)
		case slices.Contains(vars, v):
			return nil, fmt.Sprintf("{%s} appears twice", v)
		case slices.Contains(redisRowColumns, v):
			return nil, fmt.Sprintf("{%s} is the name of a column the redis connector gives each key (%s); rename the template", v, strings.Join(redisRowColumns, ", "))
		}
		vars = append(vars, v)
		rest = rest[open+1+end+1:]
	}
	if len(vars) == 0 {
		return nil, "it has no {identity} template, so it would select every subject's keys; write e.g. session:{user_id}"
	}
	return vars, ""
}

// redisRowColumns are the columns the redis connector adds to the rows it
// finds (connector/redis ColumnKey, ColumnType, ColumnExpiresAt,
// ColumnValue), which a template must not shadow.
var redisRowColumns = []string{"key", "type", "expires_at", "value"}

// keyCollectionName names the collection of a key pattern after its fixed
// prefix, up to the first ':' or '{' ("session:{user_id}" is session),
// as a plain identifier not yet taken in the datastore (session_2 for the
// second one).
func keyCollectionName(pattern string, taken map[string]*lethe.Collection) string {
	prefix := pattern
	if i := strings.IndexAny(prefix, ":{"); i >= 0 {
		prefix = prefix[:i]
	}
	var b strings.Builder
	for _, r := range prefix {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	base := strings.Trim(b.String(), "_")
	switch {
	case base == "":
		base = "key"
	case base[0] >= '0' && base[0] <= '9':
		base = "key_" + base
	}
	base = base[:min(len(base), 56)] // room for a _<n> suffix within 63 bytes
	name := base
	for n := 2; taken[name] != nil; n++ {
		name = base + "_" + strconv.Itoa(n)
	}
	return name
}

// driverKeys says which connection keys each driver takes; custom
// connectors may use any of them.
var driverKeys = map[string]struct{ dsn, url, secret, keys bool }{
	lethe.DriverPostgres: {dsn: true},
	lethe.DriverMySQL:    {dsn: true},
	lethe.DriverSQLite:   {dsn: true},
	lethe.DriverRedis:    {url: true, keys: true},
	lethe.DriverWebhook:  {url: true, secret: true},
	lethe.DriverCustom:   {dsn: true, url: true, secret: true},
}

func isSQL(driver string) bool {
	return driver == lethe.DriverPostgres || driver == lethe.DriverMySQL || driver == lethe.DriverSQLite
}

// checkDatastore checks what the driver needs. The connection string, URL
// and secret may hold passwords: no message quotes them.
func (m *dataMap) checkDatastore(d *lethe.Datastore) {
	p := m.p
	at := datastorePath(d.Name)
	allowed, known := driverKeys[d.Driver]
	if known {
		refuse := func(key string, set bool, which string) {
			if set && !p.covered(at+"."+key) {
				p.add(at+"."+key, p.lineOf(at+"."+key), "only applies to %s datastores; this datastore's driver is %s", which, d.Driver)
			}
		}
		refuse("dsn", d.DSN != "" && !allowed.dsn, "postgres, mysql, sqlite and custom")
		refuse("url", d.URL != "" && !allowed.url, "redis, webhook and custom")
		refuse("secret", d.Secret != "" && !allowed.secret, "webhook and custom")
		refuse("keys", len(d.Keys) > 0 && !allowed.keys, "redis")
		// lethe scrub rewrites SQL tables only.
		refuse("scrub_allowed", d.ScrubAllowed && !isSQL(d.Driver), "postgres, mysql and sqlite")
	}
	envName := strings.ToUpper(d.Name)
	switch {
	case isSQL(d.Driver):
		m.require(at+".dsn", d.DSN, fmt.Sprintf("is required for a %s datastore: the connection string, e.g. dsn: ${%s_DSN}", d.Driver, envName))
	case d.Driver == lethe.DriverRedis:
		if m.require(at+".url", d.URL, fmt.Sprintf("is required for a redis datastore: its address, e.g. url: ${%s_REDIS_URL}", envName)) {
			u, err := url.Parse(d.URL)
			if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
				p.add(at+".url", p.lineOf(at+".url"), "must be a redis://, rediss:// (TLS) or unix:// URL, e.g. redis://localhost:6379/0%s", m.source(at+".url"))
			}
		}
	case d.Driver == lethe.DriverWebhook:
		if m.require(at+".url", d.URL, fmt.Sprintf("is required for a webhook datastore: the endpoint, e.g. url: ${%s_URL}", envName)) {
			u, err := url.Parse(d.URL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				p.add(at+".url", p.lineOf(at+".url"), "must be an https:// (or http://) URL with a host, e.g. https://crm.example.com/lethe%s", m.source(at+".url"))
			}
		}
		if m.require(at+".secret", d.Secret, fmt.Sprintf("is required for a webhook datastore: the key that signs each call, e.g. secret: ${%s_SECRET}", envName)) && len(d.Secret) < minSecretLen {
			p.add(at+".secret", p.lineOf(at+".secret"), "is too short: a webhook secret has at least %d bytes (e.g. the output of openssl rand -hex 32)%s", minSecretLen, m.envSource(at+".secret"))
		}
	}
	if len(d.Collections) == 0 && !p.covered(at+".collections") && !p.problemsUnder(at+".collections") && !p.problemsUnder(at+".keys") {
		what := "collections:"
		if d.Driver == lethe.DriverRedis {
			what = "keys: or collections:"
		}
		p.add(at+".collections", p.lineOf(at), "the datastore declares no collections: add %s with the personal data it holds", what)
	}
}

// require reports a connection key the driver needs and that is not set;
// it reports whether the value is there to be checked further.
func (m *dataMap) require(path, value, msg string) bool {
	if m.p.covered(path) {
		return false // set, but invalid or unset in the environment: reported
	}
	if value == "" {
		m.p.add(path, m.p.lineOf(path), "%s", msg)
		return false
	}
	return true
}

// source names where a hidden value came from, for a message that cannot
// quote it.
func (m *dataMap) source(path string) string {
	return cmp.Or(m.envSource(path), " (the value is not shown: it may hold a password)")
}

// envSource names the variable a value came from, or is empty.
func (m *dataMap) envSource(path string) string {
	if l, ok := m.p.paths[path]; ok {
		if raw, env := m.p.fromEnv[l.node]; env {
			return " (check " + raw + "; its value is not shown)"
		}
	}
	return ""
}

// checkCollection checks one collection: the keys its driver allows,
// plain identifiers for every table and column, its references and after
// entries, and that anonymising has fields to mask.
func (m *dataMap) checkCollection(d *lethe.Datastore, c *lethe.Collection) {
	p := m.p
	at := m.at[c]
	declared := strings.Contains(at, ".collections")
	switch {
	case c.Key != "" && d.Driver != lethe.DriverRedis && d.Driver != lethe.DriverCustom && d.Driver != "":
		hint := ""
		if isSQL(d.Driver) {
			hint = "; a table is named by table:, which defaults to the collection name"
		}
		p.add(at+".key", p.lineOf(at+".key"), "only applies to redis and custom datastores; this datastore's driver is %s%s", d.Driver, hint)
	case c.Key == "" && d.Driver == lethe.DriverRedis && !p.covered(at+".key"):
		p.add(at+".key", p.lineOf(at), "is required in a redis datastore: the key pattern with identity templates, e.g. key: \"%s:{user_id}\"", c.Name)
	}
	if c.Table != "" && (d.Driver == lethe.DriverRedis || d.Driver == lethe.DriverWebhook) {
		p.add(at+".table", p.lineOf(at+".table"), "only applies to postgres, mysql, sqlite and custom datastores; this datastore's driver is %s", d.Driver)
	}

	// The schema refuses all of these already; the connectors rely on
	// lethe.IsIdentifier, so it has the last word.
	if c.Table != "" && !lethe.IsTableName(c.Table) {
		m.notIdentifier(at+".table", c.Table)
	}
	m.identifier(at+".primary_key", c.PrimaryKey)
	for _, t := range sortedKeys(c.Identities) {
		iat := childPath(at+".identities", string(t))
		if !identityTypeRe.MatchString(string(t)) {
			p.add(iat, p.lineOf(iat), "%q is not a valid identity type: an identity type uses lower-case letters, digits and _, and starts with a letter", t)
			continue
		}
		m.identifier(iat, c.Identities[t])
	}
	for _, name := range c.FieldNames() {
		fat := childPath(at+".fields", name)
		m.identifier(fat, name)
		// Package mask parses the strategies the erasure engine applies,
		// so it has the last word on their names too.
		if f := c.Fields[name]; f.Erase != "" && !p.covered(fat+".erase") {
			if err := mask.Check(f.Erase); err != nil {
				p.add(fat+".erase", p.lineOf(fat+".erase"), "%s", lethe.ErrorMessage(err))
			}
		}
		if f := c.Fields[name]; f.Scrub != "" && !p.covered(fat+".scrub") {
			if err := mask.Check(f.Scrub); err != nil {
				p.add(fat+".scrub", p.lineOf(fat+".scrub"), "%s", lethe.ErrorMessage(err))
			}
		}
	}
	if c.Hold != nil {
		m.identifier(at+".hold.since", c.Hold.Since)
	}
	for i, col := range c.CaseInsensitive {
		cat := itemPath(at+".case_insensitive", i)
		if col == "" || !m.identifier(cat, col) {
			continue
		}
		if !slices.Contains(slices.Collect(maps.Values(c.Identities)), col) {
			p.add(cat, p.lineOf(cat), "%s is not an identity column of this collection: case_insensitive lists columns under identities:", col)
		}
	}
	for i, col := range c.Ignore {
		iat := itemPath(at+".ignore", i)
		if col != "" && m.identifier(iat, col) && c.Fields[col] != nil {
			p.add(iat, p.lineOf(iat), "%s is declared under fields too: a column is either personal data (fields:) or ignored, not both", col)
		}
	}
	for _, col := range sortedKeys(c.References) {
		rat := childPath(at+".references", col)
		if m.identifier(rat, col) {
			m.checkReference(c, col, c.References[col], rat)
		}
	}
	if c.Key != "" && declared {
		m.checkKeyTemplates(c, at)
	}
	m.checkAfter(c, at)
	m.checkPurposesAndRetention(d, c, at)

	noFields := len(c.Fields) == 0 && !p.problemsUnder(at+".fields")
	if c.Erase == lethe.EraseAnonymise && noFields {
		p.add(at+".erase", p.lineOf(at+".erase"), "anonymise masks the collection's fields, and it declares none: list the personal columns under fields:, or erase: delete")
	}
	if c.Hold != nil && c.Hold.Then == lethe.EraseAnonymise && noFields {
		p.add(at+".hold.then", p.lineOf(at+".hold.then"), "anonymise masks the collection's fields, and it declares none: list the personal columns under fields:, or then: delete")
	}
}

// identifier reports a column name that is not a plain identifier (an
// empty name is not set). It reports whether the name is valid.
func (m *dataMap) identifier(path, name string) bool {
	if name == "" || lethe.IsIdentifier(name) {
		return true
	}
	m.notIdentifier(path, name)
	return false
}

func (m *dataMap) notIdentifier(path, name string) {
	m.p.add(path, m.p.lineOf(path), "%q is not valid: only plain identifiers are allowed: letters, digits and _, starting with a letter or _, at most 63 characters (tables may be schema.name)", name)
}

// checkKeyTemplates requires every template of a declared key pattern to
// be a column the collection gets a value for: an identity column or a
// reference column.
func (m *dataMap) checkKeyTemplates(c *lethe.Collection, at string) {
	vars, problem := keyTemplates(c.Key)
	if problem != "" {
		m.p.add(at+".key", m.p.lineOf(at+".key"), "%q is not a valid key pattern: %s", c.Key, problem)
		return
	}
	if m.p.problemsUnder(at+".identities") || m.p.problemsUnder(at+".references") {
		return
	}
	for _, v := range vars {
		_, ref := c.References[v]
		if !ref && !slices.Contains(mapValues(c.Identities), v) {
			m.p.add(at+".key", m.p.lineOf(at+".key"), "the template {%s} is neither an identity column nor a reference column of the collection: add identities: {%s: %s}, or a reference from %s", v, v, v, v)
			return
		}
	}
}

// checkReference resolves one reference: the target parses, its datastore
// and collection are declared, and the column is declared on it (its
// primary key, an identity column or a field).
func (m *dataMap) checkReference(c *lethe.Collection, col, target, at string) {
	p := m.p
	ref, err := lethe.ParseReference(c.Datastore, target)
	if err != nil {
		p.add(at, p.lineOf(at), "%v", err)
		return
	}
	d, ok := m.cfg.Datastore(ref.Datastore)
	if !ok {
		if _, inFile := p.paths[datastorePath(ref.Datastore)]; !inFile {
			p.add(at, p.lineOf(at), "references undeclared datastore %s (in %s)%s", ref.Datastore, target, didYouMean(ref.Datastore, m.cfg.DatastoreNames()))
		}
		return
	}
	written := target[:strings.LastIndexByte(target, '.')] // [datastore.]collection as written
	t, ok := d.Collections[ref.Collection]
	if !ok {
		dat := datastorePath(ref.Datastore)
		if _, inFile := p.paths[childPath(dat+".collections", ref.Collection)]; !inFile && !p.problemsUnder(dat+".keys") {
			p.add(at, p.lineOf(at), "references undeclared collection %s%s", written, didYouMean(ref.Collection, d.CollectionNames()))
		}
		return
	}
	columns := declaredColumns(t)
	if !slices.Contains(columns, ref.Column) {
		tat := m.at[t]
		if !p.problemsUnder(tat+".fields") && !p.problemsUnder(tat+".identities") && !p.problemsUnder(tat+".primary_key") {
			p.add(at, p.lineOf(at), "references undeclared field %s: a reference names the target's primary key (%s), an identity column or a field%s", target, t.PrimaryKeyColumn(), didYouMean(ref.Column, columns))
		}
		return
	}
	if t != c { // a collection referring to itself (a parent_id) orders nothing
		m.refs[c] = append(m.refs[c], t)
	}
}

// declaredColumns lists the columns a reference may name in c, sorted:
// its primary key, its identity columns and its fields.
func declaredColumns(c *lethe.Collection) []string {
	cols := append([]string{c.PrimaryKeyColumn()}, mapValues(c.Identities)...)
	cols = append(cols, c.FieldNames()...)
	slices.Sort(cols)
	return slices.Compact(cols)
}

// checkAfter resolves the after entries: [datastore.]collection, declared,
// not the collection itself.
func (m *dataMap) checkAfter(c *lethe.Collection, at string) {
	p := m.p
	for i, entry := range c.After {
		iat := itemPath(at+".after", i)
		if entry == "" || p.covered(iat) {
			continue // reported by the schema, and blanked
		}
		dn, cn, qualified := strings.Cut(entry, ".")
		if !qualified {
			dn, cn = c.Datastore, entry
		}
		if !lethe.IsIdentifier(dn) || !lethe.IsIdentifier(cn) || strings.Contains(cn, ".") {
			p.add(iat, p.lineOf(iat), "%q is not collection or datastore.collection with plain identifiers", entry)
			continue
		}
		t, ok := m.cfg.Collection(dn, cn)
		switch {
		case !ok:
			d, dok := m.cfg.Datastore(dn)
			dat := datastorePath(dn)
			switch {
			case !dok:
				if _, inFile := p.paths[dat]; !inFile {
					p.add(iat, p.lineOf(iat), "names undeclared datastore %s (in %s)%s", dn, entry, didYouMean(dn, m.cfg.DatastoreNames()))
				}
			default:
				if _, inFile := p.paths[childPath(dat+".collections", cn)]; !inFile && !p.problemsUnder(dat+".keys") {
					p.add(iat, p.lineOf(iat), "names undeclared collection %s%s", entry, didYouMean(cn, d.CollectionNames()))
				}
			}
		case t == c:
			p.add(iat, p.lineOf(iat), "names the collection itself; after: lists collections erased before this one")
		default:
			m.after[c] = append(m.after[c], t)
		}
	}
}

// checkReached requires every collection with personal fields to be
// reached from the request's identities: it declares identities, or a
// reference leads to a collection that is reached.
func (m *dataMap) checkReached() {
	reached := map[*lethe.Collection]bool{}
	for _, c := range m.all {
		if len(c.Identities) > 0 {
			reached[c] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, c := range m.all {
			if reached[c] {
				continue
			}
			for _, t := range m.refs[c] {
				if reached[t] {
					reached[c], changed = true, true
					break
				}
			}
		}
	}
	for _, c := range m.all {
		at := m.at[c]
		if reached[c] || len(c.Fields) == 0 || m.p.problemsUnder(at+".identities") || m.p.problemsUnder(at+".references") {
			continue
		}
		m.p.add(at, m.p.lineOf(at), "%s holds personal fields but no identity reaches it: add identities or a reference", c.Path())
	}
}

// checkReferenceCycles refuses references that form a cycle (a -> b -> a,
// each erased before the other) unless one of the collections on it names
// another in after:, which says which is erased first. A collection that
// refers to itself is no cycle: its rows are erased together.
func (m *dataMap) checkReferenceCycles() {
	for _, scc := range m.cycles(m.refs) {
		ordered := false
		for _, c := range scc {
			for _, t := range m.after[c] {
				if slices.Contains(scc, t) {
					ordered = true
				}
			}
		}
		if ordered {
			continue
		}
		start := m.first(scc)
		m.p.add(m.at[start], m.p.lineOf(m.at[start]), "unordered cycle: %s; add after: to one of them to say which is erased first", m.cyclePath(start, scc, m.refs))
	}
}

// checkAfterCycles refuses after entries that contradict each other
// (a after b, b after a): no order satisfies them.
func (m *dataMap) checkAfterCycles() {
	for _, scc := range m.cycles(m.after) {
		start := m.first(scc)
		at := m.at[start] + ".after"
		m.p.add(at, m.p.lineOf(at), "after: entries contradict each other: %s (each is erased after the next); remove one", m.cyclePath(start, scc, m.after))
	}
}

// cycles returns the strongly connected components of more than one
// collection in the graph (Tarjan's algorithm), in a stable order.
func (m *dataMap) cycles(edges map[*lethe.Collection][]*lethe.Collection) [][]*lethe.Collection {
	index := map[*lethe.Collection]int{}
	low := map[*lethe.Collection]int{}
	onStack := map[*lethe.Collection]bool{}
	var stack []*lethe.Collection
	var out [][]*lethe.Collection
	var visit func(c *lethe.Collection)
	visit = func(c *lethe.Collection) {
		index[c] = len(index)
		low[c] = index[c]
		stack = append(stack, c)
		onStack[c] = true
		for _, t := range edges[c] {
			if _, seen := index[t]; !seen {
				visit(t)
				low[c] = min(low[c], low[t])
			} else if onStack[t] {
				low[c] = min(low[c], index[t])
			}
		}
		if low[c] != index[c] {
			return
		}
		var scc []*lethe.Collection
		for {
			t := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[t] = false
			scc = append(scc, t)
			if t == c {
				break
			}
		}
		if len(scc) > 1 {
			out = append(out, scc)
		}
	}
	for _, c := range m.all {
		if _, seen := index[c]; !seen {
			visit(c)
		}
	}
	return out
}

// first returns the collection of scc declared first in the file.
func (m *dataMap) first(scc []*lethe.Collection) *lethe.Collection {
	return slices.MinFunc(scc, func(a, b *lethe.Collection) int {
		return cmp.Or(cmp.Compare(m.p.lineOf(m.at[a]), m.p.lineOf(m.at[b])), strings.Compare(a.Path(), b.Path()))
	})
}

// cyclePath writes one cycle through start within scc: the shortest path
// back to start, found breadth first, as ds.a -> ds.b -> ds.a.
func (m *dataMap) cyclePath(start *lethe.Collection, scc []*lethe.Collection, edges map[*lethe.Collection][]*lethe.Collection) string {
	prev := map[*lethe.Collection]*lethe.Collection{}
	queue := []*lethe.Collection{start}
	var last *lethe.Collection
	for len(queue) > 0 && last == nil {
		c := queue[0]
		queue = queue[1:]
		for _, t := range edges[c] {
			if t == start {
				last = c
				break
			}
			if _, seen := prev[t]; !seen && slices.Contains(scc, t) {
				prev[t] = c
				queue = append(queue, t)
			}
		}
	}
	path := []string{start.Path()}
	for c := last; c != nil && c != start; c = prev[c] {
		path = append(path, c.Path())
	}
	path = append(path, start.Path())
	slices.Reverse(path[1 : len(path)-1])
	return strings.Join(path, " -> ")
}

// problemsUnder reports whether a problem was recorded at path or below
// it: a value there was pruned, so what is missing is no news.
func (p *parser) problemsUnder(path string) bool {
	for reported := range p.reported {
		if reported == path || strings.HasPrefix(reported, path+".") || strings.HasPrefix(reported, path+"[") {
			return true
		}
	}
	return p.covered(path)
}

// didYouMean proposes the declared name closest to a misspelt one, or
// lists the declared names when none is close and they are few.
func didYouMean(name string, declared []string) string {
	if len(declared) == 0 {
		return "; none is declared"
	}
	best, bestDist := "", 1<<30
	for _, d := range declared {
		if dist := editDistance(strings.ToLower(name), strings.ToLower(d)); dist < bestDist {
			best, bestDist = d, dist
		}
	}
	if bestDist <= max(2, len(name)/3) {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	if len(declared) <= 12 {
		return "; declared: " + strings.Join(declared, ", ")
	}
	return ""
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func mapValues[K comparable](m map[K]string) []string {
	values := make([]string, 0, len(m))
	for _, v := range m {
		values = append(values, v)
	}
	slices.Sort(values)
	return values
}
