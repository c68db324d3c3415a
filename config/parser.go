package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lethe-privacy/lethe"
)

// maxValues bounds the values a document may expand to through aliases
// (a "billion laughs" file is small but expands exponentially).
const maxValues = 200_000

// parser holds the state of one Parse: the node tree, where every value
// sits in the file, and the problems found so far.
type parser struct {
	name   string
	lookup func(string) (string, bool)

	root *yaml.Node
	// locs indexes every value reached from the root by its JSON location
	// (the tokens joined by locSep), which is how schema errors name it.
	locs map[string]*loc
	// paths indexes the same values by their dotted path.
	paths map[string]*loc
	// fromEnv holds the original text of scalars that ${VAR} expanded:
	// their values may be secrets and are never quoted in messages.
	fromEnv map[*yaml.Node]string
	// hidden holds the scalars of keys that may hold a password (dsn,
	// url, secret: writeOnly in the schema), never quoted either.
	hidden map[*yaml.Node]bool
	// prune lists nodes that failed validation and are dropped before
	// decoding, so that the decoder and the cross-field checks see only
	// values that passed (and do not report the same problem again).
	prune  map[*yaml.Node]bool
	values int
	// expanding holds the alias targets being converted, to refuse an
	// alias inside the value it names (a: &a [*a]).
	expanding map[*yaml.Node]bool

	problems []lethe.FieldError
	reported map[string]bool
}

// loc is where one value sits in the file.
type loc struct {
	path string
	line int // of the key for a mapping value, of the value otherwise
	node *yaml.Node
}

const locSep = "\x00"

func newParser(name string, lookup func(string) (string, bool)) *parser {
	return &parser{
		name:      name,
		lookup:    lookup,
		locs:      map[string]*loc{},
		paths:     map[string]*loc{},
		fromEnv:   map[*yaml.Node]string{},
		hidden:    map[*yaml.Node]bool{},
		prune:     map[*yaml.Node]bool{},
		expanding: map[*yaml.Node]bool{},
		reported:  map[string]bool{},
	}
}

// run takes the file through every stage; each stage records its problems
// and the next one works on what passed, so one run reports everything.
func (p *parser) run(data []byte) *lethe.Config {
	root, ok := p.parseYAML(data)
	if !ok {
		return nil
	}
	p.root = root
	p.expand(root, "", schemaRoot())
	value, ok := p.convert(root, nil, "", root.Line, schemaRoot())
	if !ok {
		return nil
	}
	p.validate(value)
	if root.Kind != yaml.MappingNode {
		return nil // reported by validate: the top level must be a mapping
	}
	cfg := p.decode()
	p.check(cfg)
	return cfg
}

// add records a problem unless the same path (or a path it is part of)
// already has one: one mistake, one message.
func (p *parser) add(path string, line int, format string, args ...any) {
	if p.covered(path) {
		return
	}
	p.reported[path] = true
	p.problems = append(p.problems, lethe.FieldError{Path: path, Line: line, Message: fmt.Sprintf(format, args...)})
}

// covered reports whether path or one of its ancestors has a problem.
func (p *parser) covered(path string) bool {
	for {
		if p.reported[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// lineOf returns the line of the value at path, or of its nearest ancestor
// present in the file (a missing key is reported at its parent).
func (p *parser) lineOf(path string) int {
	for {
		if l, ok := p.paths[path]; ok {
			return l.line
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

func (p *parser) err() error {
	slices.SortStableFunc(p.problems, func(a, b lethe.FieldError) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Path, b.Path)
	})
	n := len(p.problems)
	msg := fmt.Sprintf("%s: %d problems", p.name, n)
	if n == 1 {
		msg = fmt.Sprintf("%s: 1 problem", p.name)
	}
	return &lethe.Error{Code: lethe.EINVALID, Message: msg, Fields: p.problems}
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlProblem turns a go-yaml error into a line and a message.
func yamlProblem(err error) (int, string) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// parseYAML reads the single document of the file into a node tree.
func (p *parser) parseYAML(data []byte) (root *yaml.Node, ok bool) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := safely(func() error { return dec.Decode(&doc) })
	switch {
	case errors.Is(err, io.EOF):
		p.add("", 0, "the file is empty; it needs at least controller and purposes")
		return nil, false
	case err != nil:
		line, msg := yamlProblem(err)
		p.add("", line, "%s", msg)
		return nil, false
	}
	var next yaml.Node
	if err := safely(func() error { return dec.Decode(&next) }); !errors.Is(err, io.EOF) {
		line := next.Line
		if err != nil {
			line, _ = yamlProblem(err)
		}
		p.add("", line, "a config file holds one YAML document; remove the second one (after ---)")
		return nil, false
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind == 0 {
		p.add("", 0, "the file is empty; it needs at least controller and purposes")
		return nil, false
	}
	root = doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		p.add("", 0, "the file holds no values; it needs at least controller and purposes")
		return nil, false
	}
	return root, true
}

// safely runs a go-yaml call and turns a panic inside the library into an
// error: a malformed file must be reported, never crash the server.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML parser could not read this file (%v)", r)
		}
	}()
	return f()
}

// childPath returns the dotted path of key under parent; keys that are
// not plain identifiers are quoted so that the path stays unambiguous.
func childPath(parent, key string) string {
	if !plainKey.MatchString(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func itemPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// show renders a value for a message: quoted as written, or, when it came
// from the environment, by the variable it came from, since environment
// values are often secrets. A value that may hold a password (a DSN, a
// URL, a secret) is never quoted, whether or not it came from the
// environment.
func (p *parser) show(n *yaml.Node, value string) string {
	if raw, ok := p.fromEnv[n]; ok {
		return "the value of " + raw
	}
	if p.hidden[n] {
		return "the value (not shown: it may hold a password)"
	}
	return strconv.Quote(value)
}

// convert turns the node tree into the JSON values the schema validator
// takes (map[string]any, []any, string, bool, json numbers, nil) and
// indexes where each value sits. It reports what JSON cannot hold:
// non-text keys, duplicate keys, tags, merge keys.
func (p *parser) convert(n *yaml.Node, tokens []string, path string, line int, sch schemaNode) (any, bool) {
	p.values++
	if p.values > maxValues {
		if !p.reported["\x00values"] {
			p.reported["\x00values"] = true
			p.problems = append(p.problems, lethe.FieldError{Line: n.Line, Message: fmt.Sprintf("the file expands to more than %d values (through aliases?)", maxValues)})
		}
		return nil, false
	}
	l := &loc{path: path, line: line, node: n}
	key := strings.Join(tokens, locSep)
	p.locs[key] = l
	if _, ok := p.paths[path]; !ok {
		p.paths[path] = l
	}
	if sch.writeOnly() {
		p.hidden[n] = true
	}
	if n.Anchor != "" {
		p.expanding[n] = true
		defer delete(p.expanding, n)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, true
		}
		if p.expanding[n.Alias] {
			p.add(path, line, "alias *%s refers to a value that contains it", n.Value)
			return nil, false
		}
		return p.convert(n.Alias, tokens, path, line, sch)
	case yaml.MappingNode:
		return p.convertMapping(n, tokens, path, sch)
	case yaml.SequenceNode:
		items := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			v, ok := p.convert(item, append(slices.Clip(tokens), strconv.Itoa(i)), itemPath(path, i), item.Line, sch.items())
			if !ok {
				return nil, false
			}
			items = append(items, v)
		}
		return items, true
	case yaml.ScalarNode:
		return p.convertScalar(n, path, line, sch), true
	}
	return nil, true
}

func (p *parser) convertMapping(n *yaml.Node, tokens []string, path string, sch schemaNode) (any, bool) {
	obj := make(map[string]any, len(n.Content)/2)
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			p.add(childPath(path, "?"), k.Line, "a key must be plain text, not a %s", kindName(k))
			p.prune[v] = true
			continue
		}
		if k.ShortTag() == "!!merge" {
			p.add(childPath(path, k.Value), k.Line, "merge keys (<<) are not supported; use an alias (*name) for the whole value or repeat the keys")
			p.prune[v] = true
			continue
		}
		cpath := childPath(path, k.Value)
		if first, dup := firstLine[k.Value]; dup {
			p.add(cpath, k.Line, "duplicate key %q (first at line %d)", k.Value, first)
			p.prune[v] = true
			continue
		}
		firstLine[k.Value] = k.Line
		if names := sch.names(); names.known() && !p.checkName(k, cpath, names) {
			p.prune[v] = true
		}
		csch := sch.property(k.Value)
		if text := csch.str(kwNull); text != "" && isNull(v) {
			// erase: null (or ~, or nothing) is the strategy "null".
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text, Style: yaml.DoubleQuotedStyle, Line: v.Line, Column: v.Column}
			n.Content[i+1] = v
		}
		// A key with no value (`contact:`) means "not set" for an
		// optional key, as it does to the decoder; for an unknown or a
		// required key it is kept, so that the schema names the key, and
		// so is an entry of a mapping of names (a datastore, a field),
		// which must have a value.
		if isNull(v) && csch.known() && !sch.requires(k.Value) && !sch.isNameMap() {
			p.paths[cpath] = &loc{path: cpath, line: k.Line, node: v}
			continue
		}
		cv, ok := p.convert(v, append(slices.Clip(tokens), k.Value), cpath, k.Line, csch)
		if !ok {
			return nil, false
		}
		obj[k.Value] = cv
	}
	return obj, true
}

func isNull(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func (p *parser) convertScalar(n *yaml.Node, path string, line int, sch schemaNode) any {
	tag := n.ShortTag()
	switch tag {
	case "!!str", "!!timestamp":
		// A date such as 2026-03-01 is text to Lethe (a policy version).
		switch sch.caseFold() {
		case "upper":
			n.Value = strings.ToUpper(n.Value)
		case "lower":
			n.Value = strings.ToLower(n.Value)
		}
		return n.Value
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return n.Value
		}
		return b
	case "!!int", "!!float":
		// The schema only needs to know that this is a number; its exact
		// value never matters because no number is valid in lethe.yaml
		// today. JSON cannot hold NaN or infinities, so those count as 0.
		var v any
		if err := n.Decode(&v); err == nil {
			switch x := v.(type) {
			case int, int64, uint64:
				return json.Number(fmt.Sprint(x))
			case float64:
				if !math.IsNaN(x) && !math.IsInf(x, 0) {
					return x
				}
			}
		}
		return json.Number("0")
	default:
		p.add(path, line, "YAML tags such as %s are not supported; remove the tag", tag)
		p.prune[n] = true
		return n.Value
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "value"
}
