package validate

import "github.com/ta-guard/ta-guard/pkg/model"

// perNode is TA107: a per-node TA reads the monitor, but its targets run on
// no node.
func (ev *evaluation) perNode(m *model.Monitor) {
	_ = m // issue 12, item 3: in progress
}
