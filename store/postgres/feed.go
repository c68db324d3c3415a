package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-privacy/lethe"
)

// SubjectChanges delivers the subjects whose consent state or keys changed
// on any node (this one included), from PostgreSQL LISTEN/NOTIFY on a
// dedicated connection: writers notify in the same transaction as the
// change, so a notification arrives only once the change is committed. An
// API key revocation, and every reconnection after the listening connection
// was lost (changes may have been missed meanwhile), deliver a zero
// SubjectRef: drop everything. If the consumer falls behind and the buffer
// fills, a zero SubjectRef stands in for what could not be queued.
//
// The subscription is active when SubjectChanges returns; it fails with
// EUNAVAILABLE if the listening connection cannot be opened. The channel is
// closed when ctx ends.
func (s *Store) SubjectChanges(ctx context.Context) (<-chan lethe.SubjectRef, error) {
	return s.follow(ctx, false)
}

// SubjectKeyChanges is SubjectChanges without consent changes: it
// delivers the subjects whose keys were shredded on any node, and the zero
// SubjectRef when changes may have been missed. A key cache (package
// keyring) follows it rather than SubjectChanges, so that consent appends,
// which every node announces, do not keep emptying it.
func (s *Store) SubjectKeyChanges(ctx context.Context) (<-chan lethe.SubjectRef, error) {
	return s.follow(ctx, true)
}

// Notification payloads on the store's channel: a subject whose keys
// changed is its reference in hex, a subject whose consent state changed is
// consentPayload followed by the hex, and an empty payload means "drop
// everything". (A node of a release before consentPayload existed reads
// such a payload as "drop everything": safe while nodes are upgraded.)
const consentPayload = "consent:"

func (s *Store) follow(ctx context.Context, keysOnly bool) (<-chan lethe.SubjectRef, error) {
	conn, err := s.listen(ctx)
	if err != nil {
		return nil, translate("listen for changes", err)
	}
	ch := make(chan lethe.SubjectRef, 256)
	go func() {
		defer close(ch)
		defer func() {
			if conn != nil {
				closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				conn.Close(closeCtx)
			}
		}()
		deliver := func(ref lethe.SubjectRef) bool {
			select {
			case ch <- ref:
				return true
			default:
			}
			// Full: whatever is queued will be followed by "drop
			// everything", which covers ref. Wait for room rather than lose
			// it; PostgreSQL queues further notifications meanwhile.
			select {
			case ch <- lethe.SubjectRef{}:
				return true
			case <-ctx.Done():
				return false
			}
		}
		backoff := 100 * time.Millisecond
		for {
			n, err := conn.WaitForNotification(ctx)
			if err == nil {
				backoff = 100 * time.Millisecond
				payload, consent := strings.CutPrefix(n.Payload, consentPayload)
				if consent && keysOnly {
					continue
				}
				ref, perr := lethe.ParseSubjectRef(payload)
				if perr != nil {
					ref = lethe.SubjectRef{} // empty payload: drop everything
				}
				if !deliver(ref) {
					return
				}
				continue
			}
			if ctx.Err() != nil {
				return
			}
			conn.Close(context.WithoutCancel(ctx))
			conn = nil
			for conn == nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 10*time.Second)
				if c, err := s.listen(ctx); err == nil {
					conn = c
				}
			}
			// Notifications sent while no connection listened are lost.
			if !deliver(lethe.SubjectRef{}) {
				return
			}
		}
	}()
	return ch, nil
}

// listen opens a connection outside the pool (it is held for as long as
// the feed runs) and subscribes it to the store's channel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}
