package validate

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// collectorPods is TA014 (live): the TA has targets to give and no collector
// pod to receive them, or gives them to collector pods that cannot scrape.
// The TA watches, in its own namespace only, the pods matching the selector
// labels of the one collector it serves (its owner, or the collector
// labelled opentelemetry.io/target-allocator: <name>). It counts a pod as a
// collector once it is scheduled to a node, and hands it targets while it
// runs (and for 30 s after a start that did not reach Running): the targets
// of a pod that is scheduled but Pending, or Running but not Ready, are
// handed out and not scraped.
//
// It speaks only once the TA itself runs (a Running pod of it): until then
// nothing is handed out, and the operator, which creates the TA's and the
// collector's workloads together, may simply not be done. The collector's
// pods exist within a second of its StatefulSet; a TA pod reaches Running
// only after scheduling and image pull: a Running TA without collector pods
// is a collector that cannot get any (quota, pod security, replicas: 0),
// not one that is starting.
func (ev *evaluation) collectorPods(a *model.Allocator) {
	if !ev.subjectExisted() {
		return // a new object: neither the TA nor its collector runs yet
	}
	ta, collectors := ev.taAndCollectors(a)
	if ta == nil || len(collectors) == 0 {
		return // no TA, or TA013's: nothing is attached to it
	}
	ns := ta.Ref.Namespace
	if !ev.after.Described(ns) {
		return
	}
	if !ta.PrometheusCR && ta.ScrapeConfigs == 0 && !hasScrapeConfigs(collectors) {
		return // TA006's: the TA refuses to start, it has nothing to hand out
	}
	if !ev.allocatorRuns(ta) {
		return
	}
	where := model.NamespaceSet{Names: []string{ns}}
	// Of the pods the TA counts, running are Running; idle get targets for
	// sure and do not scrape them (Running but not Ready, or scheduled and
	// never started: notStarted of them); starting are scheduled, started
	// and not Running, which the TA counts only for 30 s after their start.
	// unscheduled it does not count.
	var running, notStarted, unscheduled int
	var idle, starting []string
	for _, c := range collectors {
		for _, p := range ev.after.Pods(where, labels.SelectorFromSet(model.OperatorSelector(c.Ref, model.ComponentCollector))) {
			switch {
			case p.Terminated():
			case !p.Scheduled:
				unscheduled++
			case p.Phase == corev1.PodRunning:
				running++
				if p.Readiness == model.NotReady {
					idle = append(idle, notReadyPodText(p.Ref.Name))
				}
			case !p.Started:
				notStarted++
				idle = append(idle, notStartedPodText(p.Ref.Name, p.Phase))
			default:
				starting = append(starting, startingPodText(p.Ref.Name, p.Phase))
			}
		}
	}
	switch {
	case running == 0 && len(idle) == 0 && len(starting) == 0:
		ev.noCollectorPods(a, ta, collectors, unscheduled)
	case running == 0:
		// Whether the TA still counts them or not, nothing is scraped.
		ev.collectorPodsIdle(a, ta, collectors, ta014NotRunningText(a, ta, ns, idle, starting))
	case len(idle) > 0:
		// Beside Running pods, a starting one loses its targets to them
		// within 30 s: only the idle ones are certain.
		ev.collectorPodsIdle(a, ta, collectors, ta014IdleText(a, ta, ns, idle, running+notStarted))
	default:
		ev.pass(rules.TA014, "", func() string { return ta014PassText(running, ns, collectors) })
	}
}

// collectorPodsIdle is TA014 for collector pods that get targets and do
// not scrape them.
func (ev *evaluation) collectorPodsIdle(a, ta *model.Allocator, collectors []*model.Allocator, what string) {
	related := collectorRelated(a, ta, collectors)
	ev.add(rules.TA014, "", "", what, ta014IdleFix(ta, collectors)).Related = related
}

func (ev *evaluation) noCollectorPods(a, ta *model.Allocator, collectors []*model.Allocator, unscheduled int) {
	related := collectorRelated(a, ta, collectors)
	what, fix := ta014NoPodsText(a, ta, collectors, unscheduled)
	ev.add(rules.TA014, "", "", what, fix).Related = related
}

// collectorRelated are the objects related to a TA014 finding: the TA and
// the collectors but the subject, and the workloads that run the
// collectors' pods (collectorPodsFix says how to look at them).
func collectorRelated(a, ta *model.Allocator, collectors []*model.Allocator) []rules.Related {
	var related []rules.Related
	if a != ta {
		related = append(related, rules.Related{Ref: ta.Ref, Role: rules.RoleReader})
	}
	for _, c := range collectors {
		if c != a {
			related = append(related, rules.Related{Ref: c.Ref, Role: rules.RoleCollector})
		}
		if c.Mode == "sidecar" {
			// Injected sidecars carry only sidecar.opentelemetry.io/injected.
			continue
		}
		related = append(related, rules.Related{Ref: collectorWorkload(c), Role: rules.RoleWorkload})
	}
	return related
}

// subjectExisted reports whether the subject was in the cluster before the
// request. A webhook CREATE is of an object no controller has acted on yet;
// an audit or diagnose evaluates objects that exist as CREATEs too, and
// those are what TA014 is for.
func (ev *evaluation) subjectExisted() bool {
	if ev.req.Operation != Create {
		return true
	}
	o, ok := ev.after.(*overlay)
	if !ok {
		return false
	}
	for _, a := range o.base.Allocators() {
		if a.Ref.Key() == ev.ref.Key() {
			return true
		}
	}
	return false
}

// taAndCollectors returns the TA the subject concerns and the collectors whose pods
// that TA hands its targets to; a nil TA when there is none to judge here.
func (ev *evaluation) taAndCollectors(a *model.Allocator) (*model.Allocator, []*model.Allocator) {
	switch {
	case a.Attached():
		for _, t := range ev.after.Allocators() {
			if t.Standalone && t.Ref.Namespace == a.Ref.Namespace && t.Ref.Name == a.AttachedTo {
				if EmbeddedCopy(ev.after, t) {
					// The operator gives such a TA its owner's pods, not ours.
					return nil, nil
				}
				return t, AttachedCollectors(ev.after, t)
			}
		}
		return nil, nil // TA012's
	case a.Standalone:
		if EmbeddedCopy(ev.after, a) {
			return nil, nil // judged on its collector
		}
		return a, AttachedCollectors(ev.after, a)
	case a.Enabled && a.Mode != "sidecar":
		// An embedded TA on a sidecar is TA004's: the operator builds none.
		return a, []*model.Allocator{a}
	}
	return nil, nil
}

// allocatorRuns reports whether a pod of the TA is Running: only then does it hand
// out targets.
func (ev *evaluation) allocatorRuns(ta *model.Allocator) bool {
	where := model.NamespaceSet{Names: []string{ta.Ref.Namespace}}
	for _, p := range ev.after.Pods(where, labels.SelectorFromSet(model.OperatorSelector(ta.Ref, model.ComponentTA))) {
		if p.Phase == corev1.PodRunning {
			return true
		}
	}
	return false
}

// collectorWorkload is the workload the operator runs a collector's pods with.
func collectorWorkload(c *model.Allocator) model.Ref {
	kind := map[string]string{"daemonset": "DaemonSet", "statefulset": "StatefulSet"}[c.Mode]
	if kind == "" {
		kind = "Deployment"
	}
	return model.Ref{APIVersion: "apps/v1", Kind: kind, Namespace: c.Ref.Namespace, Name: c.Ref.Name + "-collector"}
}
