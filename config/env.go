package config

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${VAR} and ${VAR:-default} in every scalar value (keys
// are left alone) of the tree. It works on nodes rather than on the raw
// text so that line numbers stay those of the file, and so that a value
// holding a newline or a quote cannot change the structure of the file.
//
// An unquoted reference takes the type of what it expands to
// (gpc: ${GPC:-true} is a boolean); a quoted one stays text.
//
// The schema is walked alongside only to know which values may hold a
// password (writeOnly): a malformed reference in them is reported without
// quoting the text around it.
func (p *parser) expand(n *yaml.Node, path string, sch schemaNode) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			p.expand(n.Content[i+1], childPath(path, key), sch.property(key))
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p.expand(item, itemPath(path, i), sch.items())
		}
	case yaml.ScalarNode:
		// Aliases are not followed: the node they point to is expanded
		// where it is defined, exactly once.
		if !strings.Contains(n.Value, "$") {
			return
		}
		out, refs, missing, err := expandString(n.Value, p.lookup)
		switch {
		case err != nil && sch.writeOnly():
			p.add(path, n.Line, "holds a malformed ${...} reference (the value is not shown: it may hold a password); a reference is ${NAME} or ${NAME:-default}, and $${ is a literal ${")
			p.prune[n] = true
			return
		case err != nil:
			p.add(path, n.Line, "%v", err)
			p.prune[n] = true
			return
		case len(missing) > 0:
			if len(missing) == 1 {
				p.add(path, n.Line, "environment variable %s is not set; set it, or give a default: ${%s:-default}", missing[0], missing[0][2:len(missing[0])-1])
			} else {
				p.add(path, n.Line, "environment variables %s are not set", strings.Join(missing, ", "))
			}
			p.prune[n] = true
			return
		}
		if refs > 0 {
			p.fromEnv[n] = n.Value
		}
		n.Value = out
		if n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = ""
			n.Tag = n.ShortTag()
		}
	}
}

// expandString expands the references in s. It returns the result, how
// many references it replaced, and the references whose variable is unset
// and have no default. $${ stands for a literal ${; any other $ is kept.
func expandString(s string, lookup func(string) (string, bool)) (out string, refs int, missing []string, err error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", 0, nil, fmt.Errorf("%q has a ${ without its closing }; write $${ for a literal ${", s[i:])
			}
			ref := s[i : i+end+1]
			name, def, hasDef := strings.Cut(ref[2:len(ref)-1], ":-")
			if !envName.MatchString(name) {
				return "", 0, nil, fmt.Errorf("%q is not a variable reference: a name uses letters, digits and _ (write $${ for a literal ${)", ref)
			}
			refs++
			v, ok := lookup(name)
			switch {
			case hasDef && v == "":
				b.WriteString(def)
			case !ok:
				missing = append(missing, "${"+name+"}")
			default:
				b.WriteString(v)
			}
			i += end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), refs, missing, nil
}
