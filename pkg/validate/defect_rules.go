package validate

import (
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// defects are TA301 and TA302: the parts of the object the model could not
// take as written. The other rules still run on the rest, so a collector
// with an invalid selector is still denied for what else is wrong with it.
func (ev *evaluation) defects(meta *model.Meta) {
	for _, d := range meta.Defects {
		id := rules.TA302
		if d.Invalid {
			id = rules.TA301
		}
		what, fix := defectText(d)
		ev.add(id, "", d.Field.String(), what, fix).Field = d.Field
	}
}
