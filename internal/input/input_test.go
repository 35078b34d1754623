package input

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "a.yaml")
	require.NoError(t, os.WriteFile(regular, []byte("x"), 0o600))
	fifo := filepath.Join(dir, "pipe")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer l.Close()

	for _, tt := range []struct {
		name, path, wantErr string
	}{
		{"a regular file", regular, ""},
		{"a character device, read as a stream", "/dev/zero", ""},
		{"a named pipe nobody writes to", fifo, fifo + ": a named pipe nobody writes to (waited 50ms)"},
		{"a socket", sock, sock + ": not a regular file (a socket)"},
		{"a directory", dir, dir + ": not a regular file (a directory)"},
		{"nothing there", filepath.Join(dir, "none"), "no such file or directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(tt.path, 50*time.Millisecond)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.NoError(t, f.Close())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}

	t.Run("a named pipe with a writer is read", func(t *testing.T) {
		// A pipe of its own: the open above is still blocked on the first.
		fifo := filepath.Join(dir, "written")
		require.NoError(t, syscall.Mkfifo(fifo, 0o600))
		go func() {
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err == nil {
				_, _ = w.WriteString("written")
				_ = w.Close()
			}
		}()
		data, err := ReadFile(fifo, 100, "a test file may hold")
		require.NoError(t, err)
		assert.Equal(t, "written", string(data))
	})
}

func TestReadFileBound(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "p.yaml")
	require.NoError(t, os.WriteFile(f, []byte(strings.Repeat("x", 10)), 0o600))
	data, err := ReadFile(f, 10, "a test file may hold")
	require.NoError(t, err)
	assert.Len(t, data, 10, "exactly the bound is within it")
	_, err = ReadFile(f, 9, "a test file may hold")
	assert.EqualError(t, err, f+": larger than 9 bytes, the most a test file may hold")
	_, err = ReadFile("/dev/zero", 1<<20, "a policy file may hold")
	assert.EqualError(t, err, "/dev/zero: larger than 1 MiB, the most a policy file may hold")
}
