package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"

	"github.com/lethe-privacy/lethe"
)

// schemaJSON is the JSON Schema of lethe.yaml. It is the one description
// of the file's shape: editors read it, and Parse validates against it
// before decoding, so the two cannot disagree.
//
//go:embed lethe.schema.json
var schemaJSON []byte

// Three keywords beyond the standard ones, all ignored by validators that
// do not know them: patternErrorMessage (which VS Code's JSON and YAML
// language servers show instead of the bare pattern) gives the human
// message for a pattern, x-lethe-case names the case a value is
// normalised to before validation (country codes, safeguards), and
// x-lethe-null gives the text a YAML null stands for (erase: null is the
// masking strategy "null", not an unset key). The standard annotation
// writeOnly marks values that may hold a password (dsn, url, secret):
// messages never quote them.
const (
	kwPatternMessage = "patternErrorMessage"
	kwCase           = "x-lethe-case"
	kwNull           = "x-lethe-null"
	kwWriteOnly      = "writeOnly"
)

type compiledSchema struct {
	schema *jsonschema.Schema
	doc    map[string]any
}

// compiled is built once; a schema that does not compile is a bug caught
// by every test of this package.
var compiled = sync.OnceValue(func() *compiledSchema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		panic(fmt.Sprintf("config: embedded lethe.schema.json: %v", err))
	}
	m := doc.(map[string]any)
	id, _ := m["$id"].(string)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "lethe-duration", Validate: validateDuration})
	c.RegisterFormat(&jsonschema.Format{Name: "lethe-country", Validate: validateCountry})
	c.RegisterFormat(&jsonschema.Format{Name: "lethe-rate", Validate: validateRate})
	c.RegisterFormat(&jsonschema.Format{Name: "lethe-cidr", Validate: validateCIDR})
	if err := c.AddResource(id, doc); err != nil {
		panic(fmt.Sprintf("config: embedded lethe.schema.json: %v", err))
	}
	sch, err := c.Compile(id)
	if err != nil {
		panic(fmt.Sprintf("config: embedded lethe.schema.json: %v", err))
	}
	return &compiledSchema{schema: sch, doc: m}
})

func validateDuration(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	_, err := lethe.ParseDuration(s)
	return err
}

func validateRate(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	_, err := lethe.ParseRate(s)
	return err
}

func validateCIDR(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	_, err := lethe.ParseTrustedProxy(s)
	return err
}

func validateCountry(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	return checkCountry(s)
}

// schemaNode is one (sub)schema of the embedded document, walked alongside
// the YAML tree; the zero value stands for "no schema" (an unknown key).
type schemaNode struct{ m map[string]any }

func schemaRoot() schemaNode { return schemaNode{compiled().doc} }

// get returns a keyword of the schema, looking through a local $ref.
func (s schemaNode) get(keyword string) any {
	for range 8 { // bounds a $ref cycle
		if s.m == nil {
			return nil
		}
		if v, ok := s.m[keyword]; ok {
			return v
		}
		ref, _ := s.m["$ref"].(string)
		if ref == "" {
			return nil
		}
		s = schemaAt(ref)
	}
	return nil
}

func (s schemaNode) known() bool { return s.m != nil }

// property returns the schema of key: its entry under properties or, in a
// mapping of names (datastores, collections, fields), the schema every
// value takes (additionalProperties).
func (s schemaNode) property(key string) schemaNode {
	props, _ := s.get("properties").(map[string]any)
	if m, ok := props[key].(map[string]any); ok {
		return schemaNode{m}
	}
	m, _ := s.get("additionalProperties").(map[string]any)
	return schemaNode{m}
}

// isNameMap reports whether the schema is a mapping of names to values of
// one schema (a Go map), rather than a record of known keys.
func (s schemaNode) isNameMap() bool {
	_, ok := s.get("additionalProperties").(map[string]any)
	return ok
}

// names returns the schema of the keys of a mapping of names
// (propertyNames), or the zero schemaNode.
func (s schemaNode) names() schemaNode {
	m, _ := s.get("propertyNames").(map[string]any)
	return schemaNode{m}
}

// patterns caches the compiled patterns of propertyNames schemas.
var patterns sync.Map // string -> *regexp.Regexp

// checkName reports a key of a mapping of names that its propertyNames
// schema refuses (a table, column or datastore name that is not a plain
// identifier). It reports whether the name is valid.
func (p *parser) checkName(key *yaml.Node, path string, names schemaNode) bool {
	pattern := names.str("pattern")
	if pattern == "" {
		return true
	}
	re, ok := patterns.Load(pattern)
	if !ok {
		re, _ = patterns.LoadOrStore(pattern, regexp.MustCompile(pattern))
	}
	if re.(*regexp.Regexp).MatchString(key.Value) {
		return true
	}
	p.add(path, key.Line, "%q is not a valid name: %s", key.Value, names.str(kwPatternMessage))
	return false
}

func (s schemaNode) writeOnly() bool {
	b, _ := s.get(kwWriteOnly).(bool)
	return b
}

func (s schemaNode) propertyNames() []string {
	props, _ := s.get("properties").(map[string]any)
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func (s schemaNode) items() schemaNode {
	m, _ := s.get("items").(map[string]any)
	return schemaNode{m}
}

func (s schemaNode) requires(key string) bool {
	req, _ := s.get("required").([]any)
	return slices.Contains(req, any(key))
}

func (s schemaNode) caseFold() string {
	c, _ := s.get(kwCase).(string)
	return c
}

func (s schemaNode) str(keyword string) string {
	v, _ := s.get(keyword).(string)
	return v
}

// schemaAt resolves a schema location (an absolute URL or a local
// reference) by its JSON pointer fragment.
func schemaAt(location string) schemaNode {
	_, frag, _ := strings.Cut(location, "#")
	var cur any = compiled().doc
	if frag == "" {
		return schemaNode{cur.(map[string]any)}
	}
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	for tok := range strings.SplitSeq(strings.TrimPrefix(frag, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			cur = c[tok]
		default:
			return schemaNode{}
		}
	}
	m, _ := cur.(map[string]any)
	return schemaNode{m}
}

// validate checks the converted tree against the schema and records each
// violation as a problem at the path and line of the value, in words.
func (p *parser) validate(value any) {
	err := compiled().schema.Validate(value)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		if err != nil {
			p.add("", 0, "%v", err)
		}
		return
	}
	var leaves []*jsonschema.ValidationError
	var collect func(e *jsonschema.ValidationError)
	collect = func(e *jsonschema.ValidationError) {
		// A bad key name is reported by convertMapping (checkName), which
		// knows the key's line: the validator's location for this kind of
		// error is not reliable (jsonschema v6.0.3 keeps changing the
		// slice it gives as the location).
		if _, key := e.ErrorKind.(*kind.PropertyNames); key {
			return
		}
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
		}
		for _, c := range e.Causes {
			collect(c)
		}
	}
	collect(ve)
	// A value that breaks two rules gets the more specific message: the
	// type first (nothing else applies), then a format (its checker knows
	// why), then the pattern.
	slices.SortStableFunc(leaves, func(a, b *jsonschema.ValidationError) int {
		if c := slices.Compare(a.InstanceLocation, b.InstanceLocation); c != 0 {
			return c
		}
		return kindRank(a.ErrorKind) - kindRank(b.ErrorKind)
	})
	for _, e := range leaves {
		p.schemaProblem(e)
	}
}

func kindRank(k jsonschema.ErrorKind) int {
	switch k.(type) {
	case *kind.Type:
		return 0
	case *kind.Format:
		return 1
	case *kind.Pattern:
		return 2
	}
	return 3
}

func (p *parser) schemaProblem(e *jsonschema.ValidationError) {
	l, ok := p.locs[strings.Join(e.InstanceLocation, locSep)]
	if !ok {
		p.add("", 0, "%s", e.Error())
		return
	}
	node := l.node
	if node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	sch := schemaAt(e.SchemaURL)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		line := l.line
		if l.path == "" {
			line = 0 // the top level has no line of its own
		}
		for _, m := range k.Missing {
			p.add(childPath(l.path, m), line, "is required")
		}
		return
	case *kind.AdditionalProperties:
		for _, name := range k.Properties {
			kn, vn := mappingEntry(node, name)
			line := l.line
			if kn != nil {
				line = kn.Line
				p.prune[vn] = true
			}
			p.add(childPath(l.path, name), line, "unknown key %q%s", name, suggest(name, sch.propertyNames()))
		}
		return
	case *kind.Type:
		p.add(l.path, l.line, "%s", p.typeMessage(node, k, sch))
	case *kind.Enum:
		p.add(l.path, l.line, "%s is not one of %s", p.show(node, node.Value), enumList(k.Want))
	case *kind.Pattern:
		if msg := sch.str(kwPatternMessage); msg != "" {
			p.add(l.path, l.line, "%s is not valid: %s", p.show(node, k.Got), msg)
		} else {
			p.add(l.path, l.line, "%s does not have the expected form %s", p.show(node, k.Got), k.Want)
		}
	case *kind.Format:
		if _, secret := p.fromEnv[node]; secret || p.hidden[node] || k.Err == nil {
			p.add(l.path, l.line, "%s is not a valid %s", p.show(node, node.Value), strings.TrimPrefix(k.Want, "lethe-"))
		} else {
			p.add(l.path, l.line, "%v", k.Err)
		}
	case *kind.MinItems:
		p.add(l.path, l.line, "needs at least %d %s", k.Want, plural(k.Want, "entry", "entries"))
	case *kind.MinLength:
		p.add(l.path, l.line, "must not be empty")
	default:
		p.add(l.path, l.line, "does not satisfy the schema's %s rule", strings.Join(k.KeywordPath(), "."))
	}
	p.prune[l.node] = true
}

// typeMessage says what was expected and what was found, and how to fix
// the usual cause (a version number that YAML read as a number).
func (p *parser) typeMessage(n *yaml.Node, k *kind.Type, sch schemaNode) string {
	if k.Got == "null" {
		return "has no value"
	}
	want := make([]string, len(k.Want))
	for i, w := range k.Want {
		want[i] = typeName(w)
	}
	var got string
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	default:
		if n.ShortTag() == "!!str" {
			got = p.show(n, n.Value)
		} else if _, secret := p.fromEnv[n]; secret {
			got = p.show(n, n.Value)
		} else if p.hidden[n] {
			got = typeName(k.Got)
		} else {
			got = n.Value
		}
	}
	msg := fmt.Sprintf("expected %s, got %s", strings.Join(want, " or "), got)
	if slices.Contains(k.Want, "string") && n.Kind == yaml.ScalarNode {
		if hint := sch.str(kwPatternMessage); hint != "" {
			return msg + ": " + hint
		}
		return msg + "; put it in quotes to make it text"
	}
	return msg
}

func typeName(t string) string {
	switch t {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "string":
		return "text"
	case "boolean":
		return "true or false"
	case "integer":
		return "a whole number"
	case "number":
		return "a number"
	case "null":
		return "no value"
	}
	return t
}

// enumList lists the allowed values once each, as written in the schema:
// an enum that also lists upper-case spellings for editors' sake is
// case-insensitive to Lethe anyway.
func enumList(want []any) string {
	var out []string
	seen := map[string]bool{}
	for _, w := range want {
		s := fmt.Sprint(w)
		if seen[strings.ToLower(s)] {
			continue
		}
		seen[strings.ToLower(s)] = true
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// mappingEntry returns the key and value nodes of key in a mapping.
func mappingEntry(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// suggest proposes the allowed key closest to a misspelt one, or lists the
// allowed keys when none is close.
func suggest(name string, allowed []string) string {
	if len(allowed) == 0 {
		return ""
	}
	if len(name) > 64 {
		return "; allowed keys: " + strings.Join(allowed, ", ")
	}
	best, bestDist := "", 1<<30
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(name), a); d < bestDist {
			best, bestDist = a, d
		}
	}
	if bestDist <= max(2, len(name)/3) {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return "; allowed keys: " + strings.Join(allowed, ", ")
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
