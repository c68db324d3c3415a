package redis

import (
	"fmt"
	"strings"

	"github.com/lethe-privacy/lethe"
)

// keyPattern is a collection's key pattern parsed into literal text,
// `*` wildcards and {variable} templates, e.g. "session:{user_id}:*".
type keyPattern struct {
	parts []patternPart
	// vars are the template variables in the order they appear.
	vars []string
}

type partKind int

const (
	partLiteral partKind = iota
	partStar
	partVar
)

type patternPart struct {
	kind partKind
	text string // the literal text, or the variable's name
}

// parsePattern reads a key pattern. Braces enclose a variable name (a
// plain identifier); `*` is a wildcard; every other byte is literal,
// glob metacharacters included. A pattern needs at least one variable,
// each named once: without one it would select every subject's keys.
func parsePattern(s string) (*keyPattern, error) {
	if s == "" {
		return nil, fmt.Errorf("key pattern is empty; write e.g. \"session:{user_id}\"")
	}
	p := &keyPattern{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.parts = append(p.parts, patternPart{kind: partLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				return nil, fmt.Errorf("key pattern %q: '{' at byte %d is not closed", s, i)
			}
			name := s[i+1 : i+1+end]
			if !lethe.IsIdentifier(name) {
				return nil, fmt.Errorf("key pattern %q: {%s} is not a variable name (letters, digits, underscores)", s, name)
			}
			for _, v := range p.vars {
				if v == name {
					return nil, fmt.Errorf("key pattern %q: {%s} appears twice", s, name)
				}
			}
			flush()
			p.parts = append(p.parts, patternPart{kind: partVar, text: name})
			p.vars = append(p.vars, name)
			i += end + 1
		case '}':
			return nil, fmt.Errorf("key pattern %q: '}' at byte %d has no '{'", s, i)
		case '*':
			flush()
			p.parts = append(p.parts, patternPart{kind: partStar})
		default:
			lit.WriteByte(s[i])
		}
	}
	flush()
	if len(p.vars) == 0 {
		return nil, fmt.Errorf("key pattern %q has no {variable}; it would select every subject's keys", s)
	}
	return p, nil
}

// hasVar reports whether name is one of the pattern's variables.
func (p *keyPattern) hasVar(name string) bool { return p.varIndex(name) >= 0 }

// key returns the one key the pattern gives when variable name is value,
// or ok false when the pattern has wildcards or other variables, so that
// the keys must be scanned for.
func (p *keyPattern) key(name, value string) (key string, ok bool) {
	var b strings.Builder
	for _, part := range p.parts {
		switch {
		case part.kind == partLiteral:
			b.WriteString(part.text)
		case part.kind == partVar && part.text == name:
			b.WriteString(value)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// glob returns the SCAN MATCH pattern that selects the keys where
// variable name is value: literal text and the value are escaped, so that
// a value holding *, ?, [ or \ selects only keys that hold it literally;
// wildcards and the other variables match anything.
func (p *keyPattern) glob(name, value string) string {
	var b strings.Builder
	for _, part := range p.parts {
		switch {
		case part.kind == partLiteral:
			b.WriteString(escapeGlob(part.text))
		case part.kind == partVar && part.text == name:
			b.WriteString(escapeGlob(value))
		default:
			b.WriteByte('*')
		}
	}
	return b.String()
}

// match reports whether key is one the pattern gives when variable name
// is value (any key of the pattern when name is empty), as Redis globs
// match: byte by byte, a wildcard or free variable spanning any bytes.
// It returns the values of the variables in vars order, the bound one
// included; a free variable takes the shortest value that fits.
func (p *keyPattern) match(key, name, value string) ([]string, bool) {
	caps := make([]string, len(p.vars))
	if !p.matchFrom(0, key, name, value, caps) {
		return nil, false
	}
	return caps, true
}

func (p *keyPattern) matchFrom(i int, s, name, value string, caps []string) bool {
	if i == len(p.parts) {
		return s == ""
	}
	part := p.parts[i]
	switch {
	case part.kind == partLiteral:
		return strings.HasPrefix(s, part.text) && p.matchFrom(i+1, s[len(part.text):], name, value, caps)
	case part.kind == partVar && part.text == name:
		if !strings.HasPrefix(s, value) || !p.matchFrom(i+1, s[len(value):], name, value, caps) {
			return false
		}
		caps[p.varIndex(part.text)] = value
		return true
	}
	for n := 0; n <= len(s); n++ {
		if p.matchFrom(i+1, s[n:], name, value, caps) {
			if part.kind == partVar {
				caps[p.varIndex(part.text)] = s[:n]
			}
			return true
		}
	}
	return false
}

func (p *keyPattern) varIndex(name string) int {
	for i, v := range p.vars {
		if v == name {
			return i
		}
	}
	return -1
}

// escapeGlob escapes the bytes that Redis glob patterns treat specially,
// so that s matches only itself.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
