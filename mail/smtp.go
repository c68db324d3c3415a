package mail

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/lethe-privacy/lethe"
)

// TLSMode is how the connection to the SMTP server is secured.
type TLSMode string

// TLS modes.
const (
	TLSStartTLS TLSMode = "starttls" // plain connection upgraded with STARTTLS, required (port 587)
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (port 465)
	TLSNone     TLSMode = "none"     // no TLS: only for a relay on the same host or network
)

// SMTPConfig is the SMTP server Lethe sends through.
type SMTPConfig struct {
	// Host is the server's name or address. Required.
	Host string
	// Port defaults to 587 (465 with TLSImplicit, 25 with TLSNone).
	Port int
	// Username and Password log in (SMTP AUTH PLAIN) when Username is set.
	// Defaults to no login.
	Username string
	Password string
	// From is the sender address, e.g. "Privacy team <privacy@example.com>".
	// Required.
	From string
	// TLS defaults to TLSStartTLS.
	TLS TLSMode
	// Timeout bounds connecting and each exchange. Defaults to 30 seconds.
	Timeout time.Duration
}

// validate applies the defaults and checks the fields, naming them as in
// lethe.yaml (smtp.host, ...).
func (c SMTPConfig) validate() (SMTPConfig, error) {
	c.TLS = cmp.Or(c.TLS, TLSStartTLS)
	defaultPort := map[TLSMode]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}
	var fields []lethe.FieldError
	if c.Host == "" {
		fields = append(fields, lethe.FieldError{Path: "smtp.host", Message: "name the SMTP server"})
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		fields = append(fields, lethe.FieldError{Path: "smtp.from", Message: "give the sender as an e-mail address, e.g. Privacy team <privacy@example.com>"})
	}
	if _, ok := defaultPort[c.TLS]; !ok {
		fields = append(fields, lethe.FieldError{Path: "smtp.tls", Message: fmt.Sprintf("unknown TLS mode %q: use starttls, tls or none", c.TLS)})
	}
	if c.Port < 0 || c.Port > 65535 {
		fields = append(fields, lethe.FieldError{Path: "smtp.port", Message: "a port is between 1 and 65535"})
	}
	if len(fields) > 0 {
		return c, &lethe.Error{Code: lethe.EINVALID, Message: "invalid SMTP configuration", Fields: fields}
	}
	c.Port = cmp.Or(c.Port, defaultPort[c.TLS])
	c.Timeout = cmp.Or(c.Timeout, 30*time.Second)
	return c, nil
}

// send delivers one e-mail. Its error is a sendError: PII-free, and
// classified as worth retrying or not.
func (c SMTPConfig) send(ctx context.Context, to, subject, body string) error {
	opts := []gomail.Option{gomail.WithPort(c.Port), gomail.WithTimeout(c.Timeout)}
	switch c.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if c.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(c.Username), gomail.WithPassword(c.Password))
	}
	client, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return &sendError{msg: "the SMTP client cannot be set up (check the smtp settings)", permanent: false}
	}
	msg := gomail.NewMsg()
	if err := msg.From(c.From); err != nil {
		return &sendError{msg: "the configured sender address is not valid", permanent: false}
	}
	if err := msg.To(to); err != nil {
		return &sendError{msg: "the recipient is not a valid e-mail address", permanent: true}
	}
	msg.Subject(subject)
	msg.SetBodyString(gomail.TypeTextPlain, body)
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return classify(ctx, err)
	}
	return nil
}

// sendError is why an attempt failed, in words fit for the outbox's
// LastError and the logs: the server's own reply is left out, since it
// often quotes the recipient's address.
type sendError struct {
	msg       string
	permanent bool // retrying cannot help
}

func (e *sendError) Error() string { return e.msg }

func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		switch {
		case se.Reason == gomail.ErrSMTPRcptTo && code >= 500:
			return &sendError{msg: fmt.Sprintf("the SMTP server refused the recipient for good (%d %s)", code, se.EnhancedStatusCode()), permanent: true}
		case code > 0:
			return &sendError{msg: fmt.Sprintf("the SMTP server refused the message at %s (%d %s)", se.Reason, code, se.EnhancedStatusCode())}
		default:
			return &sendError{msg: fmt.Sprintf("sending through the SMTP server failed at %s", se.Reason)}
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &sendError{msg: "the SMTP server cannot be reached or the connection failed"}
	}
	return &sendError{msg: "the SMTP server cannot be reached, or the connection or TLS handshake failed"}
}
