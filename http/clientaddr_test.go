package http

import (
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.0.2.10/32")}
	for _, tc := range []struct {
		name      string
		remote    string
		forwarded []string
		trusted   []netip.Prefix
		want      string // "" for the zero Addr
	}{
		{name: "direct client", remote: "198.51.100.7:4242", want: "198.51.100.7"},
		{name: "untrusted peer's header is ignored", remote: "198.51.100.7:4242", forwarded: []string{"203.0.113.9"}, trusted: proxies, want: "198.51.100.7"},
		{name: "no proxies configured: header ignored", remote: "10.1.2.3:80", forwarded: []string{"203.0.113.9"}, want: "10.1.2.3"},
		{name: "trusted proxy names the client", remote: "10.1.2.3:80", forwarded: []string{"203.0.113.9"}, trusted: proxies, want: "203.0.113.9"},
		{name: "forged left-most hops are not used", remote: "10.1.2.3:80", forwarded: []string{"1.1.1.1, 203.0.113.9"}, trusted: proxies, want: "203.0.113.9"},
		{name: "chain of trusted proxies", remote: "10.1.2.3:80", forwarded: []string{"198.51.100.1, 203.0.113.9, 10.9.9.9, 192.0.2.10"}, trusted: proxies, want: "203.0.113.9"},
		{name: "several headers read as one list", remote: "10.1.2.3:80", forwarded: []string{"1.1.1.1, 203.0.113.9", "10.9.9.9"}, trusted: proxies, want: "203.0.113.9"},
		{name: "every hop trusted: the left-most", remote: "10.1.2.3:80", forwarded: []string{"10.5.5.5, 10.9.9.9"}, trusted: proxies, want: "10.5.5.5"},
		{name: "trusted proxy without header", remote: "10.1.2.3:80", trusted: proxies, want: "10.1.2.3"},
		{name: "garbage hop stops at the last proxy", remote: "10.1.2.3:80", forwarded: []string{"203.0.113.9, not-an-ip, 10.9.9.9"}, trusted: proxies, want: "10.9.9.9"},
		{name: "empty hops skipped", remote: "10.1.2.3:80", forwarded: []string{"203.0.113.9, ,"}, trusted: proxies, want: "203.0.113.9"},
		{name: "hop with a port", remote: "10.1.2.3:80", forwarded: []string{"203.0.113.9:5555"}, trusted: proxies, want: "203.0.113.9"},
		{name: "IPv6 peer", remote: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "IPv6 hop behind an IPv6 proxy", remote: "[fd00::5]:443", forwarded: []string{"[2001:db8:1:2::7]:1234"}, trusted: proxies, want: "2001:db8:1:2::7"},
		{name: "bracketed IPv6 hop", remote: "[fd00::5]:443", forwarded: []string{"[2001:db8::7]"}, trusted: proxies, want: "2001:db8::7"},
		{name: "IPv4-mapped peer is unmapped and trusted", remote: "[::ffff:10.1.2.3]:80", forwarded: []string{"203.0.113.9"}, trusted: proxies, want: "203.0.113.9"},
		{name: "zone dropped", remote: "[fe80::1%eth0]:80", want: "fe80::1"},
		{name: "unparseable remote", remote: "pipe", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := clientAddr(tc.remote, tc.forwarded, tc.trusted)
			if tc.want == "" {
				if got.IsValid() {
					t.Fatalf("clientAddr = %v, want none", got)
				}
				return
			}
			if got != netip.MustParseAddr(tc.want) {
				t.Fatalf("clientAddr = %v, want %s", got, tc.want)
			}
		})
	}
}

func FuzzClientAddr(f *testing.F) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Add("10.0.0.1:80", "203.0.113.9, 10.0.0.2")
	f.Add("[::1]:80", "[2001:db8::1]:1, ,")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		got := clientAddr(remote, []string{xff}, proxies)
		// Whatever the header says, an untrusted peer is its own client.
		if peer, ok := parseHop(remote); ok && !isTrusted(peer, proxies) && got != peer {
			t.Fatalf("untrusted peer %v became %v", peer, got)
		}
	})
}
