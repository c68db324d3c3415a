package lethe

import "slices"

// Config is the privacy-as-code declaration read from lethe.yaml: who the
// controller is, why personal data is processed and under which lawful
// basis. Package config decodes it strictly, expands ${VAR}, validates it
// and publishes its JSON Schema; the types here are what the rest of Lethe
// works with.
type Config struct {
	// Controller is the Art. 30(1)(a) identity of the controller.
	Controller Controller `yaml:"controller" json:"controller"`
	// Jurisdiction is the default legal regime for events and requests that
	// do not name one. Defaults to gdpr.
	Jurisdiction Jurisdiction `yaml:"jurisdiction,omitempty" json:"jurisdiction,omitempty"`
	// Purposes declares every purpose of processing.
	Purposes []Purpose `yaml:"purposes" json:"purposes"`
	// Calendar is the controller's time zone and public holidays, which
	// legal deadlines are counted in. Defaults to UTC without holidays.
	Calendar *Calendar `yaml:"calendar,omitempty" json:"calendar,omitempty"`
	// SMTP is the mail server Lethe sends notices through (verification
	// codes, request outcomes). Without it, mail waits in the outbox.
	SMTP *SMTP `yaml:"smtp,omitempty" json:"-"`
	// Events publishes consent changes and request outcomes to
	// subscribers (package events). Defaults to none.
	Events *Events `yaml:"events,omitempty" json:"-"`
	// Requests configures how requests are received from the people they
	// are about: verification codes, rate limits, trusted proxies.
	// Defaults to codes valid 30 minutes for 5 attempts, and 5 requests an
	// hour per e-mail address and 20 per client address.
	Requests *RequestsConfig `yaml:"requests,omitempty" json:"requests,omitempty"`
	// SecurityMeasures is the general description of the technical and
	// organisational security measures (Art. 30(1)(g), Art. 32(1)), one
	// measure a line, that the records of processing give for every
	// purpose. Defaults to none (the record flags it).
	SecurityMeasures []string `yaml:"security_measures,omitempty" json:"security_measures,omitempty"`
	// Retention schedules the retention run inside `lethe serve`.
	// Defaults to daily at 02:00 UTC in batches of 5,000 rows.
	Retention *RetentionSchedule `yaml:"retention,omitempty" json:"retention,omitempty"`
	// Datastores is the data map: the databases and services that hold
	// personal data, by name. Package config fills the names (Datastore.Name,
	// Collection.Name and Collection.Datastore), turns redis keys into
	// collections and checks that every reference resolves.
	Datastores map[string]*Datastore `yaml:"datastores,omitempty" json:"datastores,omitempty"`
}

// Datastore returns the datastore declared under name.
func (c *Config) Datastore(name string) (*Datastore, bool) {
	d, ok := c.Datastores[name]
	return d, ok && d != nil
}

// DatastoreNames lists the declared datastore names, sorted.
func (c *Config) DatastoreNames() []string {
	names := make([]string, 0, len(c.Datastores))
	for n := range c.Datastores {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Collection returns the collection declared as name in datastore.
func (c *Config) Collection(datastore, name string) (*Collection, bool) {
	d, ok := c.Datastore(datastore)
	if !ok {
		return nil, false
	}
	col, ok := d.Collections[name]
	return col, ok && col != nil
}

// Collections lists every collection of every datastore, sorted by
// datastore and then collection name.
func (c *Config) Collections() []*Collection {
	var all []*Collection
	for _, dn := range c.DatastoreNames() {
		d := c.Datastores[dn]
		if d == nil {
			continue
		}
		for _, cn := range d.CollectionNames() {
			if col := d.Collections[cn]; col != nil {
				all = append(all, col)
			}
		}
	}
	return all
}

// Purpose returns the purpose with the given id.
func (c *Config) Purpose(id string) (*Purpose, bool) {
	for i := range c.Purposes {
		if c.Purposes[i].ID == id {
			return &c.Purposes[i], true
		}
	}
	return nil, false
}

// PurposeIDs lists the declared purpose ids in declaration order.
func (c *Config) PurposeIDs() []string {
	ids := make([]string, len(c.Purposes))
	for i, p := range c.Purposes {
		ids[i] = p.ID
	}
	return ids
}

// SMTP is the mail server of the outbox. The password usually comes from
// the environment (${SMTP_PASSWORD}) and is never logged or quoted.
type SMTP struct {
	Host string `yaml:"host" json:"host"`
	// Port defaults to 587 (465 with tls: tls, 25 with tls: none).
	Port     int    `yaml:"port,omitempty" json:"port,omitempty"`
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	Password string `yaml:"password,omitempty" json:"-"`
	// From is the sender, e.g. "Privacy team <privacy@example.com>".
	From string `yaml:"from" json:"from"`
	// TLS is starttls (the default), tls or none.
	TLS string `yaml:"tls,omitempty" json:"tls,omitempty"`
	// Timeout bounds connecting and each exchange. Defaults to 30s.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Calendar says where the controller counts days: a period that ends on a
// Saturday, Sunday or public holiday ends on the next working day
// (Regulation 1182/71 Art. 3(4)).
type Calendar struct {
	// TimeZone is an IANA zone name such as Europe/Berlin. Defaults to UTC.
	TimeZone string `yaml:"time_zone,omitempty" json:"time_zone,omitempty"`
	// Holidays are the public holidays, as YYYY-MM-DD dates.
	Holidays []string `yaml:"holidays,omitempty" json:"holidays,omitempty"`
}

// Controller identifies the controller (Art. 30(1)(a)).
type Controller struct {
	Name    string `yaml:"name" json:"name"`
	Contact string `yaml:"contact,omitempty" json:"contact,omitempty"`
	Address string `yaml:"address,omitempty" json:"address,omitempty"`
	// PrivacyNoticeURL is where the privacy notice is published; consent
	// receipts link to it (Kantara policyUrl).
	PrivacyNoticeURL string   `yaml:"privacy_notice_url,omitempty" json:"privacy_notice_url,omitempty"`
	DPO              *Contact `yaml:"dpo,omitempty" json:"dpo,omitempty"`
	Representative   *Contact `yaml:"representative,omitempty" json:"representative,omitempty"`
}

// Contact is a person or office that can be reached.
type Contact struct {
	Name    string `yaml:"name,omitempty" json:"name,omitempty"`
	Email   string `yaml:"email,omitempty" json:"email,omitempty"`
	Phone   string `yaml:"phone,omitempty" json:"phone,omitempty"`
	Address string `yaml:"address,omitempty" json:"address,omitempty"`
}

// Purpose is one purpose of processing with its lawful basis.
type Purpose struct {
	ID          string `yaml:"id" json:"id"`
	Name        string `yaml:"name,omitempty" json:"name,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// LawfulBasis is the Art. 6(1) basis.
	LawfulBasis LawfulBasis `yaml:"lawful_basis" json:"lawful_basis"`
	// SpecialCategory marks processing of Art. 9 data; Art9Condition is then
	// required.
	SpecialCategory bool          `yaml:"special_category,omitempty" json:"special_category,omitempty"`
	Art9Condition   Art9Condition `yaml:"art9_condition,omitempty" json:"art9_condition,omitempty"`
	// DataSubjects lists the categories of data subjects (Art. 30(1)(c)):
	// customers, newsletter subscribers, employees...
	DataSubjects []string `yaml:"data_subjects,omitempty" json:"data_subjects,omitempty"`
	// Categories lists the categories of personal data (contact.email, ...).
	Categories []string    `yaml:"categories,omitempty" json:"categories,omitempty"`
	Recipients []Recipient `yaml:"recipients,omitempty" json:"recipients,omitempty"`
	// Retention is how long data processed for the purpose is kept.
	Retention Duration `yaml:"retention,omitempty" json:"retention,omitempty"`
	// PolicyVersion is the current version of the notice shown for consent.
	// Required for consent purposes.
	PolicyVersion string `yaml:"policy_version,omitempty" json:"policy_version,omitempty"`
	// AlsoAccept lists older policy versions whose consents remain valid.
	AlsoAccept []string `yaml:"also_accept,omitempty" json:"also_accept,omitempty"`
	// ConsentMaxAge is how long a consent stays valid before it must be
	// renewed. Defaults to no limit.
	ConsentMaxAge Duration `yaml:"consent_max_age,omitempty" json:"consent_max_age,omitempty"`
	// GPC marks purposes that a Global Privacy Control signal opts out of.
	GPC bool `yaml:"gpc,omitempty" json:"gpc,omitempty"`
	// DirectMarketing marks processing for direct marketing: an objection
	// to it is absolute (Art. 21(3)), cannot be overridden, and also stops
	// a purpose based on consent.
	DirectMarketing bool `yaml:"direct_marketing,omitempty" json:"direct_marketing,omitempty"`
}

// AcceptsPolicy reports whether a consent given to version v is still valid.
func (p *Purpose) AcceptsPolicy(v string) bool {
	if v == p.PolicyVersion {
		return true
	}
	for _, a := range p.AlsoAccept {
		if v == a {
			return true
		}
	}
	return false
}

// Recipient is a recipient of the purpose's data (Art. 30(1)(d)), with the
// country and the safeguard for a transfer outside the EEA (Art. 30(1)(e)).
type Recipient struct {
	Name      string `yaml:"name" json:"name"`
	Country   string `yaml:"country,omitempty" json:"country,omitempty"`
	Safeguard string `yaml:"safeguard,omitempty" json:"safeguard,omitempty"`
	// Notify is where the recipient is told of rectifications, erasures
	// and restrictions (Art. 19), by signed webhook. Defaults to none.
	Notify *RecipientNotify `yaml:"notify,omitempty" json:"-"`
}

// RecipientNotify is a recipient's Art. 19 webhook. The secret usually
// comes from the environment and is never logged or quoted.
type RecipientNotify struct {
	URL    string `yaml:"url" json:"url"`
	Secret string `yaml:"secret" json:"-"`
}

// Events are the subscribers of Lethe's events: a NATS JetStream server
// and signed webhooks. Each keeps its own place in the event stream.
type Events struct {
	NATS     *NATSEvents    `yaml:"nats,omitempty" json:"nats,omitempty"`
	Webhooks []EventWebhook `yaml:"webhooks,omitempty" json:"webhooks,omitempty"`
	// MaxAttempts is how many attempts an event gets before its
	// subscriber is stopped and left failed. Defaults to 10.
	MaxAttempts int `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	// IdentitiesMaxAge is how long sealed identities wait for a subscriber
	// that does not take them. Defaults to 7d.
	IdentitiesMaxAge Duration `yaml:"identities_max_age,omitempty" json:"identities_max_age,omitempty"`
}

// NATSEvents publishes events to NATS JetStream subjects
// <subject_prefix>.<event type>.
type NATSEvents struct {
	// URL is the server, e.g. nats://127.0.0.1:4222; it may hold a
	// password and is never quoted.
	URL string `yaml:"url" json:"-"`
	// Stream is created, when it does not exist, to capture the subjects.
	// Defaults to none: a stream must exist that captures them.
	Stream string `yaml:"stream,omitempty" json:"stream,omitempty"`
	// SubjectPrefix defaults to lethe.
	SubjectPrefix string `yaml:"subject_prefix,omitempty" json:"subject_prefix,omitempty"`
	// Events lists the event types published. Defaults to every type but
	// recipient.notice.
	Events []EventType `yaml:"events,omitempty" json:"events,omitempty"`
	// Identities adds the identities to events that have them. Defaults
	// to false: subject references only.
	Identities bool `yaml:"identities,omitempty" json:"identities,omitempty"`
}

// EventWebhook is a subscriber that receives events by signed HTTP POST.
type EventWebhook struct {
	Name string `yaml:"name" json:"name"`
	URL  string `yaml:"url" json:"-"`
	// Secret signs each call (Lethe-Signature, HMAC-SHA256).
	Secret string `yaml:"secret" json:"-"`
	// Events lists the event types sent. Defaults to every type but
	// recipient.notice.
	Events []EventType `yaml:"events,omitempty" json:"events,omitempty"`
	// Identities adds the identities to events that have them. Defaults
	// to false.
	Identities bool `yaml:"identities,omitempty" json:"identities,omitempty"`
}

// LawfulBasis is one of the six Art. 6(1) bases.
type LawfulBasis string

// The Art. 6(1) lawful bases.
const (
	BasisConsent             LawfulBasis = "consent"
	BasisContract            LawfulBasis = "contract"
	BasisLegalObligation     LawfulBasis = "legal_obligation"
	BasisVitalInterests      LawfulBasis = "vital_interests"
	BasisPublicTask          LawfulBasis = "public_task"
	BasisLegitimateInterests LawfulBasis = "legitimate_interests"
)

// LawfulBases lists the valid lawful bases in Art. 6(1) order.
var LawfulBases = []LawfulBasis{BasisConsent, BasisContract, BasisLegalObligation, BasisVitalInterests, BasisPublicTask, BasisLegitimateInterests}

// Art9Condition is the Art. 9(2) condition for special-category data.
type Art9Condition string

// Art9Conditions lists the valid Art. 9(2) conditions, (a) to (j).
var Art9Conditions = []Art9Condition{
	"explicit_consent", "employment_social_security", "vital_interests", "nonprofit_body", "made_public",
	"legal_claims", "substantial_public_interest", "health_or_social_care", "public_health", "archiving_research",
}

// Jurisdiction is the legal regime a consent or request falls under.
type Jurisdiction string

// Jurisdictions.
const (
	GDPR Jurisdiction = "gdpr"
	CCPA Jurisdiction = "ccpa"
	LGPD Jurisdiction = "lgpd"
)

// Jurisdictions lists the supported regimes.
var Jurisdictions = []Jurisdiction{GDPR, CCPA, LGPD}
