package app

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	_ "time/tzdata" // time zones for legal deadlines, also where the system has none

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/datamap"
	"github.com/lethe-privacy/lethe/deadline"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/mask"
)

// maskKeyInfo separates the masking key from every other use of the
// reference key: masks must be stable across runs and nodes (the same
// e-mail anonymises to the same fake everywhere), so the key is derived
// from a secret every node already shares.
const maskKeyInfo = "lethe mask key v1"

// openDSR wires the data map: the connectors (opened on first use) and
// the request engine.
func (a *App) openDSR(opts Options) error {
	key, err := hkdf.Key(sha256.New, a.Secrets.RefKey[:], nil, maskKeyInfo, 32)
	if err != nil {
		return fmt.Errorf("derive the masking key: %w", err)
	}
	a.maskKey = key
	a.Datastores = connector.NewSet(a.Config.Datastores, connector.Options{Custom: opts.Connectors})
	tmp := filepath.Join(a.dataDir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot create " + tmp, Err: err}
	}
	masks := &maskCache{key: key, m: map[string]lethe.Mask{}}
	a.DSR, err = dsr.New(dsr.Options{
		Config:     a.Config,
		Connectors: a.Datastores,
		Masks:      masks.get,
		Consent:    a.consentHistory,
		Audit:      a.Audit,
		SubjectRef: a.Keyring.SubjectRef,
		Shred:      a.shredIdentities,
		Tombstones: a.Store,
		Clock:      a.clock,
		TempDir:    tmp,
		Logger:     a.log,
		Actor:      opts.Actor,
	})
	if err != nil {
		return err
	}
	cal, err := calendar(a.Config.Calendar)
	if err != nil {
		return err
	}
	set, err := a.Config.Requests.Settings()
	if err != nil {
		return err
	}
	controller := a.Config.Controller.Name
	if c := a.Config.Controller.Contact; c != "" {
		controller += ", " + c
	}
	var notices dsr.Notifier
	if a.Outbox != nil {
		notices = a.Outbox
	}
	a.Requests = dsr.NewRequests(dsr.RequestsOptions{
		Calendar: cal,
		Engine:   a.DSR, Store: a.Store, Sealer: a.Keyring, Notices: notices,
		ShredKey: func(ctx context.Context, ref lethe.SubjectRef) error {
			_, err := a.ShredSubject(ctx, ref, "system")
			return err
		},
		Controller: controller, SupervisoryAuthority: set.SupervisoryAuthority,
		ExportDir: filepath.Join(a.dataDir, "exports"), Clock: a.clock, Logger: a.log,
		Jurisdiction: a.Config.Jurisdiction,
		MaxRunning:   set.Concurrency, Lease: set.Lease, MaxAttempts: set.RunAttempts,
		KeepRecords: set.KeepRecords, ExportMaxAge: set.ExportMaxAge,
	})
	return nil
}

// calendar turns the config's calendar into the deadline calculator's.
// package config validated it already; errors here are for library users
// who built a Config by hand.
func calendar(c *lethe.Calendar) (deadline.Calendar, error) {
	var cal deadline.Calendar
	if c == nil {
		return cal, nil
	}
	if c.TimeZone != "" {
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			return cal, lethe.FieldErrorf("calendar.time_zone", "%q is not a time zone", c.TimeZone)
		}
		cal.Location = loc
	}
	for i, h := range c.Holidays {
		d, err := deadline.ParseDate(h)
		if err != nil {
			return cal, lethe.FieldErrorf(fmt.Sprintf("calendar.holidays[%d]", i), "%q is not a date", h)
		}
		cal.Holidays = append(cal.Holidays, d)
	}
	return cal, nil
}

// maskCache parses each strategy once.
type maskCache struct {
	key []byte
	mu  sync.Mutex
	m   map[string]lethe.Mask
}

func (c *maskCache) get(strategy string) (lethe.Mask, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.m[strategy]; ok {
		return m, nil
	}
	m, err := mask.Parse(strategy, c.key)
	if err != nil {
		return nil, err
	}
	c.m[strategy] = m
	return m, nil
}

// CheckDatamap runs `lethe datamap check`.
func (a *App) CheckDatamap(ctx context.Context, strict bool, datastores []string) (*datamap.Report, error) {
	return datamap.Check(ctx, a.Config, a.Datastores, datamap.Options{
		Strict:     strict,
		Datastores: datastores,
		Strategy: func(name string) (datamap.Strategy, error) {
			return mask.Parse(name, a.maskKey)
		},
	})
}

// consentHistory is the consent part of an access export: the events of
// every user_id the request names.
func (a *App) consentHistory(ctx context.Context, ids []lethe.Identity) (any, error) {
	type subjectHistory struct {
		Events any `json:"events"`
	}
	out := []subjectHistory{}
	for _, id := range ids {
		if id.Type != lethe.IdentityUserID {
			continue
		}
		h, err := a.Consent.History(ctx, id.Value, "")
		if err != nil {
			return nil, err
		}
		out = append(out, subjectHistory{Events: h})
	}
	return out, nil
}

// shredIdentities destroys the keys of every identity's subject reference.
func (a *App) shredIdentities(ctx context.Context, ids []lethe.Identity) (int, error) {
	total := 0
	for _, id := range ids {
		ref, err := a.Keyring.SubjectRef(id)
		if err != nil {
			return total, err
		}
		n, err := a.ShredSubject(ctx, ref, "system")
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
