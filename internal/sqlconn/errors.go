package sqlconn

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/lethe-privacy/lethe"
)

// fail translates an error at the edge: the caller's cancellation stays
// itself (errors.Is context.Canceled), the statement timeout and lost
// connections become EUNAVAILABLE, a missing table or column EINVALID
// naming it, and any driver message, which may quote the values involved,
// is replaced by the driver's code. The original error stays reachable
// through errors.As for logs that may hold personal data.
func (e *Engine) fail(ctx context.Context, op string, c *lethe.Collection, err error) error {
	var le *lethe.Error
	if errors.As(err, &le) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	where := op
	if c != nil {
		where = "collection " + collName(c) + ": " + op
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: fmt.Sprintf("%s: %s did not answer within %s", where, e.d.Name(), e.timeout), Err: hidden{"statement timeout", err}}
	}
	d, ok := e.d.Classify(err)
	if !ok {
		if cause := ConnectCause(err); cause != "" {
			return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: fmt.Sprintf("%s: the connection to %s failed", where, e.d.Name()), Err: hidden{cause, err}}
		}
		return &lethe.Error{Code: lethe.EINTERNAL, Message: fmt.Sprintf("%s: %s client error", where, e.d.Name()), Err: hidden{fmt.Sprintf("%T", err), err}}
	}
	h := hidden{d.Code, err}
	name := d.Name
	switch d.Kind {
	case ErrUnavailable:
		return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: fmt.Sprintf("%s: %s cannot be reached", where, e.d.Name()), Err: h}
	case ErrBusy:
		return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: fmt.Sprintf("%s: %s is busy (lock wait, deadlock or conflicting transaction); try again", where, e.d.Name()), Err: h}
	case ErrMissingTable:
		if c != nil {
			e.forget(c)
			name = c.TableName()
		}
		return &lethe.Error{Code: lethe.EINVALID, Message: fmt.Sprintf("%s: table %s does not exist", where, name), Err: h}
	case ErrMissingColumn:
		if c != nil {
			e.forget(c)
		}
		if name == "" {
			return &lethe.Error{Code: lethe.EINVALID, Message: fmt.Sprintf("%s: a column the data map names does not exist", where), Err: h}
		}
		return &lethe.Error{Code: lethe.EINVALID, Message: fmt.Sprintf("%s: column %s does not exist", where, name), Err: h}
	case ErrNotNull:
		return &lethe.Error{Code: lethe.EINVALID, Message: fmt.Sprintf("%s: column %s is NOT NULL and cannot be set to null; choose a mask that writes a value", where, orSome(name, "a")), Err: h}
	case ErrBadValue:
		return &lethe.Error{Code: lethe.EINVALID, Message: fmt.Sprintf("%s: a value does not fit %s column's type or length", where, orSome(name, "a")), Err: h}
	case ErrConstraint:
		return &lethe.Error{Code: lethe.ECONFLICT, Message: fmt.Sprintf("%s: constraint %s refused the change; erase the rows that depend on these first (declare the reference in the data map)", where, orSome(name, "of the table")), Err: h}
	}
	return &lethe.Error{Code: lethe.EINTERNAL, Message: fmt.Sprintf("%s: %s failed", where, e.d.Name()), Err: h}
}

func orSome(name, some string) string {
	if name == "" {
		return some
	}
	return name
}

// hidden stands in for a driver error whose text may quote personal
// values (or, connecting, the user and host): it prints only a code or a
// cause, and unwraps to the original.
type hidden struct {
	code string
	err  error
}

func (h hidden) Error() string { return h.code }
func (h hidden) Unwrap() error { return h.err }

// ConnectCause names why a connection failed, from the network errors in
// err's chain, without the address, user or DSN; "" when err is not a
// connection failure.
func ConnectCause(err error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, os.ErrDeadlineExceeded):
		return "connection timed out"
	case errors.Is(err, syscall.ENOENT):
		return "no such socket"
	case errors.Is(err, syscall.EPIPE):
		return "connection closed"
	case errors.As(err, &dns):
		return "host not found"
	case errors.Is(err, driver.ErrBadConn):
		return "bad connection"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return "network error"
	}
	return ""
}

// Unavailable returns the EUNAVAILABLE error of a failed Open: which
// datastore, which database, and why (cause is one of the connectors'
// fixed descriptions, so the message can say it: the operator reading
// "cannot be reached" needs to know whether the file is missing or the
// password wrong), never the DSN, the path, the user or the address.
func Unavailable(datastore, database, cause string, err error) *lethe.Error {
	msg := fmt.Sprintf("datastore %s: %s cannot be reached", datastore, database)
	if cause != "" {
		msg += ": " + cause
	}
	return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: msg, Err: hidden{cause, err}}
}

// appendKey appends an encoding of v that tells apart values of different
// types, for deduplicating values and rows.
func appendKey(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'n', 0)
	case int64:
		b = append(b, 'i')
		b = strconv.AppendInt(b, x, 10)
	case float64:
		b = append(b, 'f')
		b = strconv.AppendUint(b, math.Float64bits(x), 16)
	case bool:
		b = append(b, 'b')
		b = strconv.AppendBool(b, x)
	case string:
		b = append(b, 's')
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		b = append(b, x...)
	case []byte:
		b = append(b, 'x')
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		b = append(b, x...)
	case time.Time:
		b = append(b, 't')
		b = strconv.AppendInt(b, x.Unix(), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(x.Nanosecond()), 10)
	default:
		b = fmt.Appendf(b, "?%T:%v", v, v)
	}
	return append(b, 0)
}
