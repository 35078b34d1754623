// Package input opens and reads the files a user names on the command line
// (manifests, a policy) so that none can hang a run or exhaust its memory:
// a named pipe nobody writes to is given up on, and a read stops at a bound.
package input

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// DefaultOpenTimeout is how long Open waits for a named pipe's writer.
const DefaultOpenTimeout = 10 * time.Second

// Open opens a file named on the command line. A regular file or a pipe
// (`-f <(helm template ...)` names one) is read; a named pipe is waited for
// at most timeout, since opening one blocks until a writer comes; anything
// else (a socket, a device other than a character one) is an error.
func Open(f string, timeout time.Duration) (*os.File, error) {
	st, err := os.Stat(f)
	if err != nil {
		return nil, err
	}
	mode := st.Mode()
	switch {
	case mode.IsRegular(), mode&fs.ModeCharDevice != 0:
		// A character device (/dev/stdin on a terminal, /dev/zero) is read
		// as a stream, within the size bound.
		return os.Open(f)
	case mode&fs.ModeNamedPipe != 0:
	default:
		return nil, fmt.Errorf("%s: not a regular file (%s)", f, FileType(mode))
	}
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		fh, err := os.Open(f)
		ch <- opened{fh, err}
	}()
	select {
	case o := <-ch:
		return o.f, o.err
	case <-time.After(timeout):
		// The goroutine stays blocked in open(2); the run ends with this
		// error, and the process with it.
		return nil, fmt.Errorf("%s: a named pipe nobody writes to (waited %s)", f, timeout)
	}
}

// ReadFile opens a file as Open does and reads it whole, up to limit bytes;
// what holds more is an error naming the file and the bound, with what (a
// flag, a kind of file) sets it.
func ReadFile(f string, limit int64, what string) ([]byte, error) {
	fh, err := Open(f, DefaultOpenTimeout)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, over, err := ReadAtMost(fh, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	if over {
		return nil, fmt.Errorf("%s: larger than %s, the most %s", f, Bytes(limit), what)
	}
	return data, nil
}

// ReadAtMost reads r to its end, or reports over once it holds more than
// limit bytes, having read limit+1 of them.
func ReadAtMost(r io.Reader, limit int64) (data []byte, over bool, err error) {
	data, err = io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	return data, int64(len(data)) > limit, nil
}

// Bytes renders a size bound: "64 MiB", or bytes when it is no whole MiB.
func Bytes(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// FileType names what a directory entry or path is, for the reasons given.
func FileType(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a device"
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	case mode.IsDir():
		return "a directory"
	}
	return "not a regular file"
}
