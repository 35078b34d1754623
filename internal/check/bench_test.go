package check

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
	"github.com/ta-guard/ta-guard/test/worldgen"
)

var (
	worldOnce sync.Once
	worldDir  string
)

// benchWorld writes the world (worldgen.Full, Pods left out) once
// per run of the benchmarks.
func benchWorld(b *testing.B) string {
	worldOnce.Do(func() {
		d, err := os.MkdirTemp("", "check-bench-")
		require.NoError(b, err)
		_, err = worldgen.WriteManifests(filepath.Join(d, "world"), worldgen.Full)
		require.NoError(b, err)
		worldDir = filepath.Join(d, "world")
	})
	return worldDir
}

// BenchmarkLoad is the reading of the manifests alone; BenchmarkEvaluate
// the evaluation of what they describe; BenchmarkRun both, as `check` does.
func BenchmarkLoad(b *testing.B) {
	dir := benchWorld(b)
	for b.Loop() {
		_, err := manifest.Load([]string{dir}, manifest.Options{})
		require.NoError(b, err)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	docs, err := manifest.Load([]string{benchWorld(b)}, manifest.Options{})
	require.NoError(b, err)
	for b.Loop() {
		_, err := Evaluate(docs, nil)
		require.NoError(b, err)
	}
}

func BenchmarkRun(b *testing.B) {
	dir := benchWorld(b)
	for b.Loop() {
		_, err := Run([]string{dir}, manifest.Options{}, nil)
		require.NoError(b, err)
	}
}

// TestEvaluateInParallelMatchesOneByOne: the findings of a world evaluated
// on every core are those of its subjects evaluated one by one, in the
// same order (run it with -race too).
func TestEvaluateInParallelMatchesOneByOne(t *testing.T) {
	small := worldgen.Tenth
	dir := filepath.Join(t.TempDir(), "world")
	_, err := worldgen.WriteManifests(dir, small)
	require.NoError(t, err)
	docs, err := manifest.Load([]string{dir}, manifest.Options{})
	require.NoError(t, err)
	res, err := Evaluate(docs, nil)
	require.NoError(t, err)

	w, err := BuildWorld(docs)
	require.NoError(t, err)
	var want []rules.Finding
	for _, obj := range w.Subjects {
		r, err := validate.Evaluate(context.Background(), validate.Request{Operation: validate.Create, Object: obj}, w.Store, validate.Options{})
		require.NoError(t, err)
		want = append(want, r.Findings...)
	}
	require.NotEmpty(t, want, "the generated world has findings to compare")
	assert.Equal(t, want, res.Findings)
}
