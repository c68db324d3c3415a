package keyring_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// An application sealing a personal field of its own with the subject's
// key: once the subject is erased (shredded), every copy of the field,
// backups included, is unreadable, with nothing to find and delete.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lethe-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "lethe.db")})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	// Back these up, apart from the database: without them nothing sealed
	// can be decrypted, and no identity matched.
	secrets, _, err := keyring.LoadOrCreateSecrets(dir)
	if err != nil {
		log.Fatal(err)
	}
	kr := keyring.New(store, secrets, keyring.Options{})

	ref, err := kr.SubjectRef(lethe.Identity{Type: lethe.IdentityEmail, Value: " Jane@Example.com"})
	if err != nil {
		log.Fatal(err)
	}
	// The associated data ties the ciphertext to where it is stored: it
	// cannot be copied into another row or column and still open.
	ad := []byte("customers.shipping_address:42")
	sealed, err := kr.Encrypt(ctx, ref, []byte("1 Main Street, Springfield"), ad)
	if err != nil {
		log.Fatal(err)
	}
	// ... store sealed in the application's own table ...

	plain, err := kr.Decrypt(ctx, ref, sealed, ad)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(plain))

	// Erasure request: destroy the subject's keys.
	if _, err := kr.Shred(ctx, ref, "library"); err != nil {
		log.Fatal(err)
	}
	_, err = kr.Decrypt(ctx, ref, sealed, ad)
	var lerr *lethe.Error
	if errors.As(err, &lerr) && lerr.Code == lethe.ESHREDDED {
		fmt.Println("erased:", lerr.Message)
	}
	// Output:
	// 1 Main Street, Springfield
	// erased: the subject's key was shredded; this data is erased
}
