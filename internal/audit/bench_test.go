package audit_test

import (
	"context"
	"sync"
	"testing"

	"github.com/go-logr/logr"

	"github.com/ta-guard/ta-guard/internal/audit"
	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/test/worldgen"
)

var (
	worldsOnce sync.Once
	worlds     map[string]*cluster.Store
)

func world(name string) *cluster.Store {
	worldsOnce.Do(func() {
		worlds = map[string]*cluster.Store{"full": worldgen.Generate(worldgen.Full), "tenth": worldgen.Generate(worldgen.Tenth)}
	})
	return worlds[name]
}

// BenchmarkAudit is one full audit's evaluation of the generated world
// (10,000 Services, 2,000 ServiceMonitors, 500 PodMonitors, 50 collectors at
// full scale): every subject through the engine, no API writes.
func BenchmarkAudit(b *testing.B) {
	for _, scale := range []string{"full", "tenth"} {
		b.Run(scale, func(b *testing.B) {
			a := &audit.Auditor{View: world(scale), Log: logr.Discard()}
			fs, n, err := a.Evaluate(context.Background())
			if err != nil || n == 0 {
				b.Fatalf("audit: %d objects, %v", n, err)
			}
			b.ReportMetric(float64(n), "objects")
			b.ReportMetric(float64(len(fs)), "findings")
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := a.Evaluate(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
