package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
)

// HistoryEvent is one event of a subject's timeline with its evidence
// opened. After the subject's key is shredded, Evidence is nil and
// EvidenceErased is true: the pseudonymous timeline remains.
type HistoryEvent struct {
	ID             uuid.UUID              `json:"id"`
	Purpose        string                 `json:"purpose"`
	Granted        bool                   `json:"granted"`
	PolicyVersion  string                 `json:"policy_version"`
	Mechanism      string                 `json:"mechanism"`
	Jurisdiction   lethe.Jurisdiction     `json:"jurisdiction"`
	Source         string                 `json:"source"`
	RecordedAt     time.Time              `json:"recorded_at"`
	Evidence       *lethe.ConsentEvidence `json:"evidence,omitempty"`
	EvidenceErased bool                   `json:"evidence_erased,omitempty"`
}

// History returns the subject's events oldest first, for one purpose or
// (purpose "") for all, with evidence decrypted where the key still exists.
func (l *Ledger) History(ctx context.Context, subjectID, purpose string) ([]HistoryEvent, error) {
	if purpose != "" {
		if _, ok := l.cfg.Purpose(purpose); !ok {
			return nil, l.unknownPurpose(purpose)
		}
	}
	ref, err := l.SubjectRef(subjectID)
	if err != nil {
		return nil, err
	}
	events, err := l.store.ConsentHistory(ctx, ref, purpose)
	if err != nil {
		return nil, fmt.Errorf("read consent history: %w", err)
	}
	out := make([]HistoryEvent, len(events))
	for i, e := range events {
		h := HistoryEvent{
			ID: e.ID, Purpose: e.Purpose, Granted: e.Granted, PolicyVersion: e.PolicyVersion, Mechanism: e.Mechanism,
			Jurisdiction: e.Jurisdiction, Source: e.Source, RecordedAt: e.RecordedAt,
		}
		sealed, err := l.open(ctx, e)
		switch {
		case lethe.ErrorCode(err) == lethe.ESHREDDED:
			h.EvidenceErased = true
		case err != nil:
			return nil, err
		case sealed != nil:
			ev := sealed.Evidence
			h.Evidence = &ev
		}
		out[i] = h
	}
	return out, nil
}

// open decrypts an event's evidence; nil without error when there is none.
func (l *Ledger) open(ctx context.Context, e lethe.ConsentEvent) (*sealedEvidence, error) {
	if len(e.Evidence) == 0 {
		return nil, nil
	}
	plain, err := l.sealer.Decrypt(ctx, e.SubjectRef, e.Evidence, e.ID[:])
	if err != nil {
		var le *lethe.Error
		if errors.As(err, &le) && le.Code == lethe.ESHREDDED {
			return nil, err
		}
		return nil, fmt.Errorf("open evidence of event %s: %w", e.ID, err)
	}
	var s sealedEvidence
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, fmt.Errorf("decode evidence of event %s: %w", e.ID, err)
	}
	return &s, nil
}
