package model

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/pkg/rules"
)

// Ref names an object. It is the finding's (rules.Ref), the public
// contract; the model uses the same type.
type Ref = rules.Ref

// Meta is what every normalized object carries.
type Meta struct {
	Ref         Ref
	Labels      map[string]string
	Annotations map[string]string
	// Defects are the parts of the object that were not read as written;
	// the rest of it still is. Nothing an object holds stops it from being
	// judged: rules TA301 and TA302 report these.
	Defects []Defect
}

// Defect is a field of an object that was not read as written.
type Defect struct {
	Field *field.Path
	// Invalid: the TA and the Prometheus Operator cannot parse it either
	// (an invalid label selector; it selects nothing here). Otherwise the
	// field is past the limits ta-guard judges within and is left out.
	Invalid bool
	// Detail says what is wrong, or what the limit is.
	Detail string
}

// Object is any normalized object.
type Object interface {
	GetMeta() *Meta
}

// GetMeta implements Object.
func (m *Meta) GetMeta() *Meta { return m }

// AnnotationPrefix marks the only annotations ta-guard keeps (e.g. skip).
const AnnotationPrefix = "ta-guard.io/"

// keepOwnAnnotations drops foreign annotations: caches keep only what rules read.
func keepOwnAnnotations(a map[string]string) map[string]string {
	var out map[string]string
	for k, v := range a {
		if strings.HasPrefix(k, AnnotationPrefix) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// Namespace is a namespace and its labels.
type Namespace struct {
	Meta
	// LabelsKnown is false for a namespace known only because objects live
	// in it (offline, without a Namespace manifest): its labels are unknown,
	// not empty, so namespace label selectors cannot be judged against it.
	LabelsKnown bool
}
