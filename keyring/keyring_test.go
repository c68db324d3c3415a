package keyring_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/store/postgres"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

type backend struct {
	name string
	// open returns a fresh store, and a function opening a second store on
	// the same database, as another process would.
	open func(t testing.TB) (lethe.Store, func(testing.TB) lethe.Store)
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t testing.TB) (lethe.Store, func(testing.TB) lethe.Store) {
			path := filepath.Join(t.TempDir(), "lethe.db")
			return openSQLite(t, path), func(t testing.TB) lethe.Store { return openSQLite(t, path) }
		}},
		{"postgres", func(t testing.TB) (lethe.Store, func(testing.TB) lethe.Store) {
			url := testenv.PostgresSchema(t)
			return openPostgres(t, url), func(t testing.TB) lethe.Store { return openPostgres(t, url) }
		}},
	}
}

// newKeyring returns a keyring that is closed when the test ends (before
// its store: cleanups run last-in first-out).
func newKeyring(t testing.TB, st lethe.Store, secrets *keyring.Secrets, opts keyring.Options) *keyring.Keyring {
	k := keyring.New(st, secrets, opts)
	t.Cleanup(func() { k.Close() })
	return k
}

func openSQLite(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t testing.TB, url string) lethe.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{URL: url})
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func forEachBackend(t *testing.T, fn func(t *testing.T, open func(testing.TB) lethe.Store)) {
	forEachBackendReopen(t, func(t *testing.T, open func(testing.TB) (lethe.Store, func(testing.TB) lethe.Store)) {
		fn(t, func(t testing.TB) lethe.Store { st, _ := open(t); return st })
	})
}

func forEachBackendReopen(t *testing.T, fn func(t *testing.T, open func(testing.TB) (lethe.Store, func(testing.TB) lethe.Store))) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.open)
		})
	}
}

func testSecrets(t testing.TB) *keyring.Secrets {
	t.Helper()
	s, err := keyring.GenerateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ref(t testing.TB, k *keyring.Keyring, userID string) lethe.SubjectRef {
	t.Helper()
	r, err := k.SubjectRef(lethe.Identity{Type: lethe.IdentityUserID, Value: userID})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func errCode(t testing.TB, err error) lethe.Code {
	t.Helper()
	var e *lethe.Error
	if !errors.As(err, &e) {
		if err == nil {
			return ""
		}
		t.Fatalf("error %v is not a *lethe.Error", err)
	}
	return e.Code
}

func TestSubjectRef(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "lethe.db"))
	secrets := testSecrets(t)
	k := newKeyring(t, st, secrets, keyring.Options{})
	get := func(typ lethe.IdentityType, v string) lethe.SubjectRef {
		t.Helper()
		r, err := k.SubjectRef(lethe.Identity{Type: typ, Value: v})
		if err != nil {
			t.Fatalf("%s %q: %v", typ, v, err)
		}
		return r
	}
	jane := get(lethe.IdentityEmail, "jane@example.com")
	mac := hmac.New(sha256.New, secrets.RefKey[:])
	mac.Write([]byte("email:jane@example.com"))
	if want := lethe.SubjectRef(mac.Sum(nil)); jane != want {
		t.Errorf("SubjectRef = %s, want HMAC-SHA256(RefKey, \"email:jane@example.com\") = %s", jane, want)
	}
	for _, tc := range []struct {
		name  string
		typ   lethe.IdentityType
		value string
		same  bool
	}{
		{"spaces and case", lethe.IdentityEmail, " Jane@Example.COM ", true},
		{"another e-mail", lethe.IdentityEmail, "john@example.com", false},
		{"same value, another type", lethe.IdentityUserID, "jane@example.com", false},
		{"custom type", "crm_id", "jane@example.com", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := get(tc.typ, tc.value); (got == jane) != tc.same {
				t.Errorf("%s %q: same reference as jane@example.com = %v, want %v", tc.typ, tc.value, got == jane, tc.same)
			}
		})
	}
	if get(lethe.IdentityPhone, "+49 (30) 123-456") != get(lethe.IdentityPhone, "+4930123456") {
		t.Error("phone spellings of one number give different references")
	}
	other := newKeyring(t, st, testSecrets(t), keyring.Options{})
	if r, _ := other.SubjectRef(lethe.Identity{Type: lethe.IdentityEmail, Value: "jane@example.com"}); r == jane {
		t.Error("another RefKey gives the same reference")
	}
	for _, id := range []lethe.Identity{{Type: lethe.IdentityEmail, Value: "not-an-email"}, {Type: lethe.IdentityUserID, Value: "  "}, {Type: "Bad Type", Value: "x"}} {
		if _, err := k.SubjectRef(id); errCode(t, err) != lethe.EINVALID {
			t.Errorf("%v: err = %v, want EINVALID", id, err)
		}
	}

	// Pooled HMAC states must not leak between concurrent callers.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				v := fmt.Sprintf("user-%d", (g*31+i)%50)
				mac := hmac.New(sha256.New, secrets.RefKey[:])
				mac.Write([]byte("user_id:" + v))
				if got := get(lethe.IdentityUserID, v); got != lethe.SubjectRef(mac.Sum(nil)) {
					t.Errorf("concurrent SubjectRef(%s) is wrong", v)
					return
				}
			}
		})
	}
	wg.Wait()
}

func cacheModes() []keyring.Options {
	return []keyring.Options{{}, {CacheKeys: true}}
}

func modeName(o keyring.Options) string {
	if o.CacheKeys {
		return "cached"
	}
	return "uncached"
}

func TestEncryptDecrypt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) lethe.Store) {
		st := open(t)
		secrets := testSecrets(t)
		for _, opts := range cacheModes() {
			t.Run(modeName(opts), func(t *testing.T) {
				ctx := context.Background()
				k := newKeyring(t, st, secrets, opts)
				jane, john := ref(t, k, "jane-"+modeName(opts)), ref(t, k, "john-"+modeName(opts))
				plain := []byte(`{"ip":"203.0.113.7","user_agent":"Firefox"}`)
				ad := []byte("consent-event:0190a2b4")

				ct, err := k.Encrypt(ctx, jane, plain, ad)
				if err != nil {
					t.Fatal(err)
				}
				if len(ct) != len(plain)+keyring.Overhead || ct[0] != 1 || binary.BigEndian.Uint32(ct[1:5]) != 1 {
					t.Errorf("ciphertext: %d bytes, version %d, generation %d; want %d, 1, 1", len(ct), ct[0], binary.BigEndian.Uint32(ct[1:5]), len(plain)+keyring.Overhead)
				}
				if bytes.Contains(ct, []byte("203.0.113.7")) {
					t.Error("the plaintext shows in the ciphertext")
				}
				ct2, err := k.Encrypt(ctx, jane, plain, ad)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(ct, ct2) {
					t.Error("two encryptions of the same plaintext are identical (nonce reused)")
				}
				got, err := k.Decrypt(ctx, jane, ct, ad)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("round trip: %q, %v", got, err)
				}
				// A second keyring (another process) decrypts it too.
				if got, err := newKeyring(t, st, secrets, keyring.Options{}).Decrypt(ctx, jane, ct2, ad); err != nil || !bytes.Equal(got, plain) {
					t.Errorf("another keyring with the same secrets: %q, %v", got, err)
				}
				if _, err := k.Encrypt(ctx, john, []byte("john's"), nil); err != nil {
					t.Fatal(err)
				}

				flipped := bytes.Clone(ct)
				flipped[len(flipped)-1] ^= 1
				for _, tc := range []struct {
					name string
					ref  lethe.SubjectRef
					ct   []byte
					ad   []byte
					code lethe.Code
				}{
					{"other associated data", jane, ct, []byte("consent-event:0190a2b5"), lethe.EINVALID},
					{"no associated data", jane, ct, nil, lethe.EINVALID},
					{"other subject with a key", john, ct, ad, lethe.EINVALID},
					{"subject without a key", ref(t, k, "nobody"), ct, ad, lethe.EINVALID},
					{"altered", jane, flipped, ad, lethe.EINVALID},
					{"truncated", jane, ct[:keyring.Overhead-1], ad, lethe.EINVALID},
					{"empty", jane, nil, ad, lethe.EINVALID},
					{"other version", jane, append([]byte{2}, ct[1:]...), ad, lethe.EINVALID},
					{"generation 0", jane, append([]byte{1, 0, 0, 0, 0}, ct[5:]...), ad, lethe.EINVALID},
					{"zero subject", lethe.SubjectRef{}, ct, ad, lethe.EINVALID},
				} {
					got, err := k.Decrypt(ctx, tc.ref, tc.ct, tc.ad)
					if code := errCode(t, err); code != tc.code || got != nil {
						t.Errorf("%s: %q, err %v; want %s", tc.name, got, err, tc.code)
					}
				}
				if _, err := k.Encrypt(ctx, lethe.SubjectRef{}, plain, nil); errCode(t, err) != lethe.EINVALID {
					t.Errorf("encrypt for the zero subject: err = %v, want EINVALID", err)
				}
				// Every single-byte change is caught.
				for i := range ct {
					c := bytes.Clone(ct)
					c[i] ^= 0x80
					if _, err := k.Decrypt(ctx, jane, c, ad); err == nil {
						t.Errorf("byte %d altered: decrypted", i)
					}
				}
			})
		}
	})
}

func TestShred(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) lethe.Store) {
		st := open(t)
		secrets := testSecrets(t)
		for _, opts := range cacheModes() {
			t.Run(modeName(opts), func(t *testing.T) {
				ctx := context.Background()
				k := newKeyring(t, st, secrets, opts)
				jane, john := ref(t, k, "jane-"+modeName(opts)), ref(t, k, "john-"+modeName(opts))
				old, err := k.Encrypt(ctx, jane, []byte("evidence 1"), []byte("ad"))
				if err != nil {
					t.Fatal(err)
				}
				johns, err := k.Encrypt(ctx, john, []byte("john's evidence"), nil)
				if err != nil {
					t.Fatal(err)
				}
				// Warm the cache: the shred must still win.
				if _, err := k.Decrypt(ctx, jane, old, []byte("ad")); err != nil {
					t.Fatal(err)
				}
				head, err := st.AuditHead(ctx)
				if err != nil {
					t.Fatal(err)
				}

				n, err := k.Shred(ctx, jane, "api:dpo")
				if err != nil || n != 1 {
					t.Fatalf("shred: %d keys, %v; want 1", n, err)
				}
				_, err = k.Decrypt(ctx, jane, old, []byte("ad"))
				var lerr *lethe.Error
				if !errors.As(err, &lerr) || lerr.Code != lethe.ESHREDDED || lerr.Message != "the subject's key was shredded; this data is erased" {
					t.Fatalf("decrypt after shred: err = %v, want ESHREDDED", err)
				}
				if got, err := k.Decrypt(ctx, john, johns, nil); err != nil || string(got) != "john's evidence" {
					t.Errorf("another subject after the shred: %q, %v", got, err)
				}
				var shredEntry *lethe.AuditEntry
				if err := st.AuditEntries(ctx, head.Size, head.Size+10, func(e lethe.AuditEntry) error {
					if e.Action == "subject.key_shredded" {
						shredEntry = &e
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if shredEntry == nil || shredEntry.Actor != "api:dpo" || shredEntry.SubjectRef != jane {
					t.Errorf("audit entry of the shred = %+v", shredEntry)
				}

				if n, err := k.Shred(ctx, jane, "api:dpo"); err != nil || n != 0 {
					t.Errorf("second shred: %d keys, %v; want 0", n, err)
				}

				// New data for the same subject gets generation 2.
				fresh, err := k.Encrypt(ctx, jane, []byte("evidence 2"), nil)
				if err != nil {
					t.Fatal(err)
				}
				if gen := binary.BigEndian.Uint32(fresh[1:5]); gen != 2 {
					t.Errorf("new data after a shred sealed with generation %d, want 2", gen)
				}
				if got, err := k.Decrypt(ctx, jane, fresh, nil); err != nil || string(got) != "evidence 2" {
					t.Errorf("generation 2: %q, %v", got, err)
				}
				if _, err := k.Decrypt(ctx, jane, old, []byte("ad")); errCode(t, err) != lethe.ESHREDDED {
					t.Errorf("generation 1 after generation 2 was created: err = %v, want ESHREDDED", err)
				}
				if key, err := st.SubjectKeyGet(ctx, jane, 1); err != nil || key.Wrapped != nil || key.ShreddedAt == nil {
					t.Errorf("stored generation 1 = %+v, %v; want no material and a shred time", key, err)
				}

				for _, tc := range []struct {
					name  string
					ref   lethe.SubjectRef
					actor string
				}{{"zero subject", lethe.SubjectRef{}, "cli"}, {"no actor", jane, ""}} {
					if _, err := k.Shred(ctx, tc.ref, tc.actor); errCode(t, err) != lethe.EINVALID {
						t.Errorf("%s: err = %v, want EINVALID", tc.name, err)
					}
				}
			})
		}
	})
}

// A cached key survives a shred the change feed does not report until
// Forget: exactly why caching needs the feed. SQLite's feed does not
// report commits made through the same Store (they are this process's own,
// and its callers forget what they change), which gives the test a shred
// the cache cannot hear about.
func TestForget(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t, filepath.Join(t.TempDir(), "lethe.db"))
	secrets := testSecrets(t)
	cached := newKeyring(t, st, secrets, keyring.Options{CacheKeys: true})
	other := newKeyring(t, st, secrets, keyring.Options{})
	jane, john := ref(t, cached, "jane"), ref(t, cached, "john")
	cts := map[lethe.SubjectRef][]byte{}
	for _, r := range []lethe.SubjectRef{jane, john} {
		ct, err := cached.Encrypt(ctx, r, []byte("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		cts[r] = ct
	}
	for _, r := range []lethe.SubjectRef{jane, john} {
		if _, err := other.Shred(ctx, r, "cli"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cached.Decrypt(ctx, jane, cts[jane], nil); err != nil {
		t.Fatalf("cached key before Forget: %v (the cache was not used?)", err)
	}
	cached.Forget(jane)
	if _, err := cached.Decrypt(ctx, jane, cts[jane], nil); errCode(t, err) != lethe.ESHREDDED {
		t.Errorf("after Forget: err = %v, want ESHREDDED", err)
	}
	if _, err := cached.Decrypt(ctx, john, cts[john], nil); err != nil {
		t.Fatalf("Forget(jane) dropped john's key: %v", err)
	}
	cached.ForgetAll()
	if _, err := cached.Decrypt(ctx, john, cts[john], nil); errCode(t, err) != lethe.ESHREDDED {
		t.Errorf("after ForgetAll: err = %v, want ESHREDDED", err)
	}
}

// A shred made by another process (another Store on the same database)
// reaches a caching keyring through the store's change feed.
func TestCacheFollowsChangeFeed(t *testing.T) {
	forEachBackendReopen(t, func(t *testing.T, open func(testing.TB) (lethe.Store, func(testing.TB) lethe.Store)) {
		ctx := context.Background()
		st, reopen := open(t)
		secrets := testSecrets(t)
		cached := newKeyring(t, st, secrets, keyring.Options{CacheKeys: true})
		jane := ref(t, cached, "jane")
		ct, err := cached.Encrypt(ctx, jane, []byte("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cached.Decrypt(ctx, jane, ct, nil); err != nil {
			t.Fatal(err)
		}
		elsewhere := newKeyring(t, reopen(t), secrets, keyring.Options{})
		if n, err := elsewhere.Shred(ctx, jane, "cli"); err != nil || n != 1 {
			t.Fatalf("shred in the other process: %d, %v", n, err)
		}
		// The feed is asynchronous: wait for it, bounded.
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := cached.Decrypt(ctx, jane, ct, nil)
			if errCode(t, err) == lethe.ESHREDDED {
				break
			}
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			if time.Now().After(deadline) {
				t.Fatal("the caching keyring still decrypts 20s after another process shredded the subject")
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Closed, it reads the store every time.
		if err := cached.Close(); err != nil {
			t.Fatal(err)
		}
		fresh, err := cached.Encrypt(ctx, jane, []byte("y"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := cached.Decrypt(ctx, jane, fresh, nil); err != nil || string(got) != "y" {
			t.Errorf("after Close: %q, %v", got, err)
		}
	})
}

func TestConcurrentFirstEncrypt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) lethe.Store) {
		ctx := context.Background()
		st := open(t)
		secrets := testSecrets(t)
		jane := ref(t, newKeyring(t, st, secrets, keyring.Options{}), "jane")
		const n = 8
		var (
			wg  sync.WaitGroup
			cts [n][]byte
			ers [n]error
		)
		for i := range n {
			// Separate keyrings: separate processes racing to create the key.
			k := newKeyring(t, st, secrets, keyring.Options{CacheKeys: i%2 == 0})
			wg.Go(func() { cts[i], ers[i] = k.Encrypt(ctx, jane, []byte(fmt.Sprint(i)), nil) })
		}
		wg.Wait()
		k := newKeyring(t, st, secrets, keyring.Options{})
		for i := range n {
			if ers[i] != nil {
				t.Fatalf("encrypt %d: %v", i, ers[i])
			}
			if got, err := k.Decrypt(ctx, jane, cts[i], nil); err != nil || string(got) != fmt.Sprint(i) {
				t.Errorf("encrypt %d: decrypts to %q, %v", i, got, err)
			}
		}
		if _, err := st.SubjectKeyGet(ctx, jane, 2); errCode(t, err) != lethe.ENOTFOUND {
			t.Errorf("racing first encryptions made a second key generation (err %v)", err)
		}
	})
}

// TestSealingKey: a new subject's key comes unstored, seals data that
// opens once the key is stored with it (here by ConsentAppend, in the same
// transaction), and is then the subject's active key; a subject with a key
// gets that key; after a shred, the next generation comes unstored.
func TestSealingKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) lethe.Store) {
		ctx := context.Background()
		st := open(t)
		secrets := testSecrets(t)
		k := newKeyring(t, st, secrets, keyring.Options{CacheKeys: true})
		jane := ref(t, k, "jane")

		sk, err := k.SealingKey(ctx, jane)
		if err != nil {
			t.Fatal(err)
		}
		nk := sk.Unstored()
		if nk == nil || nk.SubjectRef != jane || nk.Generation != 1 || len(nk.Wrapped) == 0 {
			t.Fatalf("new subject's sealing key: unstored %+v, want generation 1 with material", nk)
		}
		if _, err := st.SubjectKeyLatest(ctx, jane); errCode(t, err) != lethe.ENOTFOUND {
			t.Fatalf("SealingKey stored a key by itself (err %v)", err)
		}
		ct, err := sk.Encrypt([]byte("evidence"), []byte("event-1"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Decrypt(ctx, jane, ct, []byte("event-1")); errCode(t, err) != lethe.EINVALID {
			t.Fatalf("decrypt before the key is stored: %v, want EINVALID", err)
		}
		appendWith := func(key *lethe.SubjectKey) error {
			id := uuid.Must(uuid.NewV7())
			e := lethe.ConsentEvent{ID: id, SubjectRef: jane, Purpose: "p", Granted: true, PolicyVersion: "v1", Mechanism: "test",
				Jurisdiction: lethe.GDPR, Source: "test", RecordedAt: time.Now().UTC().Truncate(time.Microsecond), Evidence: ct}
			_, err := st.ConsentAppend(ctx, []lethe.ConsentEvent{e}, nil, key)
			return err
		}
		if err := appendWith(nk); err != nil {
			t.Fatalf("append with the new key: %v", err)
		}
		k.Stored(sk)
		// Another process (no shared cache) opens it from the store.
		other := newKeyring(t, st, secrets, keyring.Options{})
		for name, kr := range map[string]*keyring.Keyring{"same keyring": k, "other keyring": other} {
			if got, err := kr.Decrypt(ctx, jane, ct, []byte("event-1")); err != nil || string(got) != "evidence" {
				t.Fatalf("%s: decrypt after the key was stored = %q, %v", name, got, err)
			}
		}
		// A second, racing new key for the same subject is refused.
		if err := appendWith(&lethe.SubjectKey{SubjectRef: jane, Generation: 1, Wrapped: nk.Wrapped}); errCode(t, err) != lethe.ECONFLICT {
			t.Fatalf("append with a second first key: %v, want ECONFLICT", err)
		}

		for name, kr := range map[string]*keyring.Keyring{"same keyring": k, "other keyring": other} {
			again, err := kr.SealingKey(ctx, jane)
			if err != nil || again.Unstored() != nil {
				t.Fatalf("%s: sealing key of a subject with a key: unstored %+v, %v; want the stored key", name, again.Unstored(), err)
			}
			ct2, err := again.Encrypt([]byte("more"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := other.Decrypt(ctx, jane, ct2, nil); err != nil || string(got) != "more" {
				t.Fatalf("%s: decrypt = %q, %v", name, got, err)
			}
		}

		if _, err := k.Shred(ctx, jane, "test"); err != nil {
			t.Fatal(err)
		}
		next, err := k.SealingKey(ctx, jane)
		if err != nil {
			t.Fatal(err)
		}
		if nk := next.Unstored(); nk == nil || nk.Generation != 2 {
			t.Fatalf("sealing key after a shred: unstored %+v, want generation 2", nk)
		}
		if _, err := k.SealingKey(ctx, lethe.SubjectRef{}); errCode(t, err) != lethe.EINVALID {
			t.Fatalf("sealing key for a zero reference: %v, want EINVALID", err)
		}
	})
}

// countingStore counts the key reads a keyring makes.
type countingStore struct {
	lethe.Store
	latest atomic.Int64
}

func (c *countingStore) SubjectKeyLatest(ctx context.Context, ref lethe.SubjectRef) (lethe.SubjectKey, error) {
	c.latest.Add(1)
	return c.Store.SubjectKeyLatest(ctx, ref)
}

func (c *countingStore) SubjectChanges(ctx context.Context) (<-chan lethe.SubjectRef, error) {
	return c.Store.(lethe.ChangeFeed).SubjectChanges(ctx)
}

func (c *countingStore) SubjectKeyChanges(ctx context.Context) (<-chan lethe.SubjectRef, error) {
	return c.Store.(keyring.KeyChangeFeed).SubjectKeyChanges(ctx)
}

// TestCacheKeepsKeysAcrossConsentAppends: on PostgreSQL every consent
// append is announced on the change feed; a caching keyring follows only
// key changes, so the subject's key stays cached and the next consent
// costs no key read. A shred still reaches it.
func TestCacheKeepsKeysAcrossConsentAppends(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: openPostgres(t, testenv.PostgresSchema(t))}
	var _ keyring.KeyChangeFeed = st.Store.(*postgres.Store)
	k := newKeyring(t, st, testSecrets(t), keyring.Options{CacheKeys: true})
	jane, bob := ref(t, k, "jane"), ref(t, k, "bob")
	appendFor := func(who lethe.SubjectRef) {
		t.Helper()
		sk, err := k.SealingKey(ctx, who)
		if err != nil {
			t.Fatal(err)
		}
		id := uuid.Must(uuid.NewV7())
		ct, err := sk.Encrypt([]byte("evidence"), id[:])
		if err != nil {
			t.Fatal(err)
		}
		e := lethe.ConsentEvent{ID: id, SubjectRef: who, Purpose: "p", Granted: true, PolicyVersion: "v1", Mechanism: "test",
			Jurisdiction: lethe.GDPR, Source: "test", RecordedAt: time.Now().UTC().Truncate(time.Microsecond), Evidence: ct}
		if _, err := st.ConsentAppend(ctx, []lethe.ConsentEvent{e}, nil, sk.Unstored()); err != nil {
			t.Fatal(err)
		}
		k.Stored(sk)
	}
	appendFor(jane)
	appendFor(bob)
	ct, err := k.Encrypt(ctx, bob, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Shred bob behind the keyring's back; once it has forgotten him, it has also
	// seen (and skipped) the earlier notifications of jane's and bob's
	// appends: PostgreSQL delivers them in commit order.
	if _, err := st.Store.SubjectKeyShred(ctx, bob, time.Now().Add(time.Hour), lethe.AuditRecord{Actor: "test", Action: "subject.key_shredded", SubjectRef: bob}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := k.Decrypt(ctx, bob, ct, nil); errCode(t, err) == lethe.ESHREDDED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the keyring still decrypts for bob 20s after the shred")
		}
		time.Sleep(20 * time.Millisecond)
	}
	reads := st.latest.Load()
	appendFor(jane)
	if got := st.latest.Load(); got != reads {
		t.Fatalf("the next consent for jane read her key %d more times, want 0 (cached)", got-reads)
	}
}

func TestReshredKeepsKeysCreatedAfter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) lethe.Store) {
		ctx := context.Background()
		st := open(t)
		k := newKeyring(t, st, testSecrets(t), keyring.Options{CacheKeys: true})
		jane := ref(t, k, "jane")
		before := time.Now().Add(-time.Hour)
		ct, err := k.Encrypt(ctx, jane, []byte("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		head, err := st.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, err := k.Reshred(ctx, []lethe.SubjectShred{{SubjectRef: jane, ShreddedAt: before}, {SubjectRef: ref(t, k, "never-seen"), ShreddedAt: time.Now()}})
		if err != nil || n != 0 {
			t.Fatalf("reshred of a shred older than the key: %d, %v; want 0", n, err)
		}
		if after, _ := st.AuditHead(ctx); after.Size != head.Size {
			t.Errorf("reshred with nothing to destroy appended %d audit entries", after.Size-head.Size)
		}
		if _, err := k.Decrypt(ctx, jane, ct, nil); err != nil {
			t.Fatalf("key created after the shred was destroyed: %v", err)
		}
		n, err = k.Reshred(ctx, []lethe.SubjectShred{{SubjectRef: jane, ShreddedAt: time.Now().Add(time.Hour)}})
		if err != nil || n != 1 {
			t.Fatalf("reshred of a newer shred: %d, %v; want 1", n, err)
		}
		if _, err := k.Decrypt(ctx, jane, ct, nil); errCode(t, err) != lethe.ESHREDDED {
			t.Errorf("after reshred: err = %v, want ESHREDDED", err)
		}
	})
}

// The backup story end to end: a backup taken before a shred still holds
// the key; restoring it and re-applying the exported shreds destroys it
// again, and only it.
func TestReshredRestoredBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	secrets := testSecrets(t)
	live := openSQLite(t, filepath.Join(dir, "lethe.db"))
	k := newKeyring(t, live, secrets, keyring.Options{CacheKeys: true})
	jane, john := ref(t, k, "jane"), ref(t, k, "john")
	janes, err := k.Encrypt(ctx, jane, []byte("jane's evidence"), nil)
	if err != nil {
		t.Fatal(err)
	}
	johns, err := k.Encrypt(ctx, john, []byte("john's evidence"), nil)
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if _, err := live.DB().ExecContext(ctx, `VACUUM INTO ?`, backup); err != nil {
		t.Fatalf("back up: %v", err)
	}
	if _, err := k.Shred(ctx, jane, "cli"); err != nil {
		t.Fatal(err)
	}
	shreds, err := live.SubjectShredList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := keyring.WriteShreds(&file, shreds); err != nil {
		t.Fatal(err)
	}
	live.Close()

	restored := openSQLite(t, backup)
	kr := newKeyring(t, restored, secrets, keyring.Options{CacheKeys: true})
	if got, err := kr.Decrypt(ctx, jane, janes, nil); err != nil || string(got) != "jane's evidence" {
		t.Fatalf("the backup should still hold jane's key (the window): %q, %v", got, err)
	}
	list, err := keyring.ReadShreds(&file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := kr.Reshred(ctx, list)
	if err != nil || n != 1 {
		t.Fatalf("reshred: %d keys, %v; want 1", n, err)
	}
	_, err = kr.Decrypt(ctx, jane, janes, nil)
	var lerr *lethe.Error
	if !errors.As(err, &lerr) || lerr.Code != lethe.ESHREDDED {
		t.Errorf("jane after reshred: err = %v, want ESHREDDED", err)
	}
	if got, err := kr.Decrypt(ctx, john, johns, nil); err != nil || string(got) != "john's evidence" {
		t.Errorf("john after reshred: %q, %v", got, err)
	}
	if n, err := kr.Reshred(ctx, list); err != nil || n != 0 {
		t.Errorf("second reshred: %d, %v; want 0", n, err)
	}
	restoredShreds, err := restored.SubjectShredList(ctx)
	if err != nil || len(restoredShreds) != 1 || restoredShreds[0].SubjectRef != jane {
		t.Errorf("restored store's shred records = %v, %v; want jane's", restoredShreds, err)
	}
}

func TestUnwrapWithAnotherMasterKey(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t, filepath.Join(t.TempDir(), "lethe.db"))
	secrets := testSecrets(t)
	k := newKeyring(t, st, secrets, keyring.Options{})
	jane := ref(t, k, "jane")
	ct, err := k.Encrypt(ctx, jane, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	wrong := *secrets
	wrong.MasterKey[0] ^= 1
	_, err = newKeyring(t, st, &wrong, keyring.Options{}).Decrypt(ctx, jane, ct, nil)
	if errCode(t, err) != lethe.EINTERNAL {
		t.Errorf("decrypt with another master key: err = %v, want EINTERNAL", err)
	}
}
