package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const oneService = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"

// TestInputsThatCouldDrownARun: what issue 16 found hanging or growing
// without bound now ends at once, with an error naming the input, or is
// skipped with a word saying why.
func TestInputsThatCouldDrownARun(t *testing.T) {
	t.Run("a named pipe in a walked directory is skipped, and said so", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(oneService), 0o600))
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "b.yaml"), 0o600))
		require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere.yaml"), filepath.Join(dir, "c.yaml")))
		var skipped []string
		done := make(chan struct{})
		var docs []Doc
		var err error
		go func() {
			defer close(done)
			docs, err = Load([]string{dir}, Options{Skipped: func(m string) { skipped = append(skipped, m) }})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Load hangs on the named pipe")
		}
		require.NoError(t, err)
		assert.Len(t, docs, 1)
		assert.Equal(t, []string{
			filepath.Join(dir, "b.yaml") + ": skipped: a named pipe, not a regular file",
			filepath.Join(dir, "c.yaml") + ": skipped: a symbolic link to nothing readable (stat " + filepath.Join(dir, "c.yaml") + ": no such file or directory)",
		}, skipped)
	})

	t.Run("a named pipe given with -f and nobody writing: an error, not a hang", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "in.yaml")
		require.NoError(t, syscall.Mkfifo(fifo, 0o600))
		start := time.Now()
		_, err := Load([]string{fifo}, Options{OpenTimeout: 200 * time.Millisecond})
		require.Error(t, err)
		assert.Equal(t, fifo+": a named pipe nobody writes to (waited 200ms)", err.Error())
		assert.Less(t, time.Since(start), 5*time.Second)
	})

	t.Run("a pipe with a writer is read, as -f <(helm template ...) gives", func(t *testing.T) {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		defer r.Close()
		go func() { _, _ = w.WriteString(oneService); w.Close() }()
		docs, err := Load([]string{fmt.Sprintf("/proc/self/fd/%d", r.Fd())}, Options{})
		require.NoError(t, err)
		assert.Len(t, docs, 1)
	})

	t.Run("/dev/zero ends at the file bound", func(t *testing.T) {
		_, err := Load([]string{"/dev/zero"}, Options{MaxFileBytes: 1 << 20})
		require.Error(t, err)
		assert.Equal(t, "/dev/zero: larger than 1 MiB, the most a file may hold (--max-file-bytes)", err.Error())
	})

	t.Run("standard input is bounded too", func(t *testing.T) {
		_, err := Load([]string{"-"}, Options{Stdin: strings.NewReader(strings.Repeat("#\n", 1<<20)), MaxFileBytes: 1 << 20})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "-: larger than 1 MiB")
	})

	t.Run("the run's total is bounded, and the file where it is reached named", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []string{"a.yaml", "b.yaml", "c.yaml"} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte(oneService+strings.Repeat("# pad\n", 100)), 0o600))
		}
		size := int64(len(oneService) + 600)
		_, err := Load([]string{dir}, Options{MaxInputBytes: 2*size + 10})
		require.Error(t, err)
		assert.Equal(t, filepath.Join(dir, "c.yaml")+": the input reaches "+fmt.Sprint(2*size+10)+" bytes in total here, the most a run reads (--max-input-bytes)", err.Error())
		_, err = Load([]string{dir}, Options{MaxInputBytes: 3 * size})
		require.NoError(t, err, "exactly the bound is within it")
	})

	t.Run("a socket given with -f is refused by name", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "s.yaml")
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		require.NoError(t, err)
		defer syscall.Close(fd)
		require.NoError(t, syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}))
		_, err = Load([]string{sock}, Options{})
		require.Error(t, err)
		assert.Equal(t, sock+": not a regular file (a socket)", err.Error())
	})
}
