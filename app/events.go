package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/events"
)

// openEvents wires the event bus. Its key is derived from the master key,
// not from any subject's key: the identities of an erased subject must
// still reach subscribers after the shred. Subscribers get their delivery
// state here (at the end of the audit log when new), so that changes made
// by the CLI before the server first runs are delivered too.
func (a *App) openEvents(ctx context.Context) error {
	key, err := events.KeyFromSecret(a.Secrets.MasterKey[:])
	if err != nil {
		return fmt.Errorf("derive the event key: %w", err)
	}
	a.Events, err = events.New(events.Options{
		Config: a.Config, Store: a.Store, Key: key, Clock: a.clock, Logger: a.log,
		ConsentIdentities: a.consentIdentities,
	})
	if err != nil {
		return err
	}
	return a.Events.Ensure(ctx)
}

// erasedPrincipal is what a consent receipt names once the subject's key
// is shredded (package consent).
const erasedPrincipal = "[erased]"

// consentIdentities returns the user_id a consent event was recorded for,
// from its receipt (sealed with the subject's key; none once erased).
func (a *App) consentIdentities(ctx context.Context, eventID string) ([]lethe.Identity, error) {
	id, err := uuid.Parse(eventID)
	if err != nil {
		return nil, lethe.Errorf(lethe.EINVALID, "not a consent event id")
	}
	r, err := a.Consent.Receipt(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.PIIPrincipalID == "" || r.PIIPrincipalID == erasedPrincipal {
		return nil, nil
	}
	return []lethe.Identity{{Type: lethe.IdentityUserID, Value: r.PIIPrincipalID}}, nil
}
