package config

import (
	"bytes"
	"errors"

	"go.yaml.in/yaml/v3"

	"github.com/lethe-privacy/lethe"
)

// decode drops the values that failed validation, then decodes the rest
// strictly into a lethe.Config. go-yaml decodes strictly (KnownFields)
// only from text, so the expanded tree is encoded again; problems the
// decoder finds are mapped back to the file's own lines through a
// parallel walk of the two trees. After schema validation the decoder
// should find nothing: a problem here means the schema and the struct
// disagree, which TestSchemaMatchesConfig guards against.
func (p *parser) decode() *lethe.Config {
	cfg := &lethe.Config{}
	p.pruneNode(p.root, schemaRoot())
	var text []byte
	err := safely(func() (err error) {
		text, err = yaml.Marshal(p.root)
		return err
	})
	if err != nil {
		p.add("", 0, "encode the expanded file: %v", err)
		return cfg
	}
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	err = safely(func() error { return dec.Decode(cfg) })
	if err == nil {
		return cfg
	}
	lines := p.lineMap(text)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		line, msg := yamlProblem(err)
		p.decodeProblem(lines, line, msg)
		return cfg
	}
	for _, e := range te.Errors {
		line, msg := yamlProblem(errors.New(e))
		p.decodeProblem(lines, line, msg)
	}
	return cfg
}

func (p *parser) decodeProblem(lines map[int]*loc, line int, msg string) {
	if l, ok := lines[line]; ok {
		p.add(l.path, l.line, "%s", msg)
		return
	}
	p.add("", 0, "%s", msg)
}

// lineMap maps each line of the re-encoded text to the value it holds in
// the original file.
func (p *parser) lineMap(text []byte) map[int]*loc {
	byNode := make(map[*yaml.Node]*loc, len(p.locs))
	for _, l := range p.locs {
		if _, ok := byNode[l.node]; !ok {
			byNode[l.node] = l
		}
	}
	var doc yaml.Node
	lines := map[int]*loc{}
	if safely(func() error { return yaml.Unmarshal(text, &doc) }) != nil || len(doc.Content) == 0 {
		return lines
	}
	var walk func(re, orig *yaml.Node)
	walk = func(re, orig *yaml.Node) {
		if l, ok := byNode[orig]; ok {
			if _, seen := lines[re.Line]; !seen {
				lines[re.Line] = l
			}
		}
		if re.Kind != orig.Kind || len(re.Content) != len(orig.Content) {
			return
		}
		for i := range re.Content {
			walk(re.Content[i], orig.Content[i])
		}
	}
	walk(doc.Content[0], p.root)
	return lines
}

// pruneNode removes the mapping entries and blanks the list items whose
// value is pruned (or is an alias of a pruned value).
func (p *parser) pruneNode(n *yaml.Node, sch schemaNode) {
	pruned := func(v *yaml.Node) bool {
		return p.prune[v] || (v.Kind == yaml.AliasNode && v.Alias != nil && p.prune[v.Alias])
	}
	switch n.Kind {
	case yaml.MappingNode:
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if pruned(n.Content[i+1]) {
				continue
			}
			kept = append(kept, n.Content[i], n.Content[i+1])
			p.pruneNode(n.Content[i+1], sch.property(n.Content[i].Value))
		}
		clear(n.Content[len(kept):])
		n.Content = kept
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if pruned(item) {
				// Blank rather than remove, so that later items keep
				// the index their paths name. The blank is an empty
				// value of the type the list holds, not null: the
				// decoder drops a null item of a []string or []struct,
				// which would shift the items after it.
				n.Content[i] = blank(sch.items(), item.Line)
				continue
			}
			p.pruneNode(item, sch.items())
		}
	}
}

// blank returns an empty value of the type sch describes: {} for a
// mapping, [] for a list, "" for text, and null otherwise.
func blank(sch schemaNode, line int) *yaml.Node {
	typ, _ := sch.get("type").(string)
	switch typ {
	case "object":
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line}
	case "array":
		return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: line}
	case "string":
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "", Style: yaml.DoubleQuotedStyle, Line: line}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: line}
}
