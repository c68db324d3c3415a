package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestROPACommand(t *testing.T) {
	c := newCLI(t)
	out := c.ok("ropa", "--check", "--format", "csv")
	if lines := strings.Count(out, "\n"); lines != 10 || !strings.HasPrefix(out, "controller,") {
		t.Errorf("csv of the example: %d lines, want a header and 9 purposes:\n%s", lines, out)
	}
	file := filepath.Join(t.TempDir(), "ropa.html")
	c.ok("ropa", "--format", "html", "--file", file)
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), "Example Shop GmbH") {
		t.Errorf("html file: %v", err)
	}

	incomplete := filepath.Join(t.TempDir(), "lethe.yaml")
	if err := os.WriteFile(incomplete, []byte("controller: {name: X, contact: x@example.com}\npurposes:\n  - {id: a, name: A, lawful_basis: contract, categories: [contact.email]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := c.run("--config", incomplete, "ropa", "--check")
	if code != 1 || !strings.Contains(errs, "error: purpose a: Art. 30(1)(c): no categories of data subjects") {
		t.Errorf("--check on an incomplete record: exit %d, stderr %s", code, errs)
	}
	if code, _, _ := c.run("--config", incomplete, "ropa"); code != 0 {
		t.Errorf("without --check, findings do not fail: exit %d", code)
	}
	if code, _, errs := c.run("ropa", "--format", "pdf"); code != 2 || !strings.Contains(errs, "--format must be json, csv or html") {
		t.Errorf("--format pdf: exit %d, %s", code, errs)
	}
}
