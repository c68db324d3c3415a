package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

// Secrets are the three keys a Lethe installation cannot lose. Every node
// sharing a store must hold the same ones.
type Secrets struct {
	// RefKey is the HMAC key of subject references. Without it, identities
	// can no longer be matched to their references.
	RefKey [32]byte
	// MasterKey wraps the subjects' data keys. Without it, nothing sealed
	// with a subject key can be decrypted again.
	MasterKey [32]byte
	// SigningKey signs audit checkpoints. Losing it only means new
	// checkpoints are signed by a new key (publish it, keep the old public
	// key to verify older checkpoints).
	SigningKey ed25519.PrivateKey
}

// Names of the secrets' files and environment variables.
const (
	// SecretsDirName is the directory under the data directory that
	// LoadOrCreateSecrets uses.
	SecretsDirName = "secrets"

	RefKeyFile     = "ref.key"
	MasterKeyFile  = "master.key"
	SigningKeyFile = "signing.key"

	EnvRefKey     = "LETHE_REF_KEY"
	EnvMasterKey  = "LETHE_MASTER_KEY"
	EnvSigningKey = "LETHE_SIGNING_KEY"
	EnvSecretsDir = "LETHE_SECRETS_DIR"
)

// SignerName is the key name of audit checkpoints signed with
// Secrets.SigningKey.
const SignerName = "lethe"

// GenerateSecrets returns fresh random secrets.
func GenerateSecrets() (*Secrets, error) {
	s := &Secrets{}
	if _, err := rand.Read(s.RefKey[:]); err != nil {
		return nil, fmt.Errorf("generate secrets: %w", err)
	}
	if _, err := rand.Read(s.MasterKey[:]); err != nil {
		return nil, fmt.Errorf("generate secrets: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate secrets: %w", err)
	}
	s.SigningKey = priv
	return s, nil
}

// Signer returns the audit checkpoint signer of SigningKey, named
// SignerName, or nil when SigningKey is not a valid ed25519 private key
// (the loaders in this package never return such Secrets).
func (s *Secrets) Signer() *audit.Signer {
	signer, err := audit.NewSigner(SignerName, s.SigningKey)
	if err != nil {
		return nil
	}
	return signer
}

// String keeps the keys out of formatted output.
func (s *Secrets) String() string { return "keyring.Secrets{[redacted]}" }

// GoString keeps the keys out of %#v.
func (s *Secrets) GoString() string { return s.String() }

// LogValue keeps the keys out of logs.
func (s *Secrets) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// LoadSecrets loads the secrets the way the server and the CLI do: from the
// environment when any of LETHE_REF_KEY, LETHE_MASTER_KEY,
// LETHE_SIGNING_KEY or LETHE_SECRETS_DIR is set (LoadSecretsFromEnv),
// otherwise from <dataDir>/secrets, creating them on first start
// (LoadOrCreateSecrets). created is true only when new secrets were
// generated.
func LoadSecrets(dataDir string) (s *Secrets, created bool, err error) {
	s, err = LoadSecretsFromEnv()
	if err == nil {
		return s, false, nil
	}
	if lethe.ErrorCode(err) != lethe.ENOTFOUND {
		return nil, false, err
	}
	return LoadOrCreateSecrets(dataDir)
}

// LoadSecretsFromEnv loads the secrets from the environment, for
// deployments where several nodes share one store and so must share the
// secrets: either all three of LETHE_REF_KEY, LETHE_MASTER_KEY and
// LETHE_SIGNING_KEY (standard base64; the signing key is the 32-byte
// ed25519 seed, as in signing.key), or LETHE_SECRETS_DIR naming a directory
// holding ref.key, master.key and signing.key (as LoadOrCreateSecrets
// writes them), which must exist: it is never created, so that a node that
// lost its mount fails instead of inventing keys the others do not have.
// It returns ENOTFOUND when none of these variables is set and EINVALID
// when they are incomplete or malformed (naming the variable, never its
// value).
func LoadSecretsFromEnv() (*Secrets, error) {
	ref, master, signing := os.Getenv(EnvRefKey), os.Getenv(EnvMasterKey), os.Getenv(EnvSigningKey)
	dir := os.Getenv(EnvSecretsDir)
	inline := ref != "" || master != "" || signing != ""
	switch {
	case inline && dir != "":
		return nil, lethe.Errorf(lethe.EINVALID, "set either %s, %s and %s, or %s, not both", EnvRefKey, EnvMasterKey, EnvSigningKey, EnvSecretsDir)
	case dir != "":
		return LoadSecretsDir(dir)
	case !inline:
		return nil, lethe.Errorf(lethe.ENOTFOUND, "no secrets in the environment")
	}
	var missing []string
	for _, v := range []struct{ name, value string }{{EnvRefKey, ref}, {EnvMasterKey, master}, {EnvSigningKey, signing}} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return nil, lethe.Errorf(lethe.EINVALID, "%s must be set too: the three secrets go together", strings.Join(missing, " and "))
	}
	s := &Secrets{}
	var err error
	if s.RefKey, err = decodeKey(EnvRefKey, []byte(ref)); err != nil {
		return nil, err
	}
	if s.MasterKey, err = decodeKey(EnvMasterKey, []byte(master)); err != nil {
		return nil, err
	}
	if s.SigningKey, err = decodeSigningKey(EnvSigningKey, []byte(signing)); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadSecretsDir loads ref.key, master.key and signing.key from dir,
// creating nothing. It returns EUNAVAILABLE when a file cannot be read and
// EINVALID when one is malformed or readable by group or others.
func LoadSecretsDir(dir string) (*Secrets, error) {
	s := &Secrets{}
	b, err := readSecretFile(dir, RefKeyFile)
	if err != nil {
		return nil, err
	}
	if s.RefKey, err = decodeKey(filepath.Join(dir, RefKeyFile), b); err != nil {
		return nil, err
	}
	if b, err = readSecretFile(dir, MasterKeyFile); err != nil {
		return nil, err
	}
	if s.MasterKey, err = decodeKey(filepath.Join(dir, MasterKeyFile), b); err != nil {
		return nil, err
	}
	if b, err = readSecretFile(dir, SigningKeyFile); err != nil {
		return nil, err
	}
	if s.SigningKey, err = decodeSigningKey(filepath.Join(dir, SigningKeyFile), b); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadOrCreateSecrets loads the secrets from <dataDir>/secrets, or, when
// that directory does not exist, generates them and creates it (mode 0700,
// files 0600) atomically: the three files are written and synced in a
// temporary directory that is then renamed into place, so a crash leaves
// either no secrets or all three, and of two processes starting at once,
// one creates them and the other loads the same ones. Existing secrets are
// never overwritten; a secrets directory missing one of its files is an
// error (restore it from a backup), not a reason to generate a new one.
// created is true only when this call generated them.
func LoadOrCreateSecrets(dataDir string) (s *Secrets, created bool, err error) {
	dir := filepath.Join(dataDir, SecretsDirName)
	s, err = LoadSecretsDir(dir)
	if err == nil {
		return s, false, nil
	}
	if _, statErr := os.Stat(dir); !errors.Is(statErr, fs.ErrNotExist) && !isEmptyDir(dir) {
		// Another process may have moved its new secrets into place
		// between the load and the look: load again.
		if s, lerr := LoadSecretsDir(dir); lerr == nil {
			return s, false, nil
		}
		// The directory holds something (or cannot be examined): what is
		// wrong with it needs a person, not new keys. An empty one, made in
		// advance, is replaced.
		return nil, false, err
	}
	s, err = GenerateSecrets()
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot create the data directory for the secrets", Err: err}
	}
	tmp, err := os.MkdirTemp(dataDir, ".secrets-*")
	if err != nil {
		return nil, false, &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot create the secrets directory", Err: err}
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := writeSecrets(tmp, s); err != nil {
		return nil, false, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Lost a race with another process (the target now exists and is
		// not empty): use what it created.
		if loaded, lerr := LoadSecretsDir(dir); lerr == nil {
			return loaded, false, nil
		}
		return nil, false, &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot move the new secrets into place", Err: err}
	}
	syncDir(dataDir)
	return s, true, nil
}

func isEmptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) == 0
}

// writeSecrets writes the three files into dir (which must be new) and
// syncs them and dir.
func writeSecrets(dir string, s *Secrets) error {
	enc := base64.StdEncoding
	files := []struct {
		name string
		key  []byte
	}{
		{RefKeyFile, s.RefKey[:]},
		{MasterKeyFile, s.MasterKey[:]},
		{SigningKeyFile, s.SigningKey.Seed()},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot write the secrets", Err: err}
		}
		_, err = fh.WriteString(enc.EncodeToString(f.key) + "\n")
		if err == nil {
			err = fh.Sync()
		}
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot write the secrets", Err: err}
		}
	}
	syncDir(dir)
	return nil
}

// syncDir makes a directory's entries durable. Best effort: not every
// platform can sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// maxSecretFile bounds what is read from a secrets file: a key is 44
// base64 characters.
const maxSecretFile = 4096

func readSecretFile(dir, name string) ([]byte, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "secrets file " + path + " is missing: restore it from your backup of the secrets", Err: err}
		}
		return nil, &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot open secrets file " + path, Err: err}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot examine secrets file " + path, Err: err}
	}
	if !info.Mode().IsRegular() {
		return nil, lethe.Errorf(lethe.EINVALID, "secrets file %s is not a regular file", path)
	}
	// Windows has no Unix permission bits to check.
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, lethe.Errorf(lethe.EINVALID, "secrets file %s is accessible by group or others (mode %04o): run `chmod 600 %s` and check who may have copied it", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot read secrets file " + path, Err: err}
	}
	if len(b) > maxSecretFile {
		return nil, lethe.Errorf(lethe.EINVALID, "secrets file %s is too large to be a key", path)
	}
	return b, nil
}

// decodeBase64 accepts standard base64 with or without padding, around
// whitespace.
func decodeBase64(b []byte) ([]byte, bool) {
	s := string(bytes.TrimSpace(b))
	if out, err := base64.StdEncoding.DecodeString(s); err == nil {
		return out, true
	}
	if out, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return out, true
	}
	return nil, false
}

func decodeKey(source string, b []byte) ([32]byte, error) {
	k, ok := decodeBase64(b)
	if !ok || len(k) != 32 {
		return [32]byte{}, lethe.Errorf(lethe.EINVALID, "%s must be 32 bytes in standard base64", source)
	}
	return [32]byte(k), nil
}

// decodeSigningKey accepts the 32-byte seed (what this package writes) or
// the 64-byte private key.
func decodeSigningKey(source string, b []byte) (ed25519.PrivateKey, error) {
	k, ok := decodeBase64(b)
	switch {
	case ok && len(k) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(k), nil
	case ok && len(k) == ed25519.PrivateKeySize:
		key := ed25519.NewKeyFromSeed(k[:ed25519.SeedSize])
		if !bytes.Equal(key, k) {
			return nil, lethe.Errorf(lethe.EINVALID, "%s is not a consistent ed25519 private key", source)
		}
		return key, nil
	default:
		return nil, lethe.Errorf(lethe.EINVALID, "%s must be a 32-byte ed25519 seed in standard base64", source)
	}
}
