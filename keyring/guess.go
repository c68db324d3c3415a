package keyring

import (
	"sync"

	"github.com/lethe-privacy/lethe"
)

// guesser decides when SealingKey may hand out a new key without reading
// the store (Options.GuessNewSubjects), from how often recent guesses were
// refused.
type guesser struct {
	mu      sync.Mutex
	refused float64 // moving share of recent guesses the store refused
	misses  uint64  // cache misses while reading first, for the probes
	// known are subjects a guess was refused for, or that were refused
	// a key without a guess: they read next time, whatever the share.
	known map[lethe.SubjectRef]struct{}
}

const (
	guessWeight   = 1.0 / 32 // of the latest outcome in the moving share
	guessMaxShare = 0.25     // refused share above which SealingKey reads first
	guessProbe    = 16       // while reading first, guess one miss in this many
	guessKnownMax = 4096     // bound on known; cleared when full
)

func newGuesser() *guesser { return &guesser{known: make(map[lethe.SubjectRef]struct{})} }

// try reports whether to guess that ref is a new subject.
func (g *guesser) try(ref lethe.SubjectRef) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	// A known subject stays known (until the set is cleared when full):
	// concurrent retries after refusals must all read, and a subject
	// with a key is normally served from the cache once read.
	if _, ok := g.known[ref]; ok {
		return false
	}
	if g.refused <= guessMaxShare {
		return true
	}
	g.misses++
	return g.misses%guessProbe == 0
}

// stored records that a guess was right (the store kept its key), or
// would have been (a read found the subject had never had a key).
func (g *guesser) stored() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refused -= guessWeight * g.refused
}

// refusedKey records that the store refused a new key for ref: the next
// SealingKey for ref reads. Only a refused guess moves the share.
func (g *guesser) refusedKey(ref lethe.SubjectRef, guessed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if guessed {
		g.refused += guessWeight * (1 - g.refused)
	}
	if len(g.known) >= guessKnownMax {
		clear(g.known)
	}
	g.known[ref] = struct{}{}
}
