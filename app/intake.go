package app

import (
	"github.com/lethe-privacy/lethe/intake"
)

// openIntake builds the public intake (verification codes and rate limits)
// from the requests: block of the config, after the outbox that sends the
// codes.
func (a *App) openIntake() error {
	set, err := a.Config.Requests.Settings()
	if err != nil {
		return err
	}
	a.Intake, err = intake.New(intake.Options{
		Store:  a.Store,
		Mailer: a.Outbox,
		// Every node sharing the store derives the same code and rate
		// limit keys from the reference key, which they share already.
		Secret:      a.Secrets.RefKey[:],
		CodeTTL:     set.CodeTTL,
		MaxAttempts: set.MaxAttempts,
		ResendAfter: set.ResendAfter,
		PerIdentity: set.PerIdentity,
		PerClient:   set.PerClient,
		Controller:  a.Config.Controller.Name,
		Clock:       a.clock,
		Logger:      a.log,
	})
	if err != nil {
		return err
	}
	a.TrustedProxies = set.TrustedProxies
	a.PublicIntake = set.PublicIntake
	return nil
}
