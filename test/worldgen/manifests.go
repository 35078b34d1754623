package worldgen

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// WriteManifests writes the world as a directory of YAML manifests, what
// `check` reads in a CI pipeline: one file per namespace (the Namespace,
// its Services and monitors) and one of the collectors. Pods are left out,
// as repositories hold their Deployments, not Pods: offline, a namespace's
// Pods are unknown. It returns the number of objects written.
func WriteManifests(dir string, s Scale) (int, error) {
	s.check()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	n := 0
	for i := 0; i < s.Namespaces; i++ {
		var objs []runtime.Object
		for _, x := range s.NamespaceObjects(i).All() {
			if _, pod := x.(*corev1.Pod); !pod {
				objs = append(objs, x)
			}
		}
		if err := writeYAML(filepath.Join(dir, NamespaceName(i)+".yaml"), objs); err != nil {
			return n, err
		}
		n += len(objs)
	}
	var cols []runtime.Object
	for c := 0; c < s.Collectors; c++ {
		cols = append(cols, s.Collector(c))
	}
	if err := writeYAML(filepath.Join(dir, "collectors.yaml"), cols); err != nil {
		return n, err
	}
	return n + len(cols), nil
}

func writeYAML(path string, objs []runtime.Object) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %T: %w", path, o, err)
		}
		fmt.Fprintln(w, "---")
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
