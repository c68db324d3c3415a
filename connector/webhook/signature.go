package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the header that carries a call's signature:
//
//	Lethe-Signature: t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
const SignatureHeader = "Lethe-Signature"

// DefaultTolerance is how far a call's timestamp may lie from the
// receiver's clock, either way, when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// MaxRequestBytes bounds the body VerifyRequest reads.
const MaxRequestBytes = 16 << 20

// Errors Verify returns. They say why a call was refused, so a receiver
// can log it; the caller should only learn that it was.
var (
	ErrNoSignature        = errors.New("webhook: no " + SignatureHeader + " header")
	ErrMalformedSignature = errors.New("webhook: malformed " + SignatureHeader + " header; want t=<unix seconds>,v1=<hex HMAC-SHA256>")
	ErrSignatureMismatch  = errors.New("webhook: the signature does not match the body and timestamp; check the secret")
	ErrSignatureExpired   = errors.New("webhook: the signature's timestamp is outside the tolerance (a replayed call, or clocks apart)")
	ErrEmptySecret        = errors.New("webhook: the secret is empty")
)

// Sign returns the SignatureHeader value for body sent at t: the unix
// time in seconds and the hex HMAC-SHA256, keyed with secret, of
// "<t>.<body>".
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a call's SignatureHeader value against its raw body: one
// of its v1 signatures must be the HMAC-SHA256 of "<t>.<body>" under
// secret (compared in constant time), and t must lie within tolerance of
// now, either way (DefaultTolerance when tolerance is zero or less), so
// that a recorded call cannot be replayed later. Unknown parts of the
// header are ignored, so that later schemes can be added beside v1.
//
// It returns nil, or ErrEmptySecret, ErrNoSignature,
// ErrMalformedSignature, ErrSignatureMismatch or ErrSignatureExpired.
// Receivers verify the body exactly as received, before decoding it.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return ErrEmptySecret
	}
	if header == "" {
		return ErrNoSignature
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformedSignature
		}
		switch k {
		case "t":
			if ts != "" || !digits(v) {
				return ErrMalformedSignature
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return ErrMalformedSignature
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return ErrMalformedSignature
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return ErrSignatureMismatch
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrMalformedSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureExpired
	}
	return nil
}

// digits reports whether s is 1 to 18 decimal digits: a unix time that
// fits an int64 without sign or spaces.
func digits(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// VerifyRequest wraps a receiver's handler: it reads the request body (at
// most MaxRequestBytes), verifies its SignatureHeader with Verify at the
// current time and DefaultTolerance, and answers 401 Unauthorized
// without calling next when the check fails (413 for a larger body).
// next gets the body to read again.
func VerifyRequest(secret []byte, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read the request body", http.StatusBadRequest)
			return
		}
		if err := Verify(secret, r.Header.Get(SignatureHeader), body, time.Now(), DefaultTolerance); err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}
