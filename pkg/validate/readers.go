package validate

import "github.com/ta-guard/ta-guard/internal/model"

// readersOf is the view's ReadersOf, asked once per evaluation for the
// monitor under review: several rules need it, and it is the costliest
// look-up of a monitor's admission.
func (ev *evaluation) readersOf(m *model.Monitor) []*model.Reader {
	if ev.readersFor != m {
		ev.readers, ev.readersFor = ev.after.ReadersOf(m), m
	}
	return ev.readers
}

// allocatorsReading are the TAs that read the monitor, without the
// operator's copies of embedded TAs (their collector stands for them), and
// the readers that are not TAs (Prometheus, PrometheusAgent).
func (ev *evaluation) allocatorsReading(m *model.Monitor) (tas []*model.Allocator, others []*model.Reader) {
	for _, r := range ev.readersOf(m) {
		switch a := r.Owner(); {
		case !r.Active:
		case a == nil:
			others = append(others, r)
		case a.Standalone && EmbeddedCopy(ev.after, a):
		default:
			tas = append(tas, a)
		}
	}
	return tas, others
}
