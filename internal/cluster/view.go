// Package cluster is the read-only view of the cluster the rules evaluate
// against, and Store, its indexed in-memory implementation. The offline
// check fills a Store from manifests; the webhook fills one from informers.
package cluster

import (
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/model"
)

// View is what the rules may ask of the cluster. Implementations must be
// safe for concurrent readers; results are sorted by namespace and name and
// must not be modified.
type View interface {
	// Namespace returns the namespace, or nil when it does not exist (or,
	// in a partial view, is not described).
	Namespace(name string) *model.Namespace
	// Described reports whether the view knows everything in the namespace.
	// A live view describes every namespace; offline manifests describe only
	// the namespaces they declare or put objects in: elsewhere an object
	// that is not found is unknown, not absent. Described("") asks about
	// every namespace at once.
	Described(namespace string) bool
	// Services in the namespaces whose labels match sel.
	Services(ns model.NamespaceSet, sel labels.Selector) []*model.Service
	// Pods in the namespaces whose labels match sel.
	Pods(ns model.NamespaceSet, sel labels.Selector) []*model.Pod
	// ServicesOutside and PodsOutside return the first few (by namespace
	// and name) objects matching sel outside the namespaces: near-miss
	// hints, found in one pass without sorting every match.
	ServicesOutside(exclude model.NamespaceSet, sel labels.Selector, limit int) []*model.Service
	PodsOutside(exclude model.NamespaceSet, sel labels.Selector, limit int) []*model.Pod
	// Monitors of a kind, in any namespace, whose own labels match sel.
	Monitors(kind model.MonitorKind, sel labels.Selector) []*model.Monitor
	// MonitorsSelecting returns the monitors of a kind that look in
	// namespace ns and whose selector matches the labels l (of a Service
	// for ServiceMonitors, of a Pod for PodMonitors).
	MonitorsSelecting(kind model.MonitorKind, ns string, l map[string]string) []*model.Monitor
	// ReadersOf returns the active readers (TAs with prometheusCR on,
	// Prometheus, PrometheusAgent) that read the monitor.
	ReadersOf(m *model.Monitor) []*model.Reader
	// UnreadMonitors returns the monitors of a kind that no active reader
	// reads: ReadersOf is empty for each.
	UnreadMonitors(kind model.MonitorKind) []*model.Monitor
	// Allocators returns every Target Allocator.
	Allocators() []*model.Allocator
	// EndpointSlices of a Service (live only; offline views hold none).
	EndpointSlices(namespace, service string) []*model.EndpointSlice
}
