package consent

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
)

// Receipt is a consent receipt for one event, with the fields of the
// Kantara Initiative Consent Receipt Specification v1.1 and, under ISO27560,
// the ISO/IEC TS 27560 consent record fields Lethe can fill. Subject-
// identifying fields come from the sealed evidence and read "[erased]" once
// the subject's key is shredded.
type Receipt struct {
	Version          string                 `json:"version"`
	Jurisdiction     string                 `json:"jurisdiction"`
	ConsentTimestamp int64                  `json:"consentTimestamp"`
	CollectionMethod string                 `json:"collectionMethod"`
	ConsentReceiptID string                 `json:"consentReceiptID"`
	Language         string                 `json:"language,omitempty"`
	PIIPrincipalID   string                 `json:"piiPrincipalId"`
	PIIControllers   []ReceiptController    `json:"piiControllers"`
	PolicyURL        string                 `json:"policyUrl"`
	Services         []ReceiptService       `json:"services"`
	Sensitive        bool                   `json:"sensitive"`
	SPICat           []string               `json:"spiCat"`
	ISO27560         ISO27560Record         `json:"iso27560"`
	Evidence         *lethe.ConsentEvidence `json:"evidence,omitempty"`
}

// ReceiptController is a Kantara piiControllers entry.
type ReceiptController struct {
	PIIController string `json:"piiController"`
	OnBehalf      bool   `json:"onBehalf"`
	Contact       string `json:"contact"`
	Address       string `json:"address,omitempty"`
	Email         string `json:"email,omitempty"`
	Phone         string `json:"phone,omitempty"`
}

// ReceiptService is a Kantara services entry.
type ReceiptService struct {
	Service  string           `json:"service"`
	Purposes []ReceiptPurpose `json:"purposes"`
}

// ReceiptPurpose is a Kantara purposes entry.
type ReceiptPurpose struct {
	Purpose              string   `json:"purpose"`
	PurposeCategory      []string `json:"purposeCategory"`
	ConsentType          string   `json:"consentType"`
	PIICategory          []string `json:"piiCategory"`
	PrimaryPurpose       bool     `json:"primaryPurpose"`
	Termination          string   `json:"termination"`
	ThirdPartyDisclosure bool     `json:"thirdPartyDisclosure"`
	ThirdPartyName       string   `json:"thirdPartyName,omitempty"`
}

// ISO27560Record holds the ISO/IEC TS 27560 consent record fields.
type ISO27560Record struct {
	RecordID       string `json:"record_id"`
	PIIPrincipalID string `json:"pii_principal_id"`
	SubjectRef     string `json:"subject_ref"`
	Purpose        string `json:"purpose"`
	LegalBasis     string `json:"legal_basis"`
	EventType      string `json:"event_type"` // given | withdrawn
	EventTime      string `json:"event_time"`
	EventMethod    string `json:"event_method"`
	State          string `json:"state"` // active | withdrawn
	NoticeVersion  string `json:"notice_version"`
	NoticeHash     string `json:"notice_hash,omitempty"`
	Jurisdiction   string `json:"jurisdiction"`
	Controller     string `json:"controller"`
	Recorder       string `json:"recorder"`
}

const erased = "[erased]"

// Receipt returns the receipt of one event (ENOTFOUND if there is none).
func (l *Ledger) Receipt(ctx context.Context, eventID uuid.UUID) (Receipt, error) {
	e, err := l.store.ConsentEventGet(ctx, eventID)
	if err != nil {
		return Receipt{}, fmt.Errorf("read consent event: %w", err)
	}
	principal := erased
	var ev *lethe.ConsentEvidence
	sealed, err := l.open(ctx, e)
	switch {
	case lethe.ErrorCode(err) == lethe.ESHREDDED:
	case err != nil:
		return Receipt{}, err
	case sealed != nil:
		principal = sealed.SubjectID
		evc := sealed.Evidence
		ev = &evc
	}
	c := l.cfg.Controller
	ctl := ReceiptController{PIIController: c.Name, Contact: c.Contact, Address: c.Address}
	if c.DPO != nil {
		ctl.Email, ctl.Phone = c.DPO.Email, c.DPO.Phone
		if ctl.Contact == "" {
			ctl.Contact = c.DPO.Name
		}
	}
	rp := ReceiptPurpose{Purpose: e.Purpose, ConsentType: "EXPLICIT", PurposeCategory: []string{}, PIICategory: []string{}}
	var sensitive bool
	var spi []string
	if pur, ok := l.cfg.Purpose(e.Purpose); ok {
		rp.Purpose = cmpStr(pur.Name, pur.ID)
		rp.PurposeCategory = []string{pur.ID}
		if pur.Categories != nil {
			rp.PIICategory = pur.Categories
		}
		rp.Termination = "withdrawal of consent"
		if !pur.Retention.IsZero() {
			rp.Termination = "withdrawal of consent, or " + pur.Retention.String() + " after collection"
		}
		names := make([]string, len(pur.Recipients))
		for i, r := range pur.Recipients {
			names[i] = r.Name
		}
		rp.ThirdPartyDisclosure = len(names) > 0
		rp.ThirdPartyName = strings.Join(names, ", ")
		if pur.SpecialCategory {
			sensitive, spi = true, pur.Categories
		}
	}
	if spi == nil {
		spi = []string{}
	}
	eventType, state := "given", "active"
	if !e.Granted {
		eventType, state = "withdrawn", "withdrawn"
	}
	r := Receipt{
		Version:          "KI-CR-v1.1.0",
		Jurisdiction:     strings.ToUpper(string(e.Jurisdiction)),
		ConsentTimestamp: e.RecordedAt.Unix(),
		CollectionMethod: e.Mechanism,
		ConsentReceiptID: e.ID.String(),
		PIIPrincipalID:   principal,
		PIIControllers:   []ReceiptController{ctl},
		PolicyURL:        c.PrivacyNoticeURL,
		Services:         []ReceiptService{{Service: c.Name, Purposes: []ReceiptPurpose{rp}}},
		Sensitive:        sensitive,
		SPICat:           spi,
		Evidence:         ev,
		ISO27560: ISO27560Record{
			RecordID: e.ID.String(), PIIPrincipalID: principal, SubjectRef: e.SubjectRef.String(), Purpose: e.Purpose,
			LegalBasis: "consent", EventType: eventType, EventTime: e.RecordedAt.UTC().Format("2006-01-02T15:04:05.000000Z"),
			EventMethod: e.Mechanism, State: state, NoticeVersion: e.PolicyVersion, Jurisdiction: string(e.Jurisdiction),
			Controller: c.Name, Recorder: e.Source,
		},
	}
	if ev != nil {
		r.Language = ev.Locale
		r.ISO27560.NoticeHash = ev.NoticeHash
	}
	return r, nil
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
