package keyring_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/keyring"
)

func TestShredsRoundTrip(t *testing.T) {
	shreds := []lethe.SubjectShred{
		{SubjectRef: lethe.SubjectRef{1, 2, 3}, ShreddedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{SubjectRef: lethe.SubjectRef{0xff}, ShreddedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.FixedZone("CET", 3600))},
	}
	var b bytes.Buffer
	if err := keyring.WriteShreds(&b, shreds); err != nil {
		t.Fatal(err)
	}
	want := "0102030000000000000000000000000000000000000000000000000000000000 2026-03-01T12:00:00Z\n" +
		"ff00000000000000000000000000000000000000000000000000000000000000 2026-03-01T11:00:00.123456Z\n"
	if b.String() != want {
		t.Errorf("written:\n%s\nwant:\n%s", b.String(), want)
	}
	got, err := keyring.ReadShreds(strings.NewReader("# exported by lethe subject shreds\n\n" + b.String() + "   \n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shreds, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("read back (-written +read):\n%s", diff)
	}
}

func TestReadShredsRejects(t *testing.T) {
	good := "0102030000000000000000000000000000000000000000000000000000000000 2026-03-01T12:00:00Z\n"
	for _, tc := range []struct {
		name, in string
		line     int
		msg      string
	}{
		{"one field", good + "0102\n", 2, "want a subject reference and a time"},
		{"three fields", "0102030000000000000000000000000000000000000000000000000000000000 2026-03-01T12:00:00Z extra\n", 1, "want a subject reference and a time"},
		{"short ref", "0102 2026-03-01T12:00:00Z\n", 1, "64 hex characters"},
		{"not hex", strings.Repeat("zz", 32) + " 2026-03-01T12:00:00Z\n", 1, "64 hex characters"},
		{"bad time", good + good[:65] + "yesterday\n", 2, "RFC 3339"},
		{"long line", good + strings.Repeat("a", 5000) + "\n", 2, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keyring.ReadShreds(strings.NewReader(tc.in))
			fields := lethe.ErrorFields(err)
			if lethe.ErrorCode(err) != lethe.EINVALID || len(fields) != 1 || fields[0].Line != tc.line || !strings.Contains(fields[0].Message, tc.msg) {
				t.Errorf("err = %v (fields %+v), want EINVALID on line %d about %q", err, fields, tc.line, tc.msg)
			}
		})
	}
}

func FuzzReadShreds(f *testing.F) {
	f.Add("0102030000000000000000000000000000000000000000000000000000000000 2026-03-01T12:00:00Z\n")
	f.Add("# comment\n\nff00000000000000000000000000000000000000000000000000000000000000 2026-03-01T11:00:00.123456+01:00")
	f.Add("0102 x\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := keyring.ReadShreds(strings.NewReader(in))
		if err != nil {
			if lethe.ErrorCode(err) != lethe.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		// What was read writes and reads back the same.
		var b bytes.Buffer
		if err := keyring.WriteShreds(&b, got); err != nil {
			t.Fatal(err)
		}
		again, err := keyring.ReadShreds(&b)
		if err != nil {
			t.Fatalf("re-reading what WriteShreds wrote: %v", err)
		}
		if len(again) != len(got) {
			t.Fatalf("%d records became %d", len(got), len(again))
		}
		for i := range got {
			if again[i].SubjectRef != got[i].SubjectRef || !again[i].ShreddedAt.Equal(got[i].ShreddedAt) {
				t.Fatalf("record %d changed: %v -> %v", i, got[i], again[i])
			}
		}
	})
}

// FuzzDecrypt feeds Decrypt arbitrary ciphertexts: it must never panic, and
// must only ever open what Encrypt sealed for that subject and data.
func FuzzDecrypt(f *testing.F) {
	ctx := context.Background()
	st := openSQLite(f, filepath.Join(f.TempDir(), "lethe.db"))
	secrets, err := keyring.GenerateSecrets()
	if err != nil {
		f.Fatal(err)
	}
	k := newKeyring(f, st, secrets, keyring.Options{CacheKeys: true})
	jane, err := k.SubjectRef(lethe.Identity{Type: lethe.IdentityUserID, Value: "jane"})
	if err != nil {
		f.Fatal(err)
	}
	plain, ad := []byte("jane's evidence"), []byte("ad")
	ct, err := k.Encrypt(ctx, jane, plain, ad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct, ad)
	f.Add(ct[:keyring.Overhead], ad)
	f.Add(append([]byte{1, 0, 0, 0, 9}, ct[5:]...), ad)
	f.Add(append([]byte{1, 0xff, 0xff, 0xff, 0xff}, ct[5:]...), ad)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1}, ad)
	f.Fuzz(func(t *testing.T, c, a []byte) {
		got, err := k.Decrypt(ctx, jane, c, a)
		if err != nil {
			if code := lethe.ErrorCode(err); code != lethe.EINVALID {
				t.Fatalf("error %v is %s, want EINVALID", err, code)
			}
			return
		}
		if !bytes.Equal(c, ct) || !bytes.Equal(a, ad) || !bytes.Equal(got, plain) {
			t.Fatalf("opened a ciphertext Encrypt did not produce: %x -> %q", c, got)
		}
	})
}
