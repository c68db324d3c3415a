package http

import (
	"net/netip"
	"strings"
)

// clientAddr returns the address of the client a public call comes from,
// the one rate limits count it against. It is the connection's remote
// address, unless that is one of the trusted proxies: then the
// X-Forwarded-For hops (forwarded: the header's values in order) are read
// from the right, each appended by the proxy that received it, and the
// first hop that is not a trusted proxy is the client. Anything to its
// left was written by the client itself and may be forged, so it is never
// used. A hop that does not parse ends the walk at the last proxy seen;
// when every hop is a trusted proxy, the left-most is the client. The
// zero Addr means the remote address itself did not parse.
func clientAddr(remote string, forwarded []string, trusted []netip.Prefix) netip.Addr {
	addr, ok := parseHop(remote)
	if !ok {
		return netip.Addr{}
	}
	if !isTrusted(addr, trusted) {
		return addr
	}
	for i := len(forwarded) - 1; i >= 0; i-- {
		hops := strings.Split(forwarded[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			if strings.TrimSpace(hops[j]) == "" {
				continue // "a, , b" and a trailing comma: no hop
			}
			hop, ok := parseHop(hops[j])
			if !ok {
				return addr
			}
			addr = hop
			if !isTrusted(addr, trusted) {
				return addr
			}
		}
	}
	return addr
}

// parseHop reads an address as remote addresses and X-Forwarded-For hops
// write it: 192.0.2.1, 192.0.2.1:1234, 2001:db8::1, [2001:db8::1]:1234.
// Zones are dropped and IPv4-mapped IPv6 addresses unmapped, so that one
// client has one form.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			// A bracketed address without a port: [2001:db8::1].
			if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
				return parseHop(s[1 : len(s)-1])
			}
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
