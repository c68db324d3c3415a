package app

import (
	"context"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mail"
	"github.com/lethe-privacy/lethe/retention"
)

// Retention returns the retention engine over the data map, with the
// masks erasure uses (the same key, so that a row anonymised by
// retention reads as one anonymised by an erasure request). actor names
// who runs it in the audit log.
func (a *App) Retention(actor string) (*retention.Engine, error) {
	batch := 0
	if s := a.Config.Retention; s != nil {
		batch = s.BatchSize
	}
	masks := &maskCache{key: a.maskKey, m: map[string]lethe.Mask{}}
	return retention.New(retention.Options{
		Config: a.Config, Connectors: a.Datastores, Masks: masks.get, Audit: a.Audit,
		Actor: actor, BatchSize: batch, Clock: a.clock, Logger: a.log, Notifier: retentionNotifier{a},
	})
}

// retentionNotifier queues the notices of rules with warn: in the mail
// outbox, sealed with the subject's key like every other notice; the
// outbox refuses a second message with the same id, which keeps each
// person to one notice per inactivity.
type retentionNotifier struct{ a *App }

func (n retentionNotifier) RetentionWarning(ctx context.Context, w retention.Warning) (bool, error) {
	ref, err := n.a.Keyring.SubjectRef(lethe.Identity{Type: lethe.IdentityEmail, Value: w.Email})
	if err != nil {
		return false, err
	}
	action := "deleted"
	if w.Action == lethe.EraseAnonymise {
		action = "anonymised"
	}
	data := map[string]any{"date": w.At.Format("2 January 2006"), "action": action, "controller": n.a.Config.Controller.Name}
	err = n.a.Outbox.EnqueueID(ctx, w.ID, ref, w.Email, mail.TemplateRetentionWarning, data)
	if lethe.ErrorCode(err) == lethe.ECONFLICT {
		return false, nil
	}
	return err == nil, err
}

// RetentionScheduler returns the daily retention run of `lethe serve`,
// or nil when the config turns it off or declares no retention rule.
func (a *App) RetentionScheduler() (*retention.Scheduler, error) {
	s := a.Config.Retention
	if s != nil && s.Off {
		return nil, nil
	}
	declared := false
	for _, c := range a.Config.Collections() {
		declared = declared || c.Retention != nil
	}
	if !declared {
		return nil, nil
	}
	at, err := retention.ParseDailyAt(atOf(s))
	if err != nil {
		return nil, err
	}
	eng, err := a.Retention("system")
	if err != nil {
		return nil, err
	}
	return &retention.Scheduler{Engine: eng, Store: a.Store, At: at, Clock: a.clock, Logger: a.log}, nil
}

func atOf(s *lethe.RetentionSchedule) string {
	if s == nil {
		return ""
	}
	return s.At
}
