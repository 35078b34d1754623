package rules

// Ref names an object in findings and messages.
type Ref struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
}

// Key identifies an object regardless of API version: a v1alpha1 and a
// v1beta1 collector of the same name are one object.
func (r Ref) Key() string { return r.Kind + "/" + r.Namespace + "/" + r.Name }

// NamespacedName is ns/name, or name for cluster-scoped objects.
func (r Ref) NamespacedName() string {
	if r.Namespace == "" {
		return r.Name
	}
	return r.Namespace + "/" + r.Name
}

// String is "Kind ns/name", the form messages use.
func (r Ref) String() string { return r.Kind + " " + r.NamespacedName() }
