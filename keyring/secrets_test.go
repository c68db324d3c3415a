package keyring_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/keyring"
)

// noSecretsEnv clears the secrets variables for a test that must not see
// the environment's.
func noSecretsEnv(t *testing.T) {
	for _, v := range []string{keyring.EnvRefKey, keyring.EnvMasterKey, keyring.EnvSigningKey, keyring.EnvSecretsDir} {
		t.Setenv(v, "")
	}
}

func sameSecrets(a, b *keyring.Secrets) bool {
	return a.RefKey == b.RefKey && a.MasterKey == b.MasterKey && a.SigningKey.Equal(b.SigningKey)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestLoadOrCreateSecrets(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	s, created, err := keyring.LoadOrCreateSecrets(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("first start did not report creating the secrets")
	}
	if s.RefKey == ([32]byte{}) || s.MasterKey == ([32]byte{}) || s.RefKey == s.MasterKey || len(s.SigningKey) != ed25519.PrivateKeySize {
		t.Fatal("generated secrets are not three distinct random keys")
	}
	dir := filepath.Join(dataDir, keyring.SecretsDirName)
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("secrets directory mode %04o, want 0700", m)
	}
	for _, f := range []string{keyring.RefKeyFile, keyring.MasterKeyFile, keyring.SigningKeyFile} {
		if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s mode %04o, want 0600", f, m)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, keyring.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.StdEncoding.EncodeToString(s.MasterKey[:]) + "\n"; string(b) != want {
		t.Error("master.key is not the master key in base64")
	}
	if left, _ := filepath.Glob(filepath.Join(dataDir, ".secrets-*")); len(left) != 0 {
		t.Errorf("temporary directories left behind: %v", left)
	}

	again, created, err := keyring.LoadOrCreateSecrets(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if created || !sameSecrets(s, again) {
		t.Error("second start did not load the same secrets")
	}
}

func TestLoadOrCreateSecretsNeverOverwrites(t *testing.T) {
	dataDir := t.TempDir()
	s, _, err := keyring.LoadOrCreateSecrets(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(dataDir, keyring.SecretsDirName)
	ref := filepath.Join(dir, keyring.RefKeyFile)
	before, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	// One file lost: that needs the backup, not a new key beside the others.
	if err := os.Remove(filepath.Join(dir, keyring.MasterKeyFile)); err != nil {
		t.Fatal(err)
	}
	_, created, err := keyring.LoadOrCreateSecrets(dataDir)
	if err == nil || created {
		t.Fatalf("a secrets directory missing master.key was accepted or refilled (created %v)", created)
	}
	if !strings.Contains(err.Error(), "master.key is missing") {
		t.Errorf("error %q does not say which file is missing", err)
	}
	after, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("ref.key was rewritten")
	}
	if _, err := os.Stat(filepath.Join(dir, keyring.MasterKeyFile)); err == nil {
		t.Error("master.key was recreated")
	}
	_ = s
}

func TestLoadOrCreateSecretsConcurrentFirstStart(t *testing.T) {
	dataDir := t.TempDir()
	const n = 8
	var (
		wg      sync.WaitGroup
		results [n]*keyring.Secrets
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() { results[i], created[i], errs[i] = keyring.LoadOrCreateSecrets(dataDir) })
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if created[i] {
			creators++
		}
		if !sameSecrets(results[0], results[i]) {
			t.Errorf("start %d got other secrets than start 0", i)
		}
	}
	if creators != 1 {
		t.Errorf("%d starts report creating the secrets, want 1", creators)
	}
}

func TestSecretsFilePermissionsRefused(t *testing.T) {
	dataDir := t.TempDir()
	if _, _, err := keyring.LoadOrCreateSecrets(dataDir); err != nil {
		t.Fatal(err)
	}
	for _, perm := range []os.FileMode{0o640, 0o604, 0o644} {
		t.Run(fmt.Sprintf("%04o", perm), func(t *testing.T) {
			path := filepath.Join(dataDir, keyring.SecretsDirName, keyring.SigningKeyFile)
			if err := os.Chmod(path, perm); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(path, 0o600) })
			_, _, err := keyring.LoadOrCreateSecrets(dataDir)
			if lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("err = %v, want EINVALID telling to chmod 600", err)
			}
		})
	}
}

func TestLoadSecretsFromEnv(t *testing.T) {
	gen, err := keyring.GenerateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	ref, master, signing := b64(gen.RefKey[:]), b64(gen.MasterKey[:]), b64(gen.SigningKey.Seed())

	dataDir := t.TempDir()
	noSecretsEnv(t)
	onDisk, _, err := keyring.LoadOrCreateSecrets(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	secretsDir := filepath.Join(dataDir, keyring.SecretsDirName)

	for _, tc := range []struct {
		name     string
		env      map[string]string
		want     *keyring.Secrets
		wantCode lethe.Code
		wantMsg  string
	}{
		{name: "nothing set", env: nil, wantCode: lethe.ENOTFOUND},
		{name: "three keys", env: map[string]string{keyring.EnvRefKey: ref, keyring.EnvMasterKey: master, keyring.EnvSigningKey: signing}, want: gen},
		{name: "unpadded base64 and full private key", env: map[string]string{
			keyring.EnvRefKey: strings.TrimRight(ref, "="), keyring.EnvMasterKey: master, keyring.EnvSigningKey: b64(gen.SigningKey),
		}, want: gen},
		{name: "secrets dir", env: map[string]string{keyring.EnvSecretsDir: secretsDir}, want: onDisk},
		{name: "one key missing", env: map[string]string{keyring.EnvRefKey: ref, keyring.EnvSigningKey: signing},
			wantCode: lethe.EINVALID, wantMsg: keyring.EnvMasterKey + " must be set too"},
		{name: "keys and dir", env: map[string]string{keyring.EnvRefKey: ref, keyring.EnvMasterKey: master, keyring.EnvSigningKey: signing, keyring.EnvSecretsDir: secretsDir},
			wantCode: lethe.EINVALID, wantMsg: "not both"},
		{name: "short key", env: map[string]string{keyring.EnvRefKey: b64(gen.RefKey[:16]), keyring.EnvMasterKey: master, keyring.EnvSigningKey: signing},
			wantCode: lethe.EINVALID, wantMsg: keyring.EnvRefKey + " must be 32 bytes"},
		{name: "not base64", env: map[string]string{keyring.EnvRefKey: ref, keyring.EnvMasterKey: "not*base64*" + master, keyring.EnvSigningKey: signing},
			wantCode: lethe.EINVALID, wantMsg: keyring.EnvMasterKey},
		{name: "missing dir", env: map[string]string{keyring.EnvSecretsDir: filepath.Join(dataDir, "nope")}, wantCode: lethe.EUNAVAILABLE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noSecretsEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := keyring.LoadSecretsFromEnv()
			if tc.want != nil {
				if err != nil {
					t.Fatal(err)
				}
				if !sameSecrets(got, tc.want) {
					t.Error("loaded other secrets than set")
				}
				return
			}
			if lethe.ErrorCode(err) != tc.wantCode || !strings.Contains(fmt.Sprint(err), tc.wantMsg) {
				t.Fatalf("err = %v, want %s containing %q", err, tc.wantCode, tc.wantMsg)
			}
			for k, v := range tc.env {
				if k != keyring.EnvSecretsDir && len(v) > 8 && strings.Contains(err.Error(), v) {
					t.Errorf("error %q repeats a secret", err)
				}
			}
		})
	}
}

func TestLoadSecretsPrefersEnv(t *testing.T) {
	gen, err := keyring.GenerateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	noSecretsEnv(t)
	t.Setenv(keyring.EnvRefKey, b64(gen.RefKey[:]))
	t.Setenv(keyring.EnvMasterKey, b64(gen.MasterKey[:]))
	t.Setenv(keyring.EnvSigningKey, b64(gen.SigningKey.Seed()))
	dataDir := t.TempDir()
	got, created, err := keyring.LoadSecrets(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if created || !sameSecrets(got, gen) {
		t.Error("LoadSecrets did not take the secrets from the environment")
	}
	if _, err := os.Stat(filepath.Join(dataDir, keyring.SecretsDirName)); err == nil {
		t.Error("LoadSecrets wrote secrets to the data directory although the environment had them")
	}

	noSecretsEnv(t)
	_, created, err = keyring.LoadSecrets(dataDir)
	if err != nil || !created {
		t.Errorf("without the environment: created %v, err %v; want new secrets in the data directory", created, err)
	}
}

func TestSecretsRedacted(t *testing.T) {
	s, err := keyring.GenerateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, s)
		if out != "keyring.Secrets{[redacted]}" {
			t.Errorf("%s prints %q", format, out)
		}
	}
	signer := s.Signer()
	if signer == nil || !strings.HasPrefix(signer.VerifierKey(), keyring.SignerName+"+") {
		t.Errorf("Signer() = %v", signer)
	}
}
