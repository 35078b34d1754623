package validate

import "github.com/ta-guard/ta-guard/pkg/model"

// collectorPods is TA014 (live): the TA has targets to give and no collector
// pod it can see runs to receive them.
func (ev *evaluation) collectorPods(a *model.Allocator) {
	_ = a // issue 12, item 2: in progress
}
