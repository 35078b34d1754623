package model

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Field paths are shortened for one-line messages in two ways only, both
// here: to their last field, or relative to a part of the object the
// message already names.

// FieldLeaf is a field path's last field: "serviceMonitorSelector" for
// spec.targetAllocator.prometheusCR.serviceMonitorSelector.
func FieldLeaf(p *field.Path) string {
	s := p.String()
	return s[strings.LastIndexByte(s, '.')+1:]
}

// FieldUnder is the field path p (in its string form) relative to base
// when it lies under base, and p itself otherwise: "prometheusCR.enabled"
// for spec.targetAllocator.prometheusCR.enabled under spec.targetAllocator.
func FieldUnder(p, base string) string {
	if rest, ok := strings.CutPrefix(p, base+"."); ok {
		return rest
	}
	return p
}
