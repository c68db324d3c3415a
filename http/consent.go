package http

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/consent"
)

// ConsentRecordRequest is the body of POST /v1/consents: one consent form
// submitted by a subject.
type ConsentRecordRequest struct {
	SubjectID     string `json:"subject_id" maxLength:"512" example:"u-1" doc:"The subject's user_id. It is pseudonymised before storage and kept only inside the encrypted evidence."`
	PolicyVersion string `json:"policy_version,omitempty" maxLength:"200" example:"2026-03" doc:"The version of the notice the subject was shown. Required for grants; a withdrawal without one records the purpose's current version."`
	Mechanism     string `json:"mechanism" maxLength:"200" example:"signup_form_v3" doc:"How consent was collected. \"gpc\" is reserved for Global Privacy Control opt-outs."`
	Jurisdiction  string `json:"jurisdiction,omitempty" enum:"gdpr,ccpa,lgpd" doc:"The legal regime. Defaults to the config's jurisdiction."`
	// Evidence is sealed with the subject's own key.
	Evidence *ConsentEvidenceRequest `json:"evidence,omitempty" doc:"What proves how consent was given. Encrypted with the subject's key; erased when the subject is erased."`
	Purposes []PurposeChoiceRequest  `json:"purposes,omitempty" maxItems:"100" doc:"The subject's choice per purpose. May be empty when the request carries Sec-GPC: 1."`
}

// ConsentEvidenceRequest is the evidence of a consent form. When
// Options.EvidenceFromRequest is set, a missing ip and user_agent are taken
// from the request.
type ConsentEvidenceRequest struct {
	IP         string            `json:"ip,omitempty" example:"203.0.113.7" doc:"The subject's IP address when consenting."`
	UserAgent  string            `json:"user_agent,omitempty" example:"Mozilla/5.0" doc:"The subject's user agent."`
	Locale     string            `json:"locale,omitempty" example:"de-DE" doc:"The language the notice was shown in."`
	NoticeText string            `json:"notice_text,omitempty" doc:"The exact wording shown."`
	NoticeHash string            `json:"notice_hash,omitempty" doc:"A hash of the notice shown, when the text is kept elsewhere."`
	Extra      map[string]string `json:"extra,omitempty" doc:"Any other evidence, as strings."`
}

// PurposeChoiceRequest is the subject's choice for one purpose.
type PurposeChoiceRequest struct {
	Purpose       string `json:"purpose" example:"marketing_email" doc:"A declared purpose whose lawful basis is consent."`
	Granted       bool   `json:"granted" doc:"true grants consent, false withdraws (or refuses) it."`
	PolicyVersion string `json:"policy_version,omitempty" maxLength:"200" doc:"Overrides the form's policy_version for this purpose."`
}

type recordInput struct {
	GPC  string `header:"Sec-GPC" doc:"Global Privacy Control: 1 records an opt-out for every purpose marked gpc that the form does not decide; any other value is no signal."`
	Body ConsentRecordRequest
}

// RecordedEvent is one consent event appended by POST /v1/consents.
type RecordedEvent struct {
	ID            uuid.UUID `json:"id" doc:"The event id (UUIDv7); its receipt is at /v1/consents/{id}/receipt."`
	Purpose       string    `json:"purpose"`
	Granted       bool      `json:"granted"`
	PolicyVersion string    `json:"policy_version"`
	Mechanism     string    `json:"mechanism"`
	RecordedAt    time.Time `json:"recorded_at"`
}

// ConsentRecordResponse lists the events POST /v1/consents appended.
type ConsentRecordResponse struct {
	Events []RecordedEvent `json:"events" doc:"The events appended, in the order of the form's purposes; GPC opt-outs last."`
}

type recordOutput struct {
	Body ConsentRecordResponse
}

type checkInput struct {
	SubjectID string `path:"subject_id" maxLength:"512" doc:"The subject's user_id."`
	Purpose   string `path:"purpose" maxLength:"200" doc:"A declared purpose."`
}

type checkOutput struct {
	Body lethe.ConsentDecision
}

type stateInput struct {
	SubjectID string `path:"subject_id" maxLength:"512" doc:"The subject's user_id."`
}

// ConsentStateResponse is a decision for every declared purpose.
type ConsentStateResponse struct {
	SubjectID string                  `json:"subject_id"`
	Purposes  []lethe.ConsentDecision `json:"purposes" doc:"One decision per declared purpose, in declaration order."`
}

type stateOutput struct {
	Body ConsentStateResponse
}

type historyInput struct {
	SubjectID string `path:"subject_id" maxLength:"512" doc:"The subject's user_id."`
	Purpose   string `query:"purpose" maxLength:"200" doc:"Only this purpose's events. Defaults to every purpose."`
}

// ConsentHistoryResponse is a subject's consent timeline.
type ConsentHistoryResponse struct {
	Events []consent.HistoryEvent `json:"events" doc:"The subject's events, oldest first, with evidence opened unless it was erased."`
}

type historyOutput struct {
	Body ConsentHistoryResponse
}

type receiptInput struct {
	EventID string `path:"event_id" format:"uuid" doc:"A consent event id."`
}

type receiptOutput struct {
	Body consent.Receipt
}

// PurposeListResponse lists the declared purposes.
type PurposeListResponse struct {
	Purposes []lethe.Purpose `json:"purposes" doc:"The declared purposes, in declaration order; durations read like 395d or 2y."`
}

type purposesOutput struct {
	Body PurposeListResponse
}

var (
	subjectInPath = inParams(map[string]string{"subject_id": "path", "purpose": "path"})
	purposeQuery  = inParams(map[string]string{"subject_id": "path", "purpose": "query"})
)

func (s *Server) registerConsent() {
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "consent-record", Method: http.MethodPost, Path: "/v1/consents", Tags: []string{"consent"},
		DefaultStatus: http.StatusCreated, MaxBodyBytes: MaxBodyBytes + 1,
		Summary: "Record a consent form",
		Description: "Appends one event per purpose, atomically: every choice is recorded or none is. " +
			"Withdrawal is the same call with granted false. A request with `Sec-GPC: 1` also records an opt-out " +
			"(mechanism gpc) for every purpose marked gpc that the form does not decide. The events are recorded with " +
			"source `api:<key name>`.\n\nEvidence is stored as sent: the server does not fill evidence.ip or " +
			"evidence.user_agent from the connection unless it runs with EvidenceFromRequest, because behind a " +
			"backend the connection is not the subject's.",
	}, lethe.ScopeConsentWrite, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity), s.recordConsent)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "consent-history", Method: http.MethodGet, Path: "/v1/subjects/{subject_id}/consents/history", Tags: []string{"consent"},
		Summary:     "A subject's consent history",
		Description: "Every event of the subject, oldest first, with the evidence decrypted; after the subject was erased, evidence_erased is true and the pseudonymous timeline remains.",
	}, lethe.ScopeConsentRead, http.StatusUnprocessableEntity), s.consentHistory)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "consent-check", Method: http.MethodGet, Path: "/v1/subjects/{subject_id}/consents/{purpose}", Tags: []string{"consent"},
		Summary: "Check consent for a purpose",
		Description: "Answers whether processing the subject's data for the purpose is allowed now. A denial is a " +
			"decision, not an error: the answer is 200 with allowed false and a reason (never_given, withdrawn, expired, " +
			"policy_outdated). A purpose not based on consent answers allowed true with reason lawful_basis:<basis>.",
	}, lethe.ScopeConsentRead, http.StatusUnprocessableEntity), s.checkConsent)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "consent-state", Method: http.MethodGet, Path: "/v1/subjects/{subject_id}/consents", Tags: []string{"consent"},
		Summary:     "A subject's consent state",
		Description: "A decision for every declared purpose, in declaration order.",
	}, lethe.ScopeConsentRead, http.StatusUnprocessableEntity), s.consentState)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "consent-receipt", Method: http.MethodGet, Path: "/v1/consents/{event_id}/receipt", Tags: []string{"consent"},
		Summary:     "A consent receipt",
		Description: "The receipt of one event, in the Kantara Consent Receipt v1.1 layout with the ISO/IEC TS 27560 record fields. Subject-identifying fields read [erased] after the subject was erased.",
	}, lethe.ScopeConsentRead, http.StatusNotFound, http.StatusGone, http.StatusUnprocessableEntity), s.consentReceipt)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "purposes-list", Method: http.MethodGet, Path: "/v1/purposes", Tags: []string{"consent"},
		Summary:     "The declared purposes",
		Description: "Every purpose of processing from the configuration, with its lawful basis, policy version and retention.",
	}, lethe.ScopeConsentRead), s.listPurposes)
}

var errNoLedger = lethe.Errorf(lethe.EUNAVAILABLE, "the consent ledger is not configured on this server")

func (s *Server) recordConsent(ctx context.Context, in *recordInput) (*recordOutput, error) {
	if s.ledger == nil {
		return nil, s.problemFor(ctx, errNoLedger, nil)
	}
	b := in.Body
	p := consent.RecordParams{
		SubjectID: b.SubjectID, PolicyVersion: b.PolicyVersion, Mechanism: b.Mechanism,
		Jurisdiction: lethe.Jurisdiction(b.Jurisdiction), Source: actor(ctx), GPC: in.GPC == "1",
	}
	if e := b.Evidence; e != nil {
		p.Evidence = lethe.ConsentEvidence{IP: e.IP, UserAgent: e.UserAgent, Locale: e.Locale, NoticeText: e.NoticeText, NoticeHash: e.NoticeHash, Extra: e.Extra}
	}
	if s.opts.EvidenceFromRequest {
		if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
			if p.Evidence.IP == "" {
				p.Evidence.IP = info.remoteIP()
			}
			if p.Evidence.UserAgent == "" {
				p.Evidence.UserAgent = info.userAgent
			}
		}
	}
	for _, c := range b.Purposes {
		p.Purposes = append(p.Purposes, consent.PurposeChoice{Purpose: c.Purpose, Granted: c.Granted, PolicyVersion: c.PolicyVersion})
	}
	out := &recordOutput{}
	out.Body.Events = []RecordedEvent{}
	if p.GPC && len(p.Purposes) == 0 && len(s.gpcPurposes) == 0 {
		// A GPC signal with no purpose to opt out of records nothing; the
		// ledger would refuse an empty form, but the signal is not an error.
		if _, err := s.ledger.SubjectRef(p.SubjectID); err != nil {
			return nil, s.problemFor(ctx, err, inBody)
		}
		return out, nil
	}
	res, err := s.ledger.Record(ctx, p)
	if err != nil {
		return nil, s.problemFor(ctx, err, inBody)
	}
	for _, e := range res.Events {
		out.Body.Events = append(out.Body.Events, RecordedEvent{
			ID: e.ID, Purpose: e.Purpose, Granted: e.Granted, PolicyVersion: e.PolicyVersion, Mechanism: e.Mechanism, RecordedAt: e.RecordedAt,
		})
		result := "granted"
		if !e.Granted {
			result = "withdrawn"
		}
		s.metrics.records.WithLabelValues(e.Purpose, result).Inc()
	}
	return out, nil
}

func (s *Server) checkConsent(ctx context.Context, in *checkInput) (*checkOutput, error) {
	if s.ledger == nil {
		return nil, s.problemFor(ctx, errNoLedger, nil)
	}
	d, err := s.ledger.Check(ctx, in.SubjectID, in.Purpose)
	if err != nil {
		return nil, s.problemFor(ctx, err, subjectInPath)
	}
	s.metrics.checks.WithLabelValues(d.Purpose, string(d.Reason)).Inc()
	return &checkOutput{Body: d}, nil
}

func (s *Server) consentState(ctx context.Context, in *stateInput) (*stateOutput, error) {
	if s.ledger == nil {
		return nil, s.problemFor(ctx, errNoLedger, nil)
	}
	ds, err := s.ledger.State(ctx, in.SubjectID)
	if err != nil {
		return nil, s.problemFor(ctx, err, subjectInPath)
	}
	if ds == nil {
		ds = []lethe.ConsentDecision{}
	}
	return &stateOutput{Body: ConsentStateResponse{SubjectID: in.SubjectID, Purposes: ds}}, nil
}

func (s *Server) consentHistory(ctx context.Context, in *historyInput) (*historyOutput, error) {
	if s.ledger == nil {
		return nil, s.problemFor(ctx, errNoLedger, nil)
	}
	events, err := s.ledger.History(ctx, in.SubjectID, in.Purpose)
	if err != nil {
		return nil, s.problemFor(ctx, err, purposeQuery)
	}
	out := &historyOutput{}
	out.Body.Events = events
	if out.Body.Events == nil {
		out.Body.Events = []consent.HistoryEvent{}
	}
	return out, nil
}

func (s *Server) consentReceipt(ctx context.Context, in *receiptInput) (*receiptOutput, error) {
	if s.ledger == nil {
		return nil, s.problemFor(ctx, errNoLedger, nil)
	}
	id, err := uuid.Parse(in.EventID)
	if err != nil {
		return nil, s.problemFor(ctx, lethe.FieldErrorf("event_id", "not an event id (a UUID)"), inParams(map[string]string{"event_id": "path"}))
	}
	r, err := s.ledger.Receipt(ctx, id)
	if err != nil {
		if lethe.ErrorCode(err) == lethe.ENOTFOUND {
			err = lethe.Errorf(lethe.ENOTFOUND, "no consent event with this id")
		}
		return nil, s.problemFor(ctx, err, nil)
	}
	return &receiptOutput{Body: r}, nil
}

func (s *Server) listPurposes(ctx context.Context, _ *struct{}) (*purposesOutput, error) {
	if s.ledger == nil {
		return nil, s.problemFor(ctx, errNoLedger, nil)
	}
	out := &purposesOutput{}
	out.Body.Purposes = s.ledger.Purposes()
	if out.Body.Purposes == nil {
		out.Body.Purposes = []lethe.Purpose{}
	}
	return out, nil
}

// remoteIP is the host part of the connection's remote address.
func (i *requestInfo) remoteIP() string {
	host, _, err := net.SplitHostPort(i.remoteAddr)
	if err != nil {
		return i.remoteAddr
	}
	return host
}
