package dsr

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spillLimit is how much of one collection's export part stays in memory
// before it moves to a temporary file: most subjects' parts are a few
// kilobytes, and files would cost more than the rows.
const spillLimit = 1 << 20

// spill is a write-once buffer that keeps small contents in memory and
// moves large ones to a file in dir, so that memory stays bounded.
type spill struct {
	dir  string
	buf  bytes.Buffer
	file *os.File
}

func (s *spill) Write(p []byte) (int, error) {
	if s.file == nil && s.buf.Len()+len(p) > spillLimit {
		f, err := os.CreateTemp(s.dir, "part-*")
		if err != nil {
			return 0, fmt.Errorf("create export part: %w", err)
		}
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			f.Close()
			return 0, fmt.Errorf("write export part: %w", err)
		}
		s.buf = bytes.Buffer{}
		s.file = f
	}
	if s.file != nil {
		return s.file.Write(p)
	}
	return s.buf.Write(p)
}

// size is how many bytes were written.
func (s *spill) size() int {
	if s.file == nil {
		return s.buf.Len()
	}
	return spillLimit + 1 // large: compress
}

// copyTo writes the contents to w and releases them.
func (s *spill) copyTo(w io.Writer) error {
	if s.file == nil {
		_, err := w.Write(s.buf.Bytes())
		s.buf = bytes.Buffer{}
		return err
	}
	defer s.release()
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read export part: %w", err)
	}
	if _, err := io.Copy(w, s.file); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	return nil
}

func (s *spill) release() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
		s.file = nil
	}
	s.buf = bytes.Buffer{}
}
