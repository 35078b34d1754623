package cli

import (
	"context"
	"fmt"
	"io"

	"k8s.io/client-go/rest"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/diagnose"
	"github.com/ta-guard/ta-guard/internal/model"
)

// compareThroughProxy does the guide's step 2 for every diagnosed TA: it
// reads /scrape_configs and /jobs through the API server's service proxy
// (the user's own credentials) and sets them beside the prediction. A TA it
// cannot reach gets a note on stderr, and its prediction stands.
func compareThroughProxy(ctx context.Context, cfg *rest.Config, view cluster.View, d *diagnose.Diagnosis, stderr io.Writer) {
	for _, ad := range d.Allocators {
		for _, a := range view.Allocators() {
			if a.Ref != ad.Object {
				continue
			}
			svc := model.TAServiceName(a)
			c, err := diagnose.NewProxyTAClient(cfg, a.Ref.Namespace, svc, diagnose.TAServicePort)
			if err == nil {
				var cmp *diagnose.Comparison
				if cmp, err = diagnose.Compare(ctx, c, ad, a.StaticJobs, true); err == nil {
					d.AttachTA(ad, cmp)
					continue
				}
			}
			fmt.Fprintf(stderr, "note: %s: the running TA was not read (%v); the prediction stands\n", a.Ref, err)
		}
	}
}
