package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/lethe-privacy/lethe"
)

// MaxSample bounds Options.Sample: a sample is held as counts only, but
// each sampled row is still read over the network.
const MaxSample = 100_000

// DefaultMinConfidence is the confidence below which a column is not
// reported, when Options.MinConfidence is zero.
const DefaultMinConfidence = 0.5

// Options configure Run.
type Options struct {
	// Sample is the most rows read per table. Defaults to
	// lethe.DefaultSampleSize; at most MaxSample.
	Sample int
	// Datastores limits the scan to these names; empty means every
	// datastore of the data map.
	Datastores []string
	// MinConfidence drops findings less confident than this. Defaults to
	// DefaultMinConfidence.
	MinConfidence float64
	// Regions are the regions national phone numbers are tried in.
	// Defaults to DefaultRegions.
	Regions []string
	// Now anchors the range of plausible dates of birth. Defaults to
	// time.Now().
	Now time.Time
	// Strategy parses an erase strategy so that a suggestion can be
	// checked against its column (package mask's Parse fits). Without
	// it, suggestions are not checked.
	Strategy func(name string) (Strategy, error)
	// Progress, when set, is called after each table is sampled, from
	// one goroutine per datastore (concurrently across datastores).
	Progress func(Progress)
}

// Progress reports how far the scan of one datastore is.
type Progress struct {
	Datastore string
	// Tables is how many of the datastore's Total tables are done.
	Tables, Total int
}

// Strategy is what a suggestion is checked with (package mask's
// strategies implement it, as for datamap.Check).
type Strategy interface {
	Fits(col lethe.ColumnSchema) error
	PreservesUniqueness() bool
}

// Connectors gives the scan a datastore's connector (connector.Set).
type Connectors interface {
	Connector(ctx context.Context, datastore string) (lethe.Connector, error)
}

// Status says how a finding relates to the data map.
type Status string

// Statuses.
const (
	// StatusUndeclared: the column holds personal data and the data map
	// does not declare it (neither under fields: nor ignore:).
	StatusUndeclared Status = "undeclared"
	// StatusDeclared: the data map declares the column, with a category
	// that fits what was found.
	StatusDeclared Status = "declared"
	// StatusMismatch: the data map declares the column as a personal
	// field, but its content looks like another category.
	StatusMismatch Status = "mismatch"
)

// Finding is one column found to hold personal data. It names the column
// and counts matches; it never holds a sampled value.
type Finding struct {
	Datastore  string `json:"datastore"`
	Collection string `json:"collection"`
	// Table is the table's name in the database.
	Table  string `json:"table"`
	Column string `json:"column"`
	ColumnResult
	Status Status `json:"status"`
	// Declared is the category (or role: identity, reference, primary
	// key) the data map gives the column, when it declares it.
	Declared string `json:"declared,omitempty"`
	// Category and Erase are the suggested data category and erase
	// strategy (see Report.Propose).
	Category string `json:"category"`
	Erase    string `json:"erase"`
	// NewCollection is true when the data map does not declare the
	// table at all.
	NewCollection bool `json:"new_collection,omitempty"`
	// JSONColumn is set when Column is a key inside a JSON object stored
	// in that column (parent.key): a redis hash's other fields, a json
	// column.
	JSONColumn string `json:"json_column,omitempty"`
	// Field is what to declare under the collection's fields: the
	// column, a redis hash field, or the whole json column.
	Field string `json:"field"`
}

func (f Finding) String() string {
	at := f.Datastore + "." + f.Collection + "." + f.Column
	s := fmt.Sprintf("%-10s %s: %s", f.Status, at, f.Kind)
	if f.Detail != "" {
		s += " (" + f.Detail + ")"
	}
	s += fmt.Sprintf(", confidence %.2f, %d of %d sampled values", f.Confidence, f.Evidence.Matched, f.Evidence.Sampled)
	if f.Declared != "" {
		s += ", declared " + f.Declared
	}
	return s
}

// TableReport is how one table was sampled.
type TableReport struct {
	Collection string `json:"collection"`
	Table      string `json:"table"`
	// Declared is true when the data map declares the table.
	Declared bool               `json:"declared"`
	Method   lethe.SampleMethod `json:"method,omitempty"`
	Rows     int                `json:"rows"`
	// Error says why the table was not sampled.
	Error string `json:"error,omitempty"`
}

// DatastoreReport is what was scanned in one datastore.
type DatastoreReport struct {
	Name   string `json:"name"`
	Driver string `json:"driver"`
	// Unsupported says why the datastore was not scanned (its connector
	// cannot sample).
	Unsupported string `json:"unsupported,omitempty"`
	// Error says why the datastore could not be scanned (unreachable).
	Error  string        `json:"error,omitempty"`
	Tables []TableReport `json:"tables,omitempty"`

	err error
}

// Report is the outcome of a scan, findings sorted by datastore,
// collection and column.
type Report struct {
	Sample     int               `json:"sample"`
	Datastores []DatastoreReport `json:"datastores"`
	Findings   []Finding         `json:"findings"`
	Undeclared int               `json:"undeclared"`
	Mismatched int               `json:"mismatched"`
	// Ignored counts personal-looking columns the data map lists under
	// ignore:, which are not reported.
	Ignored int `json:"ignored"`
}

// Err returns the first error that kept a datastore or table from being
// scanned (unreachable, a failing statement), or nil.
func (r *Report) Err() error {
	for _, d := range r.Datastores {
		if d.err != nil {
			return d.err
		}
	}
	return nil
}

// Run samples every table of the selected datastores (every table of the
// database where the connector can list them, else the data map's
// collections), classifies each column and compares the findings with
// the data map. A datastore that cannot be reached, or whose connector
// cannot sample, is reported in its DatastoreReport, not as an error:
// Run fails only for an unknown datastore name or bad options (EINVALID)
// and for cancellation.
func Run(ctx context.Context, cfg *lethe.Config, conns Connectors, opts Options) (*Report, error) {
	size := opts.Sample
	switch {
	case size == 0:
		size = lethe.DefaultSampleSize
	case size < 0 || size > MaxSample:
		return nil, lethe.Errorf(lethe.EINVALID, "sample size must be between 1 and %d rows, not %d", MaxSample, size)
	}
	if opts.MinConfidence < 0 || opts.MinConfidence > 1 {
		return nil, lethe.Errorf(lethe.EINVALID, "minimum confidence must be between 0 and 1, not %g", opts.MinConfidence)
	}
	minConf := opts.MinConfidence
	if minConf == 0 {
		minConf = DefaultMinConfidence
	}
	supported := phonenumbers.GetSupportedRegions()
	for _, r := range opts.Regions {
		if !supported[strings.ToUpper(r)] {
			return nil, lethe.Errorf(lethe.EINVALID, "phone region %q is not an ISO 3166 region libphonenumber knows (e.g. US, GB, DE)", r)
		}
	}
	for _, want := range opts.Datastores {
		if _, ok := cfg.Datastores[want]; !ok {
			return nil, lethe.Errorf(lethe.ENOTFOUND, "datastore %s is not declared in the data map", want)
		}
	}
	names := make([]string, 0, len(cfg.Datastores))
	for name := range cfg.Datastores {
		if len(opts.Datastores) == 0 || slices.Contains(opts.Datastores, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	s := &scanner{
		cls:      NewClassifier(ClassifierOpts{Regions: opts.Regions, Now: opts.Now}),
		size:     size,
		minConf:  minConf,
		strategy: opts.Strategy,
		progress: opts.Progress,
	}
	// Datastores are scanned concurrently (each is its own server);
	// the tables of one datastore one after the other, so that a scan
	// never takes more than one connection from a production database.
	rep := &Report{Sample: size, Findings: []Finding{}}
	parts := make([]*Report, len(names))
	rep.Datastores = make([]DatastoreReport, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		parts[i] = &Report{}
		wg.Go(func() {
			rep.Datastores[i] = s.datastore(ctx, cfg.Datastores[name], conns, parts[i])
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, p := range parts {
		rep.Findings = append(rep.Findings, p.Findings...)
		rep.Ignored += p.Ignored
	}
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		return strings.Compare(a.Datastore+"\x00"+a.Collection+"\x00"+a.Column, b.Datastore+"\x00"+b.Collection+"\x00"+b.Column)
	})
	for _, f := range rep.Findings {
		switch f.Status {
		case StatusUndeclared:
			rep.Undeclared++
		case StatusMismatch:
			rep.Mismatched++
		}
	}
	return rep, nil
}

type scanner struct {
	cls      *Classifier
	size     int
	minConf  float64
	strategy func(string) (Strategy, error)
	progress func(Progress)
}

// target is one table to sample.
type target struct {
	coll     *lethe.Collection
	declared bool
}

func (s *scanner) datastore(ctx context.Context, ds *lethe.Datastore, conns Connectors, rep *Report) DatastoreReport {
	dr := DatastoreReport{Name: ds.Name, Driver: ds.Driver}
	conn, err := conns.Connector(ctx, ds.Name)
	if err != nil {
		dr.Error, dr.err = "cannot connect: "+lethe.ErrorMessage(err), err
		return dr
	}
	sampler, ok := conn.(lethe.Sampler)
	if !ok {
		dr.Unsupported = fmt.Sprintf("scanning is not supported for driver %s: its connector cannot sample rows", ds.Driver)
		return dr
	}
	var targets []target
	declaredBy := map[string]*lethe.Collection{}
	for _, n := range ds.CollectionNames() {
		c := ds.Collections[n]
		targets = append(targets, target{coll: c, declared: true})
		declaredBy[strings.ToLower(c.TableName())] = c
	}
	if lister, ok := conn.(lethe.TableLister); ok {
		tables, err := lister.Tables(ctx)
		if err != nil {
			dr.Error, dr.err = "cannot list tables: "+lethe.ErrorMessage(err), err
			return dr
		}
		for _, t := range tables {
			// The data map may qualify a table of PostgreSQL's default
			// schema (public.users) where the listing does not.
			if declaredBy[strings.ToLower(t)] != nil || declaredBy["public."+strings.ToLower(t)] != nil {
				continue
			}
			name := t
			if _, bare, ok := strings.Cut(t, "."); ok {
				name = bare
			}
			if !lethe.IsTableName(t) {
				dr.Tables = append(dr.Tables, TableReport{Collection: name, Table: t, Error: "skipped: the table name is not a plain identifier, which the data map cannot name"})
				continue
			}
			targets = append(targets, target{coll: &lethe.Collection{Name: name, Datastore: ds.Name, Table: t}})
		}
	}
	colls := make([]*lethe.Collection, len(targets))
	for i, t := range targets {
		colls[i] = t.coll
	}
	schemas, err := conn.Describe(ctx, colls)
	if err != nil {
		dr.Error, dr.err = "cannot read the schema: "+lethe.ErrorMessage(err), err
		return dr
	}
	for i, t := range targets {
		tr := TableReport{Collection: t.coll.Name, Table: t.coll.TableName(), Declared: t.declared}
		if !schemas[i].Exists {
			tr.Error = "the table does not exist (see lethe datamap check)"
			dr.Tables = append(dr.Tables, tr)
			continue
		}
		found, res, err := s.table(ctx, ds, sampler, t, schemas[i])
		tr.Method, tr.Rows = res.Method, res.Rows
		if err != nil {
			if ctx.Err() != nil {
				return dr
			}
			tr.Error = lethe.ErrorMessage(err)
			if dr.err == nil {
				dr.err = err
			}
		}
		rep.Findings = append(rep.Findings, found.findings...)
		rep.Ignored += found.ignored
		dr.Tables = append(dr.Tables, tr)
		if s.progress != nil {
			s.progress(Progress{Datastore: ds.Name, Tables: i + 1, Total: len(targets)})
		}
	}
	return dr
}

// maxColumns bounds the columns classified per table, JSON keys
// included, so that memory stays bounded by the sample whatever the data.
const maxColumns = 1000

type tableFindings struct {
	findings []Finding
	ignored  int
}

// table samples one table and turns its columns' statistics into
// findings.
func (s *scanner) table(ctx context.Context, ds *lethe.Datastore, sampler lethe.Sampler, t target, ts lethe.TableSchema) (tableFindings, lethe.SampleResult, error) {
	var out tableFindings
	stats := map[string]*ColumnStats{}
	var order []string
	kinds := map[string]lethe.ColumnKind{}
	for _, cs := range ts.Columns {
		kinds[cs.Name] = cs.Kind
	}
	get := func(name string, kind lethe.ColumnKind, hintName string) *ColumnStats {
		st := stats[name]
		if st == nil {
			st = s.cls.Column(Column{Name: hintName, Kind: kind})
			stats[name] = st
			order = append(order, name)
		}
		return st
	}
	var cols []*ColumnStats
	res, err := sampler.Sample(ctx, lethe.SampleParams{Collection: t.coll, Size: s.size}, func(r lethe.Row) error {
		if len(cols) != len(r.Columns) {
			cols = make([]*ColumnStats, len(r.Columns))
		}
		for i, v := range r.Values {
			name := r.Columns[i]
			if cols[i] == nil {
				kind, ok := kinds[name]
				if !ok {
					kind = lethe.KindText
				}
				cols[i] = get(name, kind, name)
			}
			// Keys of a JSON object (a json column, a redis hash's
			// fields) are columns of their own to the classifier; the
			// object itself is not prose.
			if obj := jsonObject(v, kinds[name]); obj != nil {
				for k, kv := range obj {
					if !lethe.IsIdentifier(k) {
						continue
					}
					key := name + "." + k
					if stats[key] == nil && len(stats) >= maxColumns {
						continue // a JSON column with ever-new keys: bounded
					}
					get(key, lethe.KindText, k).Add(scalar(kv))
				}
				continue
			}
			cols[i].Add(v)
		}
		return nil
	})
	if err != nil {
		return out, res, err
	}
	for _, name := range order {
		r, ok := stats[name].Result()
		if !ok || r.Confidence < s.minConf {
			continue
		}
		f := Finding{Datastore: ds.Name, Collection: t.coll.Name, Table: t.coll.TableName(), Column: name, ColumnResult: r, NewCollection: !t.declared}
		field := name
		if parent, key, ok := strings.Cut(name, "."); ok {
			f.JSONColumn = parent
			field = key
			if ds.Driver != lethe.DriverRedis {
				field = parent // a SQL json column is declared whole
			}
		}
		f.Field = field
		f.Category, f.Erase = s.suggest(r, field, ts)
		if t.declared {
			role, ignored := declaredAs(t.coll, field, ds.Driver)
			if ignored {
				out.ignored++
				continue
			}
			f.Declared = role
			switch {
			case role == "":
				f.Status = StatusUndeclared
			case fits(r.Kind, t.coll.Fields[field]):
				f.Status = StatusDeclared
			default:
				f.Status = StatusMismatch
			}
		} else {
			f.Status = StatusUndeclared
		}
		out.findings = append(out.findings, f)
	}
	return out, res, nil
}

// jsonObject returns v's top-level keys when it is a JSON object held as
// text (a redis hash's fields, a json column), else nil.
func jsonObject(v any, kind lethe.ColumnKind) map[string]any {
	s, ok := v.(string)
	if !ok || len(s) < 2 || s[0] != '{' || kind != lethe.KindJSON && kind != lethe.KindText && kind != lethe.KindOther && kind != "" {
		return nil
	}
	var obj map[string]any
	if json.Unmarshal([]byte(s), &obj) != nil {
		return nil
	}
	return obj
}

// scalar keeps the JSON leaves the detectors read (text and whole
// numbers); objects and arrays count as absent.
func scalar(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return nil
}

// declaredAs says what the data map makes of a column: its personal
// field's category, its role (primary key, identity, reference, hold
// column, a redis key's built-in columns), "" when undeclared; ignored
// when it is listed under ignore:.
func declaredAs(c *lethe.Collection, col, driver string) (role string, ignored bool) {
	eq := func(a string) bool { return strings.EqualFold(a, col) }
	for name, f := range c.Fields {
		if eq(name) {
			if f.Category == "" {
				return "personal field", false
			}
			return f.Category, false
		}
	}
	if slices.ContainsFunc(c.Ignore, eq) {
		return "", true
	}
	for t, name := range c.Identities {
		if eq(name) {
			return "identity (" + string(t) + ")", false
		}
	}
	for name := range c.References {
		if eq(name) {
			return "reference", false
		}
	}
	if eq(c.PrimaryKeyColumn()) {
		return "primary key", false
	}
	if c.Hold != nil && eq(c.Hold.Since) {
		return "hold since", false
	}
	if driver == lethe.DriverRedis {
		switch col {
		case "key", "type", "expires_at":
			return "redis key", false
		}
	}
	return "", false
}

// categoryWords are the words a declared category may use for each kind
// of finding: a field declared contact.email holding e-mail addresses
// fits; declared as notes, it is a mismatch worth a look.
var categoryWords = map[Kind][]string{
	KindEmail:      {"mail", "contact"},
	KindPhone:      {"phone", "tel", "mobile", "contact"},
	KindIP:         {"ip", "network", "online", "device"},
	KindIBAN:       {"iban", "bank", "payment", "financ", "account"},
	KindCard:       {"card", "payment", "financ"},
	KindBirthDate:  {"birth", "dob", "age", "identity", "date"},
	KindPostalCode: {"address", "post", "zip", "location", "contact"},
	KindNationalID: {"national", "identity", "identifier", "ssn", "tax", "government", "id"},
	KindPersonName: {"name", "identity", "contact"},
	KindFreeText:   {"content", "text", "communication", "message", "note", "comment", "free", "support"},
}

// fits reports whether a field's declared category fits the kind found.
// Columns declared by role (identity, reference) always fit.
func fits(k Kind, f *lethe.Field) bool {
	if f == nil || f.Category == "" {
		return true
	}
	cat := strings.ToLower(f.Category)
	for _, w := range categoryWords[k] {
		if strings.Contains(cat, w) {
			return true
		}
	}
	return false
}
