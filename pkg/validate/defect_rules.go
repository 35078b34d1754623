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
		path := d.Field.String()
		var f *rules.Finding
		if d.Invalid {
			f = ev.add(rules.TA301, "", path, path+" is "+d.Detail+": nothing is read through it",
				"write a valid label selector: label values of at most 63 characters; operators In, NotIn, Exists, DoesNotExist")
		} else {
			f = ev.add(rules.TA302, "", path, "ta-guard does not judge "+path+" ("+d.Detail+"): the rules that read it were not applied",
				"split the object into smaller ones, or simplify the pattern")
		}
		f.Field = d.Field
	}
}
