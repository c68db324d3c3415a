package keyring

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
)

// WriteShreds writes shred records in the shred-file format: one record a
// line, the subject reference in hex, a space, and the shred time in RFC
// 3339 (UTC, nanoseconds when there are any). The format holds nothing
// personal, so the file can be kept where the store's backups are not.
func WriteShreds(w io.Writer, shreds []lethe.SubjectShred) error {
	bw := bufio.NewWriter(w)
	for _, s := range shreds {
		bw.WriteString(s.SubjectRef.String())
		bw.WriteByte(' ')
		bw.WriteString(s.ShreddedAt.UTC().Format(time.RFC3339Nano))
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write shreds: %w", err)
	}
	return nil
}

// maxShredLine bounds a line of a shred file: a record is about 100 bytes.
const maxShredLine = 1024

// ReadShreds reads a shred file (see WriteShreds). Blank lines and lines
// starting with '#' are skipped, so several files can be concatenated and
// annotated. It returns EINVALID naming the first malformed line; it does
// not echo the line, which could be anything.
func ReadShreds(r io.Reader) ([]lethe.SubjectShred, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxShredLine)
	var out []lethe.SubjectShred
	line := 0
	bad := func(format string, args ...any) error {
		return &lethe.Error{Code: lethe.EINVALID, Message: "not a shred file", Fields: []lethe.FieldError{{Line: line, Message: fmt.Sprintf(format, args...)}}}
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, bad("want a subject reference and a time")
		}
		ref, err := lethe.ParseSubjectRef(fields[0])
		if err != nil {
			return nil, bad("the subject reference is not 64 hex characters")
		}
		at, err := time.Parse(time.RFC3339Nano, fields[1])
		if err != nil {
			return nil, bad("the time is not in RFC 3339 format")
		}
		out = append(out, lethe.SubjectShred{SubjectRef: ref, ShreddedAt: at.UTC()})
	}
	if err := sc.Err(); err != nil {
		line++
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, bad("line longer than %d bytes", maxShredLine)
		}
		return nil, fmt.Errorf("read shreds: %w", err)
	}
	return out, nil
}
