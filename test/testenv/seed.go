package testenv

import (
	"path/filepath"
	"testing"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/manifest"
)

// SeedStore is a store holding the named files of testdata/seed (the
// guide's manifests), as the offline check would build it.
func SeedStore(t testing.TB, files ...string) *cluster.Store {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(RepoRoot(), "testdata", "seed", f))
	}
	docs, err := manifest.Load(paths, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := cluster.NewStore()
	for _, d := range docs {
		if d.Object != nil {
			s.Upsert(d.Object)
		}
	}
	return s
}
