package mask_test

import (
	"testing"
	"time"
)

func TestTruncateIP(t *testing.T) {
	t.Parallel()
	runApply(t, "truncate.ip", []applyCase{
		{"nil", nil, nil, false},
		{"IPv4", "192.0.2.55", "192.0.2.0", false},
		{"IPv4 network address", "192.0.2.0", "192.0.2.0", false},
		{"IPv4 last octet only", "10.1.2.255", "10.1.2.0", false},
		{"IPv4 with spaces", " 192.0.2.55 ", "192.0.2.0", false},
		{"IPv6 to /48", "2001:db8:1234:5678:9abc:def0:1234:5678", "2001:db8:1234::", false},
		{"IPv6 short", "2001:db8::1", "2001:db8::", false},
		{"IPv6 loopback", "::1", "::", false},
		{"IPv6 zone dropped", "fe80::1:2:3%eth0", "fe80::", false},
		{"IPv4-mapped stays mapped, /24", "::ffff:192.0.2.55", "::ffff:192.0.2.0", false},
		{"IPv4 prefix longer than /24", "192.0.2.55/32", "192.0.2.0/24", false},
		{"IPv4 prefix shorter than /24", "10.1.2.3/16", "10.1.0.0/16", false},
		{"IPv6 prefix", "2001:db8:1:2::/64", "2001:db8:1::/48", false},
		{"IPv6 prefix shorter than /48", "2001:db8::/32", "2001:db8::/32", false},
		{"empty stays empty", "", "", false},
		{"bytes holding text", []byte("192.0.2.55"), []byte("192.0.2.0"), false},
		{"4 raw bytes", []byte{192, 0, 2, 55}, []byte{192, 0, 2, 0}, false},
		{"16 raw bytes", []byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6},
			[]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false},
		{"16 raw bytes v4-mapped", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 55},
			[]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 0}, false},
		{"IPv4 integer (INET_ATON)", int64(3221226039), int64(3221225984), false}, // 192.0.2.55 -> 192.0.2.0
		{"invalid: e-mail", "jane@example.com", nil, true},
		{"invalid: octet out of range", "192.0.2.256", nil, true},
		{"invalid: leading zeros", "192.0.02.55", nil, true},
		{"invalid: host name", "localhost", nil, true},
		{"invalid: prefix length", "192.0.2.0/33", nil, true},
		{"invalid: 5 raw bytes", []byte{1, 2, 3, 4, 5}, nil, true},
		{"invalid: negative integer", int64(-1), nil, true},
		{"invalid: integer above IPv4", int64(1) << 32, nil, true},
		{"invalid: float", 1.5, nil, true},
		{"invalid: time", time.Now(), nil, true},
	})
}

func TestTruncateDate(t *testing.T) {
	t.Parallel()
	plus2 := time.FixedZone("", 2*3600)
	month := []applyCase{
		{"nil", nil, nil, false},
		{"time UTC", time.Date(2024, 5, 17, 10, 20, 30, 123, time.UTC), time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), false},
		{"time keeps its location", time.Date(2024, 5, 17, 10, 20, 30, 0, paris), time.Date(2024, 5, 1, 0, 0, 0, 0, paris), false},
		{"time on the first already", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), false},
		{"date", "2024-05-17", "2024-05-01", false},
		{"date bytes", []byte("2024-05-17"), []byte("2024-05-01"), false},
		{"RFC 3339", "2024-05-17T10:20:30Z", "2024-05-01T00:00:00Z", false},
		{"RFC 3339 with fraction and offset", "2024-05-17T10:20:30.123456+02:00", "2024-05-01T00:00:00+02:00", false},
		{"SQL datetime", "2024-05-17 10:20:30", "2024-05-01 00:00:00", false},
		{"PostgreSQL timestamptz text", "2024-05-17 10:20:30.5+02", "2024-05-01 00:00:00+02", false},
		{"offset without colon", "2024-05-17T10:20:30-0430", "2024-05-01T00:00:00-0430", false},
		{"leap day", "2024-02-29", "2024-02-01", false},
		{"empty stays empty", "", "", false},
		{"invalid: not a date", "yesterday", nil, true},
		{"invalid: day 30 in February", "2024-02-30", nil, true},
		{"invalid: month 13", "2024-13-01", nil, true},
		{"invalid: hour 24", "2024-05-17T24:00:00Z", nil, true},
		{"invalid: bad offset", "2024-05-17T10:20:30+2", nil, true},
		{"invalid: trailing text", "2024-05-17x", nil, true},
		{"invalid: day first", "17/05/2024", nil, true},
		{"invalid: int", int64(1715941230), nil, true},
		{"invalid: bool", true, nil, true},
	}
	runApply(t, "truncate.date.month", month)
	runApply(t, "truncate.date", month)
	runApply(t, "truncate.date.year", []applyCase{
		{"time", time.Date(2024, 5, 17, 10, 20, 30, 0, plus2), time.Date(2024, 1, 1, 0, 0, 0, 0, plus2), false},
		{"date", "2024-05-17", "2024-01-01", false},
		{"RFC 3339", "2024-05-17T10:20:30+02:00", "2024-01-01T00:00:00+02:00", false},
		{"SQL datetime bytes", []byte("2024-12-31 23:59:59"), []byte("2024-01-01 00:00:00"), false},
		{"invalid", "2024", nil, true},
	})
}
