package model

import (
	"io"
	"strings"

	"github.com/distribution/reference"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"
)

// Operators before v0.153 had no mtls field: mTLS between a TA and its
// collectors (and with it, credentials served as written) came with the
// feature gate operator.targetallocator.mtls and cert-manager, for every TA
// the operator ran (operator main.go and internal/config up to v0.152: the
// gate from --feature-gates, then the config file's feature-gates key or
// the FEATURE_GATES variable over it). v0.153 removed the gate. What a Pod
// or workload running the operator says of it is read here, for TA110.
const (
	// OperatorNameLabel is the label the operator's own manifests, its
	// OLM bundle and its Helm chart put on its Pods: how the rules find
	// them without reading every Pod.
	OperatorNameLabel = labelName

	mtlsGate         = "operator.targetallocator.mtls"
	featureGatesFlag = "feature-gates"
	featureGatesEnv  = "FEATURE_GATES"
	configFileFlag   = "config-file"
)

// mtlsGateGone is the first operator version without the gate.
var mtlsGateGone = version.MustParseSemantic("0.153.0")

// OTelOperator is what a Pod running the OpenTelemetry Operator says of it.
type OTelOperator struct {
	// MTLSGate: the operator may run its TAs with mTLS by the feature gate
	// (a version before v0.153, or one the image does not tell, with the
	// gate on or set where ta-guard cannot read it: a config file, a
	// variable from a ConfigMap).
	MTLSGate bool
}

// Two values for all Pods: a Pod keeps a pointer to one.
var (
	operatorGateOff = &OTelOperator{}
	operatorGateOn  = &OTelOperator{MTLSGate: true}
)

// OTelOperatorOf returns what a Pod spec says of the operator it runs (its
// first container of the operator's image), nil if it runs none.
func OTelOperatorOf(spec *corev1.PodSpec) *OTelOperator {
	for i := range spec.Containers {
		c := &spec.Containers[i]
		v, ok := operatorImage(c.Image)
		if !ok {
			continue
		}
		if v != nil && !v.LessThan(mtlsGateGone) {
			return operatorGateOff
		}
		if mtlsGateOn(c) {
			return operatorGateOn
		}
		return operatorGateOff
	}
	return nil
}

// operatorImage reports whether the image is the operator's (its last path
// element opentelemetry-operator, as in the upstream images and their
// mirrors), and its version when the tag is one.
func operatorImage(image string) (*version.Version, bool) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil, false
	}
	path := reference.Path(named)
	if path[strings.LastIndexByte(path, '/')+1:] != OperatorName {
		return nil, false
	}
	tagged, ok := named.(reference.Tagged)
	if !ok {
		return nil, true
	}
	v, err := version.ParseGeneric(tagged.Tag())
	if err != nil {
		return nil, true // latest, main, a build's own tag
	}
	return v, true
}

// OperatorImage is the image a cached operator Pod keeps: the operator's,
// of no version, so that the model reads the gate from the Pod's arguments
// alone (which the cache keeps only for the gate).
const OperatorImage = "ghcr.io/open-telemetry/opentelemetry-operator/opentelemetry-operator"

// OperatorGateArgs are the arguments a cached operator Pod keeps when the
// gate may be on. One slice for all Pods, never written to.
var OperatorGateArgs = []string{"--" + featureGatesFlag + "=" + mtlsGate}

// mtlsGateOn reads the gate as the operator would: --feature-gates, each
// occurrence a comma-separated list ("gate", "+gate", "-gate"), the later
// winning; then FEATURE_GATES over them. A config file, or a variable taken
// from elsewhere, may set it: then it may be on.
func mtlsGateOn(c *corev1.Container) bool {
	args := append(append([]string(nil), c.Command...), c.Args...)
	if len(args) > maxOperatorArguments {
		args = args[:maxOperatorArguments]
	}
	fs := pflag.NewFlagSet(OperatorName, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	gates := fs.StringArray(featureGatesFlag, nil, "")
	configFile := fs.String(configFileFlag, "", "")
	if fs.Parse(args) != nil {
		return true // unreadable: ta-guard cannot say it is off
	}
	on := false
	apply := func(list string) {
		for _, g := range strings.Split(list, ",") {
			g = strings.TrimSpace(g)
			switch strings.TrimPrefix(g, "+") {
			case mtlsGate:
				on = true
			case "-" + mtlsGate:
				on = false
			}
		}
	}
	for _, g := range *gates {
		apply(g)
	}
	if *configFile != "" {
		return true
	}
	// A variable of env wins over envFrom; of two, the later.
	var env *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == featureGatesEnv {
			env = &c.Env[i]
		}
	}
	switch {
	case env == nil && len(c.EnvFrom) > 0, env != nil && env.ValueFrom != nil:
		return true
	case env != nil:
		apply(env.Value) // "" overrides nothing
	}
	return on
}
