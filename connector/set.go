package connector

import (
	"context"
	"fmt"
	"sync"

	"github.com/lethe-privacy/lethe"
)

// Opener opens the connector of one datastore. Each adapter package's
// Open has this shape.
type Opener func(ctx context.Context, ds *lethe.Datastore) (lethe.Connector, error)

// Options configure a Set.
type Options struct {
	// Drivers maps a driver name to its opener. Defaults to Builtin().
	Drivers map[string]Opener
	// Custom holds the application's connectors for datastores declared
	// with driver: custom, by datastore name.
	Custom map[string]lethe.Connector
}

// Set opens the connectors of the data map's datastores on first use and
// keeps them until Close. A datastore that cannot be opened is retried on
// the next use (the error is not cached): a database that was down comes
// back without a restart. Set is safe for concurrent use.
type Set struct {
	datastores map[string]*lethe.Datastore
	drivers    map[string]Opener
	custom     map[string]lethe.Connector

	mu   sync.Mutex
	open map[string]lethe.Connector
	// opening serialises the opening of one datastore without holding
	// mu while it dials.
	opening map[string]*sync.Mutex
}

// NewSet returns a Set over the datastores (usually Config.Datastores).
func NewSet(datastores map[string]*lethe.Datastore, opts Options) *Set {
	drivers := opts.Drivers
	if drivers == nil {
		drivers = Builtin()
	}
	return &Set{datastores: datastores, drivers: drivers, custom: opts.Custom, open: map[string]lethe.Connector{}, opening: map[string]*sync.Mutex{}}
}

// Connector returns the datastore's connector, opening it if needed.
// ENOTFOUND for an undeclared datastore; EINVALID for an unknown driver or
// a custom datastore the application did not supply; the adapter's error
// (EUNAVAILABLE when unreachable) otherwise.
func (s *Set) Connector(ctx context.Context, name string) (lethe.Connector, error) {
	s.mu.Lock()
	if c, ok := s.open[name]; ok {
		s.mu.Unlock()
		return c, nil
	}
	ds, ok := s.datastores[name]
	if !ok {
		s.mu.Unlock()
		return nil, lethe.Errorf(lethe.ENOTFOUND, "datastore %s is not declared in the data map", name)
	}
	if ds.Driver == lethe.DriverCustom {
		c := s.custom[name]
		s.mu.Unlock()
		if c == nil {
			return nil, lethe.Errorf(lethe.EINVALID, "datastore %s is declared with driver: custom, but the application registered no connector under that name", name)
		}
		return c, nil
	}
	lock := s.opening[name]
	if lock == nil {
		lock = &sync.Mutex{}
		s.opening[name] = lock
	}
	s.mu.Unlock()

	lock.Lock()
	defer lock.Unlock()
	s.mu.Lock()
	if c, ok := s.open[name]; ok {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	open := s.drivers[ds.Driver]
	if open == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: no connector for driver %q", name, ds.Driver)
	}
	c, err := open(ctx, ds)
	if err != nil {
		return nil, fmt.Errorf("open datastore %s: %w", name, err)
	}
	s.mu.Lock()
	s.open[name] = c
	s.mu.Unlock()
	return c, nil
}

// Close closes every connector the Set opened (not the custom ones: the
// application owns those).
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for name, c := range s.open {
		if err := c.Close(); err != nil && first == nil {
			first = fmt.Errorf("close datastore %s: %w", name, err)
		}
		delete(s.open, name)
	}
	return first
}
