package config

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/lethe-privacy/lethe"
)

// maxFileSize bounds what Parse reads; a privacy declaration is a few
// hundred lines, and a multi-megabyte file is a mistake (or an attack on
// the YAML parser).
const maxFileSize = 4 << 20

// Info describes the file a config was loaded from.
type Info struct {
	// Path is the file as given to Load.
	Path string
	// Hash is the hex SHA-256 of the file's bytes as read, before ${VAR}
	// expansion: the same file hashes the same in every environment, and
	// no secret from the environment enters the hash the audit log keeps.
	Hash string
}

// Load reads, expands, validates and decodes the config file at path.
//
// A missing file is a *lethe.Error with code ENOTFOUND; an invalid file is
// a *lethe.Error with code EINVALID listing every problem with its path
// and line (see Parse). Info is filled whenever the file could be read, so
// a caller can log the hash of a file it rejects.
func Load(path string) (*lethe.Config, Info, error) {
	info := Info{Path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, info, &lethe.Error{Code: lethe.ENOTFOUND, Message: fmt.Sprintf("config file %s does not exist", path), Err: err}
	case err != nil:
		return nil, info, fmt.Errorf("read config file: %w", err)
	}
	info.Hash = Hash(data)
	cfg, err := Parse(data, path)
	return cfg, info, err
}

// Parse expands, validates and decodes a config held in memory; name
// (usually the file name) prefixes the error message.
//
// On success the config is complete: defaults are applied (jurisdiction
// gdpr), country codes are upper case and safeguards lower case. Otherwise
// the error is a *lethe.Error with code EINVALID, Message "<name>: N
// problems" and one lethe.FieldError per problem, in file order. Parse is
// safe for concurrent use.
func Parse(data []byte, name string) (*lethe.Config, error) {
	return parse(data, name, os.LookupEnv)
}

// Hash returns the hex SHA-256 of data, the form Info.Hash takes.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Schema returns the JSON Schema (draft 2020-12) of lethe.yaml, with a
// description on every property, for editors and `lethe config schema`.
// The caller owns the returned slice.
func Schema() []byte {
	return append([]byte(nil), schemaJSON...)
}

func parse(data []byte, name string, lookup func(string) (string, bool)) (*lethe.Config, error) {
	p := newParser(cmp.Or(name, "config"), lookup)
	if len(data) > maxFileSize {
		p.add("", 0, "the file is %d bytes; a config file may hold at most %d", len(data), maxFileSize)
		return nil, p.err()
	}
	cfg := p.run(data)
	if cfg == nil && len(p.problems) == 0 {
		p.add("", 0, "the file could not be read as a config") // unreachable by design; never return (nil, nil)
	}
	if len(p.problems) > 0 {
		return nil, p.err()
	}
	cfg.Jurisdiction = cmp.Or(cfg.Jurisdiction, lethe.GDPR)
	return cfg, nil
}
