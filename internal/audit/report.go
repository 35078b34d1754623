package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/pkg/rules"
)

// One PolicyReport per namespace, named ReportName: a namespace's owners find
// every TA blind spot of their namespace in one object, Policy Reporter groups
// by namespace anyway, and 500 namespaces make at most 500 reports, where one
// report per resource would make one for each of 10,000 Services.
const (
	ReportName = "ta-guard"
	Source     = "ta-guard"
	// ManagedBy labels the reports ta-guard owns.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	FieldOwner     = "ta-guard"
)

// ReportGVK is the Policy WG's PolicyReport.
var ReportGVK = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}

// OpenReportGVK is OpenReports' Report, the PolicyReport's successor
// (Kyverno writes it since 1.15): the same results, and the report's source
// at its top.
var OpenReportGVK = schema.GroupVersionKind{Group: "openreports.io", Version: "v1alpha1", Kind: "Report"}

// ReportAPIs says which report APIs the audit writes to.
type ReportAPIs string

const (
	// ReportsAuto writes OpenReports when the API server serves them, and
	// PolicyReports otherwise.
	ReportsAuto ReportAPIs = "auto"
	// ReportsBoth writes to each of the two the API server serves.
	ReportsBoth        ReportAPIs = "both"
	ReportsOpenReports ReportAPIs = "openreports"
	ReportsPolicy      ReportAPIs = "wgpolicyk8s"
)

// ParseReportAPIs reads the --report-api flag.
func ParseReportAPIs(s string) (ReportAPIs, error) {
	switch r := ReportAPIs(s); r {
	case ReportsAuto, ReportsBoth, ReportsOpenReports, ReportsPolicy:
		return r, nil
	}
	return "", fmt.Errorf("%q: want auto, both, openreports or wgpolicyk8s", s)
}

// candidates are the report kinds to write to, in order of preference,
// and whether to stop at the first one served.
func (r ReportAPIs) candidates() ([]schema.GroupVersionKind, bool) {
	switch r {
	case ReportsBoth:
		return []schema.GroupVersionKind{OpenReportGVK, ReportGVK}, false
	case ReportsOpenReports:
		return []schema.GroupVersionKind{OpenReportGVK}, true
	case ReportsPolicy:
		return []schema.GroupVersionKind{ReportGVK}, true
	}
	return []schema.GroupVersionKind{OpenReportGVK, ReportGVK}, true
}

// Report is the content of one namespace's PolicyReport.
type Report struct {
	Namespace string
	Results   []ReportResult
	Summary   Summary
}

// ReportResult is one result of a PolicyReport.
type ReportResult struct {
	Source    string            `json:"source"`
	Policy    string            `json:"policy"`
	Rule      string            `json:"rule"`
	Category  string            `json:"category"`
	Result    string            `json:"result"`
	Severity  string            `json:"severity"`
	Message   string            `json:"message"`
	Timestamp Timestamp         `json:"timestamp"`
	Resources []Resource        `json:"resources"`
	Props     map[string]string `json:"properties,omitempty"`
}

// Timestamp is when the finding was first seen (stable across audits, so an
// unchanged report is not rewritten).
type Timestamp struct {
	Seconds int64 `json:"seconds"`
	Nanos   int32 `json:"nanos"`
}

// Resource names the offending object.
type Resource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
}

// Summary counts results.
type Summary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

// result maps an action: deny is a failure, warn and audit are warnings.
func result(a rules.Action) (string, string) {
	switch a {
	case rules.Deny:
		return "fail", "high"
	case rules.Warn:
		return "warn", "medium"
	}
	return "warn", "low"
}

func buildReports(fs []rules.Finding, firstSeen map[rules.Identity]time.Time) map[string]*Report {
	out := map[string]*Report{}
	for _, f := range fs {
		ns := f.Object.Namespace
		r := out[ns]
		if r == nil {
			r = &Report{Namespace: ns}
			out[ns] = r
		}
		res, sev := result(f.Action)
		t := firstSeen[key(f)]
		item := ReportResult{
			Source: Source, Policy: f.Name, Rule: string(f.Rule), Category: "OpenTelemetry Target Allocator",
			Result: res, Severity: sev, Message: f.Message,
			Timestamp: Timestamp{Seconds: t.Unix()},
			Resources: []Resource{{APIVersion: f.Object.APIVersion, Kind: f.Object.Kind, Namespace: f.Object.Namespace, Name: f.Object.Name}},
		}
		if f.Job != "" {
			item.Props = map[string]string{"job": f.Job}
		}
		r.Results = append(r.Results, item)
		if res == "fail" {
			r.Summary.Fail++
		} else {
			r.Summary.Warn++
		}
	}
	for _, r := range out {
		sort.SliceStable(r.Results, func(i, j int) bool {
			a, b := r.Results[i], r.Results[j]
			if a.Resources[0].Kind+a.Resources[0].Name != b.Resources[0].Kind+b.Resources[0].Name {
				return a.Resources[0].Kind+"/"+a.Resources[0].Name < b.Resources[0].Kind+"/"+b.Resources[0].Name
			}
			return a.Rule < b.Rule
		})
	}
	return out
}

// object renders the report as the API object of kind gvk to apply.
func (r *Report) object(gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	results, err := toAny(r.Results)
	if err != nil {
		return nil, err
	}
	summary, err := toAny(r.Summary)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: map[string]any{"results": results, "summary": summary}}
	if gvk == OpenReportGVK {
		u.Object["source"] = Source
	}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(r.Namespace)
	u.SetName(ReportName)
	u.SetLabels(map[string]string{ManagedByLabel: Source})
	return u, nil
}

func toAny(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

// writeReports applies the reports that changed and deletes those of
// namespaces that are clean now, in each report API it writes to (APIs).
// With none of them served it logs once and writes nothing.
func (a *Auditor) writeReports(ctx context.Context, reports map[string]*Report) error {
	if a.Client == nil {
		return nil
	}
	kinds, first := a.APIs.candidates()
	var served []schema.GroupVersionKind
	for _, gvk := range kinds {
		if a.Mapper != nil {
			if _, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				continue
			}
		}
		served = append(served, gvk)
		if first {
			break
		}
	}
	a.mu.Lock()
	logIt := len(served) == 0 && !a.noReports
	a.noReports = len(served) == 0
	a.mu.Unlock()
	if logIt {
		a.Log.Info("no report CRD installed (openreports.io Report or wgpolicyk8s.io/v1alpha2 PolicyReport, as --report-api asks): audit reports skipped; install config/crd/policyreport or config/crd/openreports to get them")
	}
	var errs []error
	for _, gvk := range served {
		errs = append(errs, a.writeReportsOf(ctx, gvk, reports))
	}
	return errors.Join(errs...)
}

func (a *Auditor) writeReportsOf(ctx context.Context, gvk schema.GroupVersionKind, reports map[string]*Report) error {
	var errs []error
	for ns, r := range reports {
		u, err := r.object(gvk)
		if err != nil {
			return err
		}
		content, _ := json.Marshal(u.Object)
		key := gvk.Kind + "/" + ns
		a.mu.Lock()
		same := a.written[key] == string(content)
		a.mu.Unlock()
		if same {
			continue
		}
		if err := a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			errs = append(errs, err)
			continue
		}
		a.mu.Lock()
		a.written[key] = string(content)
		a.mu.Unlock()
	}
	// Reports of namespaces without findings go: results disappear when
	// the problem is fixed.
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := a.Client.List(ctx, list, client.MatchingLabels{ManagedByLabel: Source}); err != nil {
		errs = append(errs, err)
	} else {
		for i := range list.Items {
			item := &list.Items[i]
			if _, keep := reports[item.GetNamespace()]; keep || item.GetName() != ReportName {
				continue
			}
			if err := client.IgnoreNotFound(a.Client.Delete(ctx, item)); err != nil {
				errs = append(errs, err)
				continue
			}
			a.mu.Lock()
			delete(a.written, gvk.Kind+"/"+item.GetNamespace())
			a.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}
