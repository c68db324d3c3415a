package webhook

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"

	"github.com/lethe-privacy/lethe"
)

// badResponse is a 2xx body that is not the protocol's JSON; what says
// how, without quoting it.
type badResponse struct{ what string }

func (e *badResponse) Error() string { return e.what }

func bad(format string, args ...any) error { return &badResponse{what: fmt.Sprintf(format, args...)} }

// readError is a failure of the connection while the body was read.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// bodyReader marks the body's own failures as readErrors, apart from the
// JSON's.
type bodyReader struct{ r io.ReadCloser }

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &readError{err: err}
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.r.Close() }

// errTooLarge is what limitReader returns past its limit.
var errTooLarge = errors.New("response too large")

// limitReader fails with errTooLarge, rather than end early, when the
// body holds more than n bytes.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One byte more tells a body of exactly n bytes from a longer one.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// decodeRows reads {"rows": [{"column": value, ...}, ...]} token by
// token, calling emit for each row as soon as it is decoded, so that a
// large response never sits in memory whole. Other members of the object
// are skipped. It returns emit's error, a *readError, errTooLarge, or a
// *badResponse.
func decodeRows(dec *json.Decoder, emit func(lethe.Row) error) error {
	dec.UseNumber()
	if err := expectDelim(dec, '{', "the body is not a JSON object"); err != nil {
		return err
	}
	sawRows := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(err)
		}
		if tok != "rows" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return jsonError(err)
			}
			continue
		}
		if sawRows {
			return bad("rows appears twice")
		}
		sawRows = true
		if err := expectDelim(dec, '[', "rows is not an array"); err != nil {
			return err
		}
		var row lethe.Row
		for n := 0; dec.More(); n++ {
			if err := decodeRow(dec, &row, n); err != nil {
				return err
			}
			if err := emit(row); err != nil {
				return err
			}
		}
		if err := expectDelim(dec, ']', "rows is not an array"); err != nil {
			return err
		}
	}
	if err := expectDelim(dec, '}', "the body is not a JSON object"); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return jsonError(err)
		}
		return bad("data follows the JSON object")
	}
	if !sawRows {
		return bad(`no "rows" array`)
	}
	return nil
}

// decodeRow reads one row object into row, reusing its slices. A column
// given twice keeps its last value, as encoding/json would.
func decodeRow(dec *json.Decoder, row *lethe.Row, n int) error {
	if err := expectDelim(dec, '{', fmt.Sprintf("row %d is not a JSON object", n)); err != nil {
		return err
	}
	row.Columns, row.Values = row.Columns[:0], row.Values[:0]
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(err)
		}
		col, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return jsonError(err)
		}
		v, err := scalar(raw)
		if err != nil {
			return err
		}
		if i := indexOf(row.Columns, col); i >= 0 {
			row.Values[i] = v
			continue
		}
		row.Columns = append(row.Columns, col)
		row.Values = append(row.Values, v)
	}
	return expectDelim(dec, '}', fmt.Sprintf("row %d is not a JSON object", n))
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// scalar turns a JSON value into a Row value: null, bool, string, an
// integer as int64 (as its text when it does not fit), another number as
// float64, and an object or array as its compact JSON text.
func scalar(raw json.RawMessage) (any, error) {
	switch raw[0] {
	case 'n':
		return nil, nil
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, bad("invalid JSON string")
		}
		return s, nil
	case '{', '[':
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return nil, bad("invalid JSON")
		}
		return b.String(), nil
	}
	s := string(raw)
	if !bytes.ContainsAny(raw, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		return s, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s, nil
	}
	return f, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if tok != want {
		return bad("%s", what)
	}
	return nil
}

// jsonError passes the body's own failures on and describes a JSON one
// without quoting the body.
func jsonError(err error) error {
	var rerr *readError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &rerr), errors.Is(err, errTooLarge):
		return err
	case errors.As(err, &syn):
		return bad("invalid JSON at byte %d", syn.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return bad("the JSON ends early")
	}
	return bad("invalid JSON")
}

// decodeErased reads {"erased": n}, n a count.
func decodeErased(r io.Reader) (int64, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var v struct {
		Erased *json.Number `json:"erased"`
	}
	if err := dec.Decode(&v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return 0, bad(`"erased" is not a number`)
		}
		return 0, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return 0, jsonError(err)
		}
		return 0, bad("data follows the JSON object")
	}
	if v.Erased == nil {
		return 0, bad(`no "erased" count`)
	}
	n, err := v.Erased.Int64()
	if err != nil || n < 0 {
		return 0, bad(`"erased" is not a count of rows`)
	}
	return n, nil
}

// project limits rows to p.Columns, in that order, and drops repeats when
// p.Distinct.
func project(p lethe.FindParams, fn func(lethe.Row) error) func(lethe.Row) error {
	var seen map[string]struct{}
	if p.Distinct {
		seen = map[string]struct{}{}
	}
	var values []any
	return func(r lethe.Row) error {
		out := r
		if len(p.Columns) > 0 {
			values = values[:0]
			for _, c := range p.Columns {
				v, _ := r.Get(c)
				values = append(values, v)
			}
			out = lethe.Row{Columns: p.Columns, Values: values}
		}
		if seen != nil {
			id, err := json.Marshal(out.Values)
			if err != nil {
				return err
			}
			if _, ok := seen[string(id)]; ok {
				return nil
			}
			seen[string(id)] = struct{}{}
		}
		return fn(out)
	}
}

// failure names the kind of a transport error without its text, which
// quotes the URL (and with it any credentials or tokens it holds).
func failure(err error) string {
	var nerr net.Error
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr):
		return "the host name does not resolve"
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		return "the service's TLS certificate is not trusted"
	case errors.As(err, &recordErr):
		return "the service does not speak TLS"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &nerr) && nerr.Timeout():
		return "timed out"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "the service closed the connection"
	}
	return "network error"
}
