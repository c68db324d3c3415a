package keyring

import (
	"testing"

	"github.com/lethe-privacy/lethe"
)

func TestGuesserPolicy(t *testing.T) {
	g := newGuesser()
	ref := func(i int) lethe.SubjectRef { return lethe.SubjectRef{byte(i), byte(i >> 8), 1} }
	if !g.try(ref(0)) {
		t.Fatal("a fresh guesser reads first; want it to guess")
	}
	// A subject whose key was refused reads once, whatever the share.
	g.refusedKey(ref(1), false)
	for range 3 { // concurrent retries all read
		if g.try(ref(1)) {
			t.Fatal("a subject refused a key was guessed again")
		}
	}
	// Mostly returning subjects: guesses are refused, it reads first and
	// probes one miss in guessProbe.
	for i := range 20 {
		g.refusedKey(ref(100+i), true)
	}
	guessed := 0
	for i := range 4 * guessProbe {
		if g.try(ref(1000 + i)) {
			guessed++
		}
	}
	if guessed != 4 {
		t.Fatalf("with %.2f of guesses refused: guessed %d of %d misses, want 4 (probes)", g.refused, guessed, 4*guessProbe)
	}
	// The mix changes back: the probes' keys are stored, and it guesses
	// again.
	for range 30 {
		g.stored()
	}
	if g.refused > guessMaxShare || !g.try(ref(5000)) {
		t.Fatalf("after stored guesses the refused share is %.2f: want guessing again", g.refused)
	}
	// known stays bounded.
	for i := range guessKnownMax + 10 {
		g.refusedKey(ref(10000+i), false)
	}
	if len(g.known) > guessKnownMax {
		t.Fatalf("known holds %d subjects, want at most %d", len(g.known), guessKnownMax)
	}
}
