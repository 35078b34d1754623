package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

// The files serve is pointed at are read within bounds: a mistaken path
// (/dev/zero, a pipe) stops the start with its name instead of hanging it.
func TestServeFilesAreBounded(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.pem")
	require.NoError(t, os.WriteFile(empty, []byte("not a certificate\n"), 0o600))
	for _, tt := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"policy", Options{PolicyFile: "/dev/zero"}, "policy /dev/zero: larger than 1 MiB, the most a policy file may hold"},
		{"client CA", Options{ClientCAFile: "/dev/zero"}, "client CA file: /dev/zero: larger than 4 MiB, the most a CA bundle may hold"},
		{"client CA without a certificate", Options{ClientCAFile: empty}, "client CA file " + empty + ": no PEM certificate in it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Config = &rest.Config{Host: "https://127.0.0.1:1"}
			_, err := New(tt.opts)
			require.Error(t, err)
			assert.Equal(t, tt.wantErr, err.Error())
		})
	}
}
