package validate

import (
	"context"

	"github.com/ta-guard/ta-guard/pkg/model"
)

// secretAccess is TA108 and TA109 (live): the Secrets a monitor's endpoints
// use must exist and be readable by the service account of every TA that
// reads the monitor.
func (ev *evaluation) secretAccess(ctx context.Context, m *model.Monitor, facts Facts) error {
	_, _, _ = ctx, m, facts // issue 12, item 4: in progress
	return nil
}
