package config

import (
	"encoding"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lethe-privacy/lethe"
)

// TestSchemaMatchesConfig walks lethe.Config by its yaml tags alongside the
// schema: every key the decoder accepts must be in the schema, with a
// description and the right type, and every key in the schema must be one
// the decoder accepts. A key is required in the schema exactly when its
// tag has no omitempty. Adding a field to lethe.Config without its schema
// (or the reverse) fails here.
func TestSchemaMatchesConfig(t *testing.T) {
	t.Parallel()
	matchType(t, reflect.TypeFor[lethe.Config](), schemaRoot(), "(root)")
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func matchType(t *testing.T, typ reflect.Type, sch schemaNode, path string) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if !sch.known() {
		t.Errorf("%s: no schema", path)
		return
	}
	wantType := func(want string) {
		got, _ := sch.get("type").(string)
		// A value a YAML null stands for (x-lethe-null) is also typed
		// null, so that editors accept the null too.
		if types, ok := sch.get("type").([]any); ok && sch.str(kwNull) != "" && len(types) == 2 && types[1] == "null" {
			got, _ = types[0].(string)
		}
		if got != want {
			t.Errorf("%s: schema type %v, want %q (Go type %s)", path, sch.get("type"), want, typ)
		}
	}
	if reflect.PointerTo(typ).Implements(textUnmarshaler) {
		wantType("string") // Duration and friends are written as text
		return
	}
	switch typ.Kind() {
	case reflect.Slice:
		wantType("array")
		matchType(t, typ.Elem(), sch.items(), path+"[]")
	case reflect.Map:
		// A Go map is a mapping of names: its keys are text, checked by
		// propertyNames, and every value takes the additionalProperties
		// schema.
		wantType("object")
		if typ.Key().Kind() != reflect.String {
			t.Errorf("%s: map key %s is not text", path, typ.Key())
		}
		if _, ok := sch.get("propertyNames").(map[string]any); !ok {
			t.Errorf("%s: a mapping of names needs propertyNames (which names are allowed)", path)
		}
		values, ok := sch.get("additionalProperties").(map[string]any)
		if !ok || sch.get("properties") != nil {
			t.Errorf("%s: a mapping of names needs an additionalProperties schema for its values, and no properties", path)
			return
		}
		matchType(t, typ.Elem(), schemaNode{values}, path+".*")
	case reflect.String:
		wantType("string")
	case reflect.Int:
		wantType("integer")
	case reflect.Bool:
		wantType("boolean")
	case reflect.Struct:
		wantType("object")
		if ap, ok := sch.get("additionalProperties").(bool); !ok || ap {
			t.Errorf("%s: schema allows unknown keys; set additionalProperties: false", path)
		}
		inStruct := map[string]bool{}
		for f := range typ.Fields() {
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				t.Errorf("%s.%s: no yaml tag", path, f.Name)
				continue
			}
			inStruct[name] = true
			prop := sch.property(name)
			if !prop.known() {
				t.Errorf("%s.%s: key is decoded (field %s.%s) but missing from lethe.schema.json", path, name, typ.Name(), f.Name)
				continue
			}
			if d, _ := prop.m["description"].(string); len(d) < 10 {
				t.Errorf("%s.%s: no description in the schema (editors show it)", path, name)
			}
			optional := strings.Contains(opts, "omitempty")
			if sch.requires(name) == optional {
				t.Errorf("%s.%s: required in schema = %v, but the yaml tag %q says optional = %v", path, name, sch.requires(name), tag, optional)
			}
			matchType(t, f.Type, prop, path+"."+name)
		}
		for _, name := range sch.propertyNames() {
			if !inStruct[name] {
				t.Errorf("%s.%s: in lethe.schema.json but %s has no field with that yaml tag", path, name, typ.Name())
			}
		}
	default:
		t.Errorf("%s: Go kind %s has no schema mapping in this test; extend it", path, typ.Kind())
	}
}

func TestSchemaEnums(t *testing.T) {
	t.Parallel()
	purpose := schemaRoot().property("purposes").items()
	datastore := schemaRoot().property("datastores").property("shop")
	collection := datastore.property("collections").property("users")
	tests := []struct {
		name string
		sch  schemaNode
		want []string
	}{
		{"lawful_basis", purpose.property("lawful_basis"), stringsOf(lethe.LawfulBases)},
		{"art9_condition", purpose.property("art9_condition"), stringsOf(lethe.Art9Conditions)},
		{"jurisdiction", schemaRoot().property("jurisdiction"), stringsOf(lethe.Jurisdictions)},
		{"safeguard", purpose.property("recipients").items().property("safeguard"),
			[]string{"adequacy", "scc", "bcr", "code_of_conduct", "certification", "derogation", "none"}},
		{"driver", datastore.property("driver"), []string{
			lethe.DriverPostgres, lethe.DriverMySQL, lethe.DriverSQLite, lethe.DriverRedis, lethe.DriverWebhook, lethe.DriverCustom,
		}},
		{"hold.basis", collection.property("hold").property("basis"), stringsOf(lethe.HoldBases)},
		{"erase", collection.property("erase"), stringsOf([]lethe.EraseAction{lethe.EraseDelete, lethe.EraseAnonymise})},
		{"hold.then", collection.property("hold").property("then"), stringsOf([]lethe.EraseAction{lethe.EraseDelete, lethe.EraseAnonymise})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			enum, _ := tt.sch.get("enum").([]any)
			var got []string
			for _, v := range enum {
				if s := v.(string); !slices.Contains(got, strings.ToLower(s)) {
					got = append(got, strings.ToLower(s))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("schema enum = %v, want %v", got, tt.want)
			}
		})
	}
}

func stringsOf[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// TestSchemaDocument checks what editors rely on: valid JSON, draft
// 2020-12, a description on every property and definition, and patterns
// written in the syntax JSON Schema and Go agree on.
func TestSchemaDocument(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatalf("Schema() is not JSON: %v", err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", doc["$schema"])
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for name, p := range props {
				if d, _ := p.(map[string]any)["description"].(string); d == "" {
					t.Errorf("%s.%s: no description", path, name)
				}
				walk(path+"."+name, p)
			}
		}
		if pat, ok := m["pattern"].(string); ok {
			if strings.Contains(pat, "(?") || strings.Contains(pat, `\A`) || strings.Contains(pat, `\z`) {
				t.Errorf("%s: pattern %q uses syntax editors (ECMA 262) do not read", path, pat)
			}
			if m[kwPatternMessage] == nil {
				t.Errorf("%s: pattern without %s", path, kwPatternMessage)
			}
		}
		for _, k := range []string{"additionalProperties", "propertyNames"} {
			if sub, ok := m[k].(map[string]any); ok {
				walk(path+"."+k, sub)
			}
		}
		for _, k := range []string{"items", "$defs"} {
			if sub, ok := m[k].(map[string]any); ok {
				if k == "$defs" {
					for name, d := range sub {
						walk(path+".$defs."+name, d)
					}
				} else {
					walk(path+"[]", sub)
				}
			}
		}
	}
	walk("(root)", doc)

	a := Schema()
	a[0] = 'x'
	if Schema()[0] == 'x' {
		t.Error("Schema() returns the embedded slice itself; a caller could corrupt it")
	}
}

func TestCountryLists(t *testing.T) {
	t.Parallel()
	if n := len(isoCountries); n != 250 {
		t.Errorf("%d ISO 3166-1 codes, want 249 assigned + XK", n)
	}
	for c := range eeaCountries {
		if !isoCountries[c] {
			t.Errorf("EEA code %s is not an ISO code", c)
		}
	}
	for c := range countryHints {
		if isoCountries[c] {
			t.Errorf("hint for %s, which is a valid code", c)
		}
	}
	for _, c := range []string{"DE", "FR", "NO", "IS", "LI", "GR"} {
		if !inEEA(c) {
			t.Errorf("%s is in the EEA", c)
		}
	}
	for _, c := range []string{"US", "GB", "CH", "CN"} {
		if inEEA(c) {
			t.Errorf("%s is outside the EEA", c)
		}
	}
}
