package cli

import (
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/policy"
)

// webhookNameSuffix ends the name of ta-guard's webhooks in a
// ValidatingWebhookConfiguration (validate.ta-guard.io), whatever the
// release calls the configuration.
const webhookNameSuffix = ".ta-guard.io"

// runningPolicy finds the policy ta-guard's webhook runs with, as the
// cluster says it: the webhook configuration names ta-guard's Service; the
// Deployment behind it runs serve --policy=PATH; PATH is a file of a
// ConfigMap volume. It returns nil (the defaults) and where the answer
// came from; an error when the cluster does not say (several
// installations, a policy ta-guard may not read), which diagnose reports
// and then judges with the defaults.
func runningPolicy(ctx context.Context, cfg *rest.Config) (*policy.Policy, string, error) {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, "", err
	}
	var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := c.List(ctx, &vwcs); err != nil {
		return nil, "", fmt.Errorf("listing validating webhook configurations: %w", err)
	}
	services := map[client.ObjectKey]bool{}
	for _, v := range vwcs.Items {
		for _, w := range v.Webhooks {
			if s := w.ClientConfig.Service; strings.HasSuffix(w.Name, webhookNameSuffix) && s != nil {
				services[client.ObjectKey{Namespace: s.Namespace, Name: s.Name}] = true
			}
		}
	}
	switch len(services) {
	case 0:
		return nil, "the defaults: no ta-guard webhook is installed", nil
	case 1:
	default:
		var names []string
		for k := range services {
			names = append(names, k.String())
		}
		sort.Strings(names)
		return nil, "", fmt.Errorf("several ta-guard webhooks are installed (Services %s): name the policy with --policy", strings.Join(names, ", "))
	}
	var key client.ObjectKey
	for k := range services {
		key = k
	}
	var svc corev1.Service
	if err := c.Get(ctx, key, &svc); err != nil {
		return nil, "", fmt.Errorf("ta-guard's Service %s: %w", key, err)
	}
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, client.InNamespace(key.Namespace)); err != nil {
		return nil, "", fmt.Errorf("listing the Deployments of %s: %w", key.Namespace, err)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var behind []*appsv1.Deployment
	for i := range deps.Items {
		if len(svc.Spec.Selector) > 0 && sel.Matches(labels.Set(deps.Items[i].Spec.Template.Labels)) {
			behind = append(behind, &deps.Items[i])
		}
	}
	if len(behind) != 1 {
		return nil, "", fmt.Errorf("ta-guard's Service %s selects %d Deployments: name the policy with --policy", key, len(behind))
	}
	d := behind[0]
	where := fmt.Sprintf("Deployment %s/%s", d.Namespace, d.Name)
	for _, ctr := range d.Spec.Template.Spec.Containers {
		file, ok := policyArgument(append(append([]string(nil), ctr.Command...), ctr.Args...))
		if !ok {
			continue
		}
		if file == "" {
			return nil, "the defaults: " + where + " runs without --policy", nil
		}
		cm, item, err := configMapFile(d.Spec.Template.Spec.Volumes, ctr.VolumeMounts, file)
		if err != nil {
			return nil, "", fmt.Errorf("%s: --policy=%s: %w", where, file, err)
		}
		var m corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: cm}, &m); err != nil {
			return nil, "", fmt.Errorf("%s's policy, ConfigMap %s/%s: %w", where, d.Namespace, cm, err)
		}
		data, ok := m.Data[item]
		if !ok {
			return nil, "", fmt.Errorf("%s's policy: ConfigMap %s/%s has no key %q", where, d.Namespace, cm, item)
		}
		p, err := policy.Parse([]byte(data))
		if err != nil {
			return nil, "", fmt.Errorf("%s's policy, ConfigMap %s/%s: %w", where, d.Namespace, cm, err)
		}
		return p, fmt.Sprintf("ConfigMap %s/%s (key %s), which %s runs with", d.Namespace, cm, item, where), nil
	}
	return nil, "", fmt.Errorf("%s runs no ta-guard serve container", where)
}

// policyArgument reads serve's --policy from a container's command and
// arguments: ok when the container runs serve, file "" without --policy.
func policyArgument(args []string) (file string, ok bool) {
	serve := false
	for _, a := range args {
		serve = serve || a == "serve"
	}
	if !serve {
		return "", false
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	p := fs.String("policy", "", "")
	norm := make([]string, len(args))
	for i, a := range args {
		// serve reads its flags with Go's flag package: -policy is --policy.
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(a) > 2 {
			a = "-" + a
		}
		norm[i] = a
	}
	if fs.Parse(norm) != nil {
		return "", true
	}
	return *p, true
}

// configMapFile finds the ConfigMap volume a file is mounted from, and the
// ConfigMap key that file is.
func configMapFile(volumes []corev1.Volume, mounts []corev1.VolumeMount, file string) (configMap, key string, err error) {
	for _, m := range mounts {
		dir := strings.TrimSuffix(m.MountPath, "/")
		rel, ok := strings.CutPrefix(file, dir+"/")
		if !ok {
			if m.SubPath != "" && file == m.MountPath {
				rel, ok = m.SubPath, true
			}
		}
		if !ok {
			continue
		}
		for _, v := range volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			if m.SubPath != "" && file != m.MountPath {
				rel = path.Join(m.SubPath, rel)
			}
			for _, it := range v.ConfigMap.Items {
				if it.Path == rel {
					return v.ConfigMap.Name, it.Key, nil
				}
			}
			if len(v.ConfigMap.Items) > 0 {
				return "", "", fmt.Errorf("volume %s does not project %s", v.Name, rel)
			}
			return v.ConfigMap.Name, rel, nil
		}
		return "", "", fmt.Errorf("mounted from volume %s, which is no ConfigMap", m.Name)
	}
	return "", "", fmt.Errorf("no volume is mounted there")
}
