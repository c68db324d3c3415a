package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lethe-privacy/lethe"
)

// unavailable turns a client error into EUNAVAILABLE, or returns the
// context's error when ctx is done. The message names the operation and
// the kind of failure only: a dial error names the address, and Redis
// echoes a command's arguments (keys that hold identities) in some
// replies, so neither reaches the message.
func (c *Connector) unavailable(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", op, cerr)
	}
	where := "redis"
	if c.name != "" {
		where = "redis datastore " + c.name
	}
	return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: fmt.Sprintf("%s: %s: %s", where, op, failure(err))}
}

// failure names the kind of a client error without its text.
func failure(err error) string {
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		// A reply error starts with its code (ERR, WRONGTYPE, NOAUTH...);
		// the rest may quote the command.
		code, _, _ := strings.Cut(rerr.Error(), " ")
		code = strings.TrimPrefix(code, "redis:")
		switch code {
		case "NOAUTH", "WRONGPASS":
			return "the server refused the credentials (" + code + ")"
		case "NOPERM":
			return "the server's ACL does not allow the command (NOPERM)"
		}
		if code == "" || strings.IndexFunc(code, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			return "the server replied with an error"
		}
		return "the server replied " + code
	}
	var nerr net.Error
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.Is(err, goredis.ErrClosed):
		return "the connector is closed"
	case errors.Is(err, goredis.ErrPoolTimeout):
		return "no connection free in the pool in time"
	case errors.As(err, &dnsErr):
		return "the host name does not resolve"
	case errors.As(err, &certErr):
		return "the server's TLS certificate is not trusted"
	case errors.As(err, &recordErr):
		return "the server does not speak TLS"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &nerr) && nerr.Timeout():
		return "timed out"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "the server closed the connection"
	}
	return "network error"
}
