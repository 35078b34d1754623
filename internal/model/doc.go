// Package model is the normalized, read-only form of every object the rules
// reason about. Each source kind and API version is turned into these types
// exactly once, and that is where its semantics are decided: a nil v1beta1
// selector selects nothing, a nil or empty v1alpha1 map selects everything, a
// Prometheus with no namespace selector reads only its own namespace. The rule
// engine, the cluster index and the CLI see only this package's types.
package model
