package scan

import (
	"testing"

	"github.com/lethe-privacy/lethe/mask"
)

// Every strategy a proposal can name is one package mask parses, so that
// pasted YAML passes lethe config validate.
func TestSuggestionsAreStrategies(t *testing.T) {
	t.Parallel()
	names := append([]string{"fake.first_name", "fake.last_name"}, fallbacks...)
	for _, s := range suggestions {
		names = append(names, s[1])
	}
	for _, k := range Kinds {
		if _, ok := suggestions[k]; !ok {
			t.Errorf("no suggestion for %s", k)
		}
	}
	for _, n := range names {
		if _, err := mask.Parse(n, fakeKey); err != nil {
			t.Errorf("suggested strategy %q: %v", n, err)
		}
	}
}

func TestYAMLKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"email": "email", "on": `"on"`, "no": `"no"`, "a-b": `"a-b"`, `x"y`: `"x\"y"`} {
		if got := yamlKey(in); got != want {
			t.Errorf("yamlKey(%q) = %s, want %s", in, got, want)
		}
	}
}
