package keyring

import (
	"bytes"
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/lethe-privacy/lethe"
)

// Options configures a Keyring.
type Options struct {
	// Clock stamps new keys and shreds. Defaults to lethe.SystemClock.
	Clock lethe.Clock
	// CacheKeys keeps unwrapped subject keys in memory (bounded, least
	// recently used out), saving a store read and an unwrap per call. It
	// takes effect only when the store implements lethe.ChangeFeed: New
	// then follows the feed (its key changes alone when the store is a
	// KeyChangeFeed) until Close, and forgets what other processes
	// changed, since a cached key keeps decrypting until it is forgotten.
	// Shreds made through this Keyring are forgotten at once. Defaults to
	// off.
	CacheKeys bool
	// CacheSize bounds the cache, in subjects. Defaults to 10,000.
	CacheSize int
	// GuessNewSubjects lets SealingKey skip the store read for a subject
	// whose key is not cached, and hand out a new key of generation 1
	// straight away, as if the subject were new. Most subjects a consent
	// ledger has not seen lately are new (a sign-up, a first visit), and
	// for them the read is a round trip that finds nothing. A guess that
	// was wrong is refused by the store (ECONFLICT) and costs a second
	// attempt: the caller must then call Refused, and the next SealingKey
	// reads. While more than a quarter of recent guesses are refused (a
	// long tail of returning subjects), it reads first, and guesses one
	// miss in 16 to notice when that changes. Defaults to off: callers
	// that do not call Refused must leave it off.
	GuessNewSubjects bool
}

// Keyring computes subject references and seals data with per-subject keys
// (envelope encryption: each subject's data key is wrapped by the master
// key and stored; shredding destroys it). It is safe for concurrent use.
type Keyring struct {
	store  lethe.SubjectKeyStore
	master cipher.AEAD
	clock  lethe.Clock
	refs   sync.Pool // of *refHasher

	cache *lru.Cache[lethe.SubjectRef, *subjectKeys] // nil without CacheKeys
	// mu orders cache inserts against Forget; epoch counts forgets, so a
	// key read from the store before a Forget is never cached after it.
	mu    sync.Mutex
	epoch atomic.Uint64

	guess *guesser // nil without GuessNewSubjects

	stop   context.CancelFunc // ends following the change feed; nil without
	done   chan struct{}
	closed atomic.Bool // set by Close: the cache is no longer used
}

// subjectKeys is one subject's cached keys. It is replaced, never changed,
// once in the cache.
type subjectKeys struct {
	active uint32 // the active generation, 0 when not known
	aeads  map[uint32]cipher.AEAD
}

type refHasher struct {
	mac hash.Hash
	buf []byte
	sum []byte
}

// Format of what Keyring produces.
const (
	ciphertextVersion = 1
	wrapVersion       = 1
	headerLen         = 1 + 4 // version, generation
	nonceLen          = 12
	tagLen            = 16
	keyLen            = 32
	wrappedLen        = 1 + nonceLen + keyLen + tagLen

	// Overhead is how many bytes Encrypt adds to the plaintext.
	Overhead = headerLen + nonceLen + tagLen
)

// Domain separation of the two AES-GCM uses.
var (
	wrapDomain = []byte("lethe/subject-key/v1\x00")
	dataDomain = []byte("lethe/subject-data/v1\x00")
)

// KeyChangeFeed is implemented by stores whose change feed can tell key
// changes apart from consent changes (store/postgres). A caching Keyring
// follows SubjectKeyChanges rather than lethe.ChangeFeed's SubjectChanges
// then, so that every consent append (which changes no key) does not evict
// the subject's key from the cache.
type KeyChangeFeed interface {
	// SubjectKeyChanges delivers the subjects whose keys were shredded by
	// any process, and the zero SubjectRef when changes may have been
	// missed ("drop everything"), until ctx ends.
	SubjectKeyChanges(ctx context.Context) (<-chan lethe.SubjectRef, error)
}

// New returns a Keyring over store with secrets. It panics when store or
// secrets is nil: that is a wiring mistake, not a runtime condition.
func New(store lethe.SubjectKeyStore, secrets *Secrets, opts Options) *Keyring {
	if store == nil || secrets == nil {
		panic("keyring: New needs a store and secrets")
	}
	block, err := aes.NewCipher(secrets.MasterKey[:])
	if err != nil {
		panic(fmt.Sprintf("keyring: master key: %v", err)) // a 32-byte key cannot fail
	}
	master, err := cipher.NewGCM(block)
	if err != nil {
		panic(fmt.Sprintf("keyring: master key: %v", err))
	}
	k := &Keyring{store: store, master: master, clock: cmp.Or[lethe.Clock](opts.Clock, lethe.SystemClock{})}
	if opts.GuessNewSubjects {
		k.guess = newGuesser()
	}
	refKey := secrets.RefKey
	k.refs.New = func() any {
		return &refHasher{mac: hmac.New(sha256.New, refKey[:]), buf: make([]byte, 0, 128), sum: make([]byte, 0, sha256.Size)}
	}
	if feed, ok := store.(lethe.ChangeFeed); ok && opts.CacheKeys {
		ctx, cancel := context.WithCancel(context.Background())
		subscribe := feed.SubjectChanges
		if kf, ok := store.(KeyChangeFeed); ok {
			subscribe = kf.SubjectKeyChanges
		}
		if changes, err := subscribe(ctx); err == nil {
			k.cache, _ = lru.New[lethe.SubjectRef, *subjectKeys](cmp.Or(opts.CacheSize, 10_000))
			k.stop, k.done = cancel, make(chan struct{})
			go k.follow(changes)
		} else {
			// Without the feed a cache could outlive a shred made
			// elsewhere: run uncached rather than fail.
			cancel()
		}
	}
	return k
}

// Close stops following the store's change feed and drops the cache. It
// does not close the store. The Keyring stays usable, uncached.
func (k *Keyring) Close() error {
	if k.stop != nil {
		k.stop()
		<-k.done
		k.closed.Store(true)
		k.ForgetAll()
	}
	return nil
}

// cached returns the cache, or nil when not caching.
func (k *Keyring) cached() *lru.Cache[lethe.SubjectRef, *subjectKeys] {
	if k.closed.Load() {
		return nil
	}
	return k.cache
}

func (k *Keyring) follow(changes <-chan lethe.SubjectRef) {
	defer close(k.done)
	for ref := range changes {
		if ref.IsZero() {
			k.ForgetAll()
		} else {
			k.Forget(ref)
		}
	}
}

// SubjectRef returns HMAC-SHA256(RefKey, type + ":" + normalised value) of
// the identity, so that every spelling lethe.Identity.Normalise treats as
// the same identity gives the same reference. It returns EINVALID for an
// identity Normalise rejects. It does no I/O and allocates nothing beyond
// normalisation: it sits on the consent-check hot path.
func (k *Keyring) SubjectRef(id lethe.Identity) (lethe.SubjectRef, error) {
	n, err := id.Normalise()
	if err != nil {
		return lethe.SubjectRef{}, err
	}
	h := k.refs.Get().(*refHasher)
	h.buf = append(h.buf[:0], n.Type...)
	h.buf = append(h.buf, ':')
	h.buf = append(h.buf, n.Value...)
	h.mac.Reset()
	h.mac.Write(h.buf)
	h.sum = h.mac.Sum(h.sum[:0])
	ref := lethe.SubjectRef(h.sum)
	// The buffer held an identity: do not leave it lying in the pool.
	clear(h.buf)
	k.refs.Put(h)
	return ref, nil
}

// Encrypt seals plaintext with the subject's active data key, creating the
// subject's key when it has none (the first key, or a new generation after
// a shred). The associated data is authenticated, not encrypted: Decrypt
// needs the same. The result is a version byte, the key generation (4
// bytes, big-endian), a random 12-byte nonce and the AES-256-GCM box; the
// box authenticates the subject reference, the version and generation and
// associatedData. It returns EINVALID for a zero reference.
func (k *Keyring) Encrypt(ctx context.Context, ref lethe.SubjectRef, plaintext, associatedData []byte) ([]byte, error) {
	if ref.IsZero() {
		return nil, lethe.FieldErrorf("subject_ref", "encrypting for a subject needs its reference")
	}
	aead, gen, err := k.activeKey(ctx, ref)
	if err != nil {
		return nil, err
	}
	return seal(aead, gen, ref, plaintext, associatedData)
}

// seal is Encrypt with a known key.
func seal(aead cipher.AEAD, gen uint32, ref lethe.SubjectRef, plaintext, associatedData []byte) ([]byte, error) {
	out := make([]byte, headerLen+nonceLen, headerLen+nonceLen+len(plaintext)+tagLen)
	out[0] = ciphertextVersion
	binary.BigEndian.PutUint32(out[1:headerLen], gen)
	nonce := out[headerLen:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt for subject: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, dataAAD(ref, out[:headerLen], associatedData)), nil
}

// SealingKey is one subject's data key, ready to seal new data with: the
// subject's active key, or a new key not stored yet (see
// Keyring.SealingKey). It is safe for concurrent use.
type SealingKey struct {
	ref      lethe.SubjectRef
	gen      uint32
	aead     cipher.AEAD
	epoch    uint64            // the keyring's forget count when the key was looked up
	unstored *lethe.SubjectKey // nil once stored
	guessed  bool              // a new key handed out without reading the store
}

// SealingKey returns the key to seal the subject's new data with: its
// active key, or, when it has none (a new subject, or one whose keys were
// all shredded), a new key of the next generation that is not stored yet.
// The caller stores SealingKey.Unstored in the same transaction as what it
// sealed (lethe.ConsentStore.ConsentAppend takes it), which spares a new
// subject a transaction of its own, and calls Stored once that committed.
// If the store refuses the key (ECONFLICT: a concurrent caller created the
// subject's key first), what was sealed with it must be discarded and
// sealed again with a fresh SealingKey, which finds the stored key: data
// sealed with a key that is never stored can never be decrypted.
//
// It returns EINVALID for a zero reference. With CacheKeys, a subject's
// active key costs no store read after the first use.
func (k *Keyring) SealingKey(ctx context.Context, ref lethe.SubjectRef) (*SealingKey, error) {
	if ref.IsZero() {
		return nil, lethe.FieldErrorf("subject_ref", "encrypting for a subject needs its reference")
	}
	if c := k.cached(); c != nil {
		if e, ok := c.Get(ref); ok && e.active != 0 {
			return &SealingKey{ref: ref, gen: e.active, aead: e.aeads[e.active]}, nil
		}
	}
	epoch := k.epoch.Load()
	if k.guess != nil && k.guess.try(ref) {
		wrapped, aead, err := k.newKey(ref, 1)
		if err != nil {
			return nil, err
		}
		return &SealingKey{ref: ref, gen: 1, aead: aead, epoch: epoch, guessed: true,
			unstored: &lethe.SubjectKey{SubjectRef: ref, Generation: 1, Wrapped: wrapped, CreatedAt: k.clock.Now()}}, nil
	}
	key, next, err := k.latest(ctx, ref)
	if err != nil {
		return nil, err
	}
	if next == 1 && k.guess != nil {
		k.guess.stored() // a guess would have been right: count it
	}
	if next == 0 {
		aead, err := k.unwrap(ref, key)
		if err != nil {
			return nil, err
		}
		k.remember(epoch, ref, key.Generation, aead)
		return &SealingKey{ref: ref, gen: key.Generation, aead: aead}, nil
	}
	wrapped, aead, err := k.newKey(ref, next)
	if err != nil {
		return nil, err
	}
	return &SealingKey{ref: ref, gen: next, aead: aead, epoch: epoch,
		unstored: &lethe.SubjectKey{SubjectRef: ref, Generation: next, Wrapped: wrapped, CreatedAt: k.clock.Now()}}, nil
}

// Encrypt seals plaintext as Keyring.Encrypt does (same format, same
// associated data rules), with this key.
func (s *SealingKey) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	return seal(s.aead, s.gen, s.ref, plaintext, associatedData)
}

// Unstored returns the new key to store with what it sealed, or nil when
// the key is the subject's stored active key.
func (s *SealingKey) Unstored() *lethe.SubjectKey { return s.unstored }

// Stored tells the keyring that the transaction storing key.Unstored
// committed: the key is then the subject's active key, and is cached as
// such (unless the subject was forgotten meanwhile, e.g. shredded). It does
// nothing for a key that was stored already.
func (k *Keyring) Stored(key *SealingKey) {
	if key.unstored == nil {
		return
	}
	if key.guessed && k.guess != nil {
		k.guess.stored()
	}
	k.remember(key.epoch, key.ref, key.gen, key.aead)
}

// Refused tells the keyring that the store refused key.Unstored
// (ECONFLICT): the subject has a key after all, or got one concurrently.
// The next SealingKey for the subject reads the store.
func (k *Keyring) Refused(key *SealingKey) {
	if key.unstored == nil || k.guess == nil {
		return
	}
	k.guess.refusedKey(key.ref, key.guessed)
}

// Decrypt opens what Encrypt sealed for the same subject and associated
// data. It returns ESHREDDED when the subject's key of that generation was
// shredded (the data is erased for good), and EINVALID when the ciphertext
// is malformed, foreign, altered, or sealed for another subject or other
// associated data. It never panics, whatever the input.
func (k *Keyring) Decrypt(ctx context.Context, ref lethe.SubjectRef, ciphertext, associatedData []byte) ([]byte, error) {
	if ref.IsZero() {
		return nil, lethe.FieldErrorf("subject_ref", "decrypting for a subject needs its reference")
	}
	if len(ciphertext) < Overhead {
		return nil, lethe.Errorf(lethe.EINVALID, "not a Lethe subject ciphertext (too short)")
	}
	if ciphertext[0] != ciphertextVersion {
		return nil, lethe.Errorf(lethe.EINVALID, "not a Lethe subject ciphertext (unknown version %d)", ciphertext[0])
	}
	gen := binary.BigEndian.Uint32(ciphertext[1:headerLen])
	if gen == 0 {
		return nil, lethe.Errorf(lethe.EINVALID, "not a Lethe subject ciphertext (key generation 0)")
	}
	aead, err := k.keyOf(ctx, ref, gen)
	if err != nil {
		return nil, err
	}
	nonce, box := ciphertext[headerLen:headerLen+nonceLen], ciphertext[headerLen+nonceLen:]
	plain, err := aead.Open(nil, nonce, box, dataAAD(ref, ciphertext[:headerLen], associatedData))
	if err != nil {
		return nil, lethe.Errorf(lethe.EINVALID, "the ciphertext does not open for this subject and associated data (another subject's, other associated data, or altered)")
	}
	return plain, nil
}

// Shred destroys every data key the subject has now (see
// lethe.SubjectKeyStore.SubjectKeyShred), records it for reshredding after
// a restore, and appends a subject.key_shredded audit entry by actor, in one
// transaction; it drops the subject's cached keys. Everything encrypted for
// the subject so far becomes undecryptable (ESHREDDED) everywhere the store
// is, and in every backup once the backups holding the wrapped keys have
// rotated out. Data encrypted for the subject afterwards gets a new key.
// It returns how many keys it destroyed; shredding again returns 0.
func (k *Keyring) Shred(ctx context.Context, ref lethe.SubjectRef, actor string) (int, error) {
	if ref.IsZero() {
		return 0, lethe.FieldErrorf("subject_ref", "shredding needs a subject reference")
	}
	if actor == "" {
		return 0, lethe.FieldErrorf("actor", "shredding needs an actor for the audit log")
	}
	k.Forget(ref)
	n, err := k.store.SubjectKeyShred(ctx, ref, k.clock.Now(), lethe.AuditRecord{Actor: actor, Action: "subject.key_shredded", SubjectRef: ref})
	// Again after the commit: a key read while the shred was in flight may
	// have been cached in between.
	k.Forget(ref)
	if err != nil {
		return 0, fmt.Errorf("shred subject keys: %w", err)
	}
	return n, nil
}

// Reshred re-applies shred records (from SubjectShredList or a shred
// journal, see ReadShreds) to a store restored from a backup taken before
// some of them: for each record, every key of the subject created at or
// before its ShreddedAt is destroyed again, with a subject.key_reshredded
// audit entry by "system". Keys created after a shred (new data for the
// same subject) are kept. Records with nothing left to destroy are skipped
// without an audit entry, so running it twice is harmless. It returns how
// many keys it destroyed and stops at the first error.
func (k *Keyring) Reshred(ctx context.Context, shreds []lethe.SubjectShred) (int, error) {
	total := 0
	for _, s := range shreds {
		if s.SubjectRef.IsZero() {
			return total, lethe.FieldErrorf("subject_ref", "a shred record needs a subject reference")
		}
		// Only the active key can still hold material: skip records that
		// have nothing to destroy rather than fill the audit log.
		key, err := k.store.SubjectKeyActive(ctx, s.SubjectRef)
		if lethe.ErrorCode(err) == lethe.ENOTFOUND {
			continue
		}
		if err != nil {
			return total, fmt.Errorf("reshred subject keys: %w", err)
		}
		if key.CreatedAt.After(s.ShreddedAt) {
			continue
		}
		k.Forget(s.SubjectRef)
		n, err := k.store.SubjectKeyShred(ctx, s.SubjectRef, s.ShreddedAt, lethe.AuditRecord{
			Actor: "system", Action: "subject.key_reshredded", SubjectRef: s.SubjectRef,
			Details: map[string]string{"shredded_at": s.ShreddedAt.UTC().Format(time.RFC3339Nano)},
		})
		k.Forget(s.SubjectRef)
		if err != nil {
			return total, fmt.Errorf("reshred subject keys: %w", err)
		}
		total += n
	}
	return total, nil
}

// Forget drops the subject's cached keys, so the next use reads the store.
// Call it when another process may have shredded the subject (a
// lethe.ChangeFeed delivers such references).
func (k *Keyring) Forget(ref lethe.SubjectRef) {
	if k.cache == nil {
		return
	}
	k.mu.Lock()
	k.epoch.Add(1)
	k.cache.Remove(ref)
	k.mu.Unlock()
}

// ForgetAll drops every cached key (a change feed that may have missed
// changes delivers the zero reference for this).
func (k *Keyring) ForgetAll() {
	if k.cache == nil {
		return
	}
	k.mu.Lock()
	k.epoch.Add(1)
	k.cache.Purge()
	k.mu.Unlock()
}

// activeKey returns the subject's active key, creating and storing it if
// needed.
func (k *Keyring) activeKey(ctx context.Context, ref lethe.SubjectRef) (cipher.AEAD, uint32, error) {
	if c := k.cached(); c != nil {
		if e, ok := c.Get(ref); ok && e.active != 0 {
			return e.aeads[e.active], e.active, nil
		}
	}
	epoch := k.epoch.Load()
	key, next, err := k.latest(ctx, ref)
	if err == nil && next != 0 {
		key, err = k.createKey(ctx, ref, next)
	}
	if err != nil {
		return nil, 0, err
	}
	aead, err := k.unwrap(ref, key)
	if err != nil {
		return nil, 0, err
	}
	k.remember(epoch, ref, key.Generation, aead)
	return aead, key.Generation, nil
}

// keyOf returns the subject's key of one generation.
func (k *Keyring) keyOf(ctx context.Context, ref lethe.SubjectRef, gen uint32) (cipher.AEAD, error) {
	if c := k.cached(); c != nil {
		if e, ok := c.Get(ref); ok {
			if aead, ok := e.aeads[gen]; ok {
				return aead, nil
			}
		}
	}
	epoch := k.epoch.Load()
	key, err := k.store.SubjectKeyGet(ctx, ref, gen)
	if lethe.ErrorCode(err) == lethe.ENOTFOUND {
		return nil, lethe.Errorf(lethe.EINVALID, "the ciphertext was not sealed for this subject (it never had a key of generation %d)", gen)
	}
	if err != nil {
		return nil, fmt.Errorf("read subject key: %w", err)
	}
	aead, err := k.unwrap(ref, key)
	if err != nil {
		return nil, err
	}
	k.remember(epoch, ref, gen, aead)
	return aead, nil
}

// latest reads the subject's newest key: the active key (next is 0), or
// the generation a new key must have (next > 0) when the subject has no
// key or only shredded ones.
func (k *Keyring) latest(ctx context.Context, ref lethe.SubjectRef) (key lethe.SubjectKey, next uint32, err error) {
	key, err = k.store.SubjectKeyLatest(ctx, ref)
	switch {
	case lethe.ErrorCode(err) == lethe.ENOTFOUND:
		return key, 1, nil
	case err != nil:
		return key, 0, fmt.Errorf("read subject key: %w", err)
	case key.Wrapped != nil && key.ShreddedAt == nil:
		return key, 0, nil
	case key.Generation == ^uint32(0):
		return key, 0, lethe.Errorf(lethe.ECONFLICT, "the subject has used every key generation")
	}
	return key, key.Generation + 1, nil
}

// createKey stores a new key of generation gen for the subject (the one
// after its newest, see latest) and returns the subject's active key. The
// generation is bound into the wrapped key, so it must be known before the
// store assigns it. Only a shred committed between that read and the
// create can make the store assign another; the key then created is
// unusable, and since the subject was just shredded, it is shredded too (it
// holds nothing) and the create retried.
func (k *Keyring) createKey(ctx context.Context, ref lethe.SubjectRef, gen uint32) (lethe.SubjectKey, error) {
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			key, next, err := k.latest(ctx, ref)
			if err != nil {
				return lethe.SubjectKey{}, err
			}
			if next == 0 {
				return key, nil
			}
			gen = next
		}
		wrapped, _, err := k.newKey(ref, gen)
		if err != nil {
			return lethe.SubjectKey{}, err
		}
		got, err := k.store.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Generation: gen, Wrapped: wrapped, CreatedAt: k.clock.Now()})
		if err != nil {
			return lethe.SubjectKey{}, fmt.Errorf("create subject key: %w", err)
		}
		if !bytes.Equal(got.Wrapped, wrapped) || got.Generation == gen {
			// Ours, or the key a concurrent creator made first.
			return got, nil
		}
		if _, err := k.store.SubjectKeyShred(ctx, ref, got.CreatedAt, lethe.AuditRecord{
			Actor: "system", Action: "subject.key_shredded", SubjectRef: ref,
			Details: map[string]string{"reason": "key created while the subject was being shredded"},
		}); err != nil {
			return lethe.SubjectKey{}, err
		}
	}
	return lethe.SubjectKey{}, lethe.Errorf(lethe.ECONFLICT, "the subject's keys keep being shredded while a new key is created; retry")
}

// newKey returns a fresh data key wrapped for (ref, gen), and its AEAD.
func (k *Keyring) newKey(ref lethe.SubjectRef, gen uint32) ([]byte, cipher.AEAD, error) {
	var dataKey [keyLen]byte
	defer clear(dataKey[:])
	out := make([]byte, 1+nonceLen, wrappedLen)
	out[0] = wrapVersion
	if _, err := rand.Read(dataKey[:]); err != nil {
		return nil, nil, fmt.Errorf("generate subject key: %w", err)
	}
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, nil, fmt.Errorf("generate subject key: %w", err)
	}
	block, err := aes.NewCipher(dataKey[:])
	if err != nil {
		return nil, nil, fmt.Errorf("generate subject key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, fmt.Errorf("generate subject key: %w", err)
	}
	return k.master.Seal(out, out[1:1+nonceLen], dataKey[:], wrapAAD(ref, gen)), aead, nil
}

// unwrap returns the AEAD of a stored key: ESHREDDED when shredded,
// EINTERNAL when the master key does not open it.
func (k *Keyring) unwrap(ref lethe.SubjectRef, key lethe.SubjectKey) (cipher.AEAD, error) {
	if key.Wrapped == nil || key.ShreddedAt != nil {
		return nil, lethe.Errorf(lethe.ESHREDDED, "the subject's key was shredded; this data is erased")
	}
	w := key.Wrapped
	if len(w) != wrappedLen || w[0] != wrapVersion {
		return nil, lethe.Errorf(lethe.EINTERNAL, "the stored subject key (generation %d) is not in a known format", key.Generation)
	}
	dataKey, err := k.master.Open(nil, w[1:1+nonceLen], w[1+nonceLen:], wrapAAD(ref, key.Generation))
	if err != nil {
		return nil, lethe.Errorf(lethe.EINTERNAL, "the subject key (generation %d) does not unwrap: the master key is not the one that wrapped it, or the stored key was altered", key.Generation)
	}
	defer clear(dataKey)
	block, err := aes.NewCipher(dataKey)
	if err != nil {
		return nil, fmt.Errorf("unwrap subject key: %w", err)
	}
	return cipher.NewGCM(block)
}

// remember caches a key unless a Forget happened since epoch was read. A
// key that unwrapped is unshredded, and a subject has at most one
// unshredded key: the active one.
func (k *Keyring) remember(epoch uint64, ref lethe.SubjectRef, gen uint32, aead cipher.AEAD) {
	if k.cache == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.epoch.Load() != epoch || k.closed.Load() {
		return
	}
	e := &subjectKeys{active: gen, aeads: map[uint32]cipher.AEAD{gen: aead}}
	if old, ok := k.cache.Peek(ref); ok {
		for g, a := range old.aeads {
			if g != gen {
				e.aeads[g] = a
			}
		}
	}
	k.cache.Add(ref, e)
}

func wrapAAD(ref lethe.SubjectRef, gen uint32) []byte {
	b := make([]byte, 0, len(wrapDomain)+len(ref)+4)
	b = append(b, wrapDomain...)
	b = append(b, ref[:]...)
	return binary.BigEndian.AppendUint32(b, gen)
}

func dataAAD(ref lethe.SubjectRef, header, associatedData []byte) []byte {
	b := make([]byte, 0, len(dataDomain)+len(ref)+len(header)+len(associatedData))
	b = append(b, dataDomain...)
	b = append(b, ref[:]...)
	b = append(b, header...)
	return append(b, associatedData...)
}
