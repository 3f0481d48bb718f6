// Package fileread reads the small files tumult is given by an operator
// (policy files, the agent config, the tokens file) without trusting what
// stands at the path: only a regular file is read, and only up to a size
// cap. A FIFO, a device (a symlink to /dev/zero), a directory or a huge
// file gets an error that names it, instead of blocking the reader for
// good or filling its memory.
//
// This package imports only the standard library.
package fileread

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Sizes of the files tumult reads; real ones are a few KiB.
const (
	// MaxPolicyFile caps one policy file (1 MiB).
	MaxPolicyFile = 1 << 20
	// MaxConfigFile caps the agent config (1 MiB).
	MaxConfigFile = 1 << 20
	// MaxTokensFile caps the tokens file (1 MiB).
	MaxTokensFile = 1 << 20
)

// ErrNotRegular: the path is not a regular file (after symlinks).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge: the file is larger than its cap.
var ErrTooLarge = errors.New("too large")

// Open opens path for reading if it is a regular file (symlinks are
// followed). It opens with O_NONBLOCK, so that a FIFO is refused instead of
// blocking the open until a writer comes, and checks the opened file, not
// the path, so the answer holds for what is read. The caller closes it.
func Open(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, fmt.Errorf("%s is %w but %s", path, ErrNotRegular, describe(info.Mode()))
	}
	return f, info, nil
}

// Regular reads the whole regular file at path, at most limit bytes; a
// larger file, or one that grows past limit while read, gives ErrTooLarge.
func Regular(path string, limit int64) ([]byte, error) {
	f, info, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info.Size() > limit {
		return nil, fmt.Errorf("%s is %w: %d bytes, more than the %d this file may hold", path, ErrTooLarge, info.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is %w: it grew past the %d bytes this file may hold while read", path, ErrTooLarge, limit)
	}
	return data, nil
}

// describe names a file type for an operator.
func describe(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	default:
		return "a special file (" + m.Type().String() + ")"
	}
}
