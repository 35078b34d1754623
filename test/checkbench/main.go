// Command checkbench times `ta-guard check` as a whole process on the
// generated world written as manifests (test/worldgen), at several
// scales, and in the same run OPA Gatekeeper's `gator test` with a two-rule
// Rego template of the same intent on the same files: a ServiceMonitor read
// by no collector's selector (TA101), and an endpoint port that no selected
// Service of the monitor's namespace names (TA103). It prints a Markdown
// table: wall time (median of -runs), peak RSS, and the ratio to gator.
//
//	make bench-check
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ta-guard/ta-guard/test/worldgen"
)

func main() {
	scales := flag.String("scales", "0.1,1,3", "world sizes, as multiples of the 10,000-Service world")
	runs := flag.Int("runs", 3, "runs of each command; the median is reported")
	taGuard := flag.String("ta-guard", "bin/ta-guard", "the ta-guard binary")
	gator := flag.String("gator", "", "the gator binary (hack/gator.sh); empty: ta-guard only")
	dir := flag.String("dir", "", "where the worlds are written (default: a temporary directory, removed)")
	baseline := flag.String("baseline", "", "another ta-guard binary (an earlier build) timed on the same files in the same run")
	flag.Parse()
	if err := run(*scales, *runs, *taGuard, *gator, *baseline, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "checkbench:", err)
		os.Exit(1)
	}
}

// sample is one command's cost.
type sample struct {
	wall time.Duration
	rss  int64 // bytes
	cpu  time.Duration
}

func run(scaleList string, runs int, taGuard, gator, baseline, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "checkbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	policyDir := filepath.Join(dir, "gator-policy")
	if gator != "" {
		if err := writeGatorPolicy(policyDir); err != nil {
			return err
		}
	}
	fmt.Println("| scale | objects | MiB of YAML | `ta-guard check` (median) | CPU | peak RSS | `gator test` (median) | CPU | peak RSS | check / gator |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, f := range strings.Split(scaleList, ",") {
		factor, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || factor <= 0 {
			return fmt.Errorf("-scales: %q is not a positive number", f)
		}
		s := scaled(factor)
		world := filepath.Join(dir, "world-"+strings.TrimSpace(f))
		n, err := worldgen.WriteManifests(world, s)
		if err != nil {
			return err
		}
		size, err := dirSize(world)
		if err != nil {
			return err
		}
		tg, err := median(runs, taGuard, "check", "-f", world)
		if err != nil {
			return err
		}
		row := fmt.Sprintf("| %g× | %d | %.1f | %s | %s | %d MiB |", factor, n, float64(size)/(1<<20),
			tg.wall.Round(time.Millisecond), tg.cpu.Round(time.Millisecond), tg.rss>>20)
		if baseline != "" {
			b, err := median(runs, baseline, "check", "-f", world)
			if err != nil {
				return err
			}
			fmt.Printf("| %g× baseline %s | | | %s | %s | %d MiB | | | | check / baseline %.2f× |\n", factor, filepath.Base(baseline),
				b.wall.Round(time.Millisecond), b.cpu.Round(time.Millisecond), b.rss>>20, tg.wall.Seconds()/b.wall.Seconds())
		}
		if gator != "" {
			g, err := median(runs, gator, "test", "-f", world, "-f", policyDir)
			if err != nil {
				return err
			}
			row += fmt.Sprintf(" %s | %s | %d MiB | %.3f× |", g.wall.Round(time.Millisecond), g.cpu.Round(time.Millisecond), g.rss>>20,
				tg.wall.Seconds()/g.wall.Seconds())
		} else {
			row += " – | – | – | – |"
		}
		fmt.Println(row)
	}
	return nil
}

// scaled is the world (worldgen.Full) times factor: namespaces and
// collectors scale, what a namespace holds does not.
func scaled(factor float64) worldgen.Scale {
	s := worldgen.Full
	s.Name = fmt.Sprintf("%g", factor)
	s.Namespaces = max(s.NamespacesPerTeam, int(float64(s.Namespaces)*factor))
	s.Collectors = min(s.Teams(), max(1, int(float64(worldgen.Full.Collectors)*factor)))
	s.NamespaceScopedCollectors = min(s.NamespaceScopedCollectors, s.Collectors)
	return s
}

// median runs the command runs times and returns the run of median wall
// time. Exit status 1 (findings, or gator's violations) is an answer; any
// other failure is an error.
func median(runs int, bin string, args ...string) (sample, error) {
	var all []sample
	for range runs {
		cmd := exec.Command(bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
			return sample{}, fmt.Errorf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, tail(stderr.String()))
		}
		ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		s := sample{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
		if ru != nil {
			s.rss = ru.Maxrss << 10 // kB on Linux
		}
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].wall < all[j].wall })
	return all[len(all)/2], nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return err
	})
	return n, err
}

// writeGatorPolicy writes the ConstraintTemplate and its Constraint. The
// Rego reads the other objects through data.inventory, which gator fills
// with every object it is given, as Gatekeeper's sync does in a cluster.
func writeGatorPolicy(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(gatorPolicy), 0o644)
}

const gatorPolicy = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: tamonitors
spec:
  crd:
    spec:
      names:
        kind: TAMonitors
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package tamonitors

        matches(sel, labels) {
          count({k | v := sel[k]; labels[k] == v}) == count(sel)
        }

        read_by_a_collector(sm) {
          c := data.inventory.namespace[_][_]["OpenTelemetryCollector"][_]
          sel := object.get(c, ["spec", "targetAllocator", "prometheusCR", "serviceMonitorSelector", "matchLabels"], {})
          matches(sel, object.get(sm.metadata, "labels", {}))
        }

        port_named(sm, port) {
          svc := data.inventory.namespace[sm.metadata.namespace]["v1"]["Service"][_]
          matches(object.get(sm.spec.selector, "matchLabels", {}), object.get(svc.metadata, "labels", {}))
          svc.spec.ports[_].name == port
        }

        violation[{"msg": msg}] {
          sm := input.review.object
          not read_by_a_collector(sm)
          msg := sprintf("ServiceMonitor %v/%v: read by no collector", [sm.metadata.namespace, sm.metadata.name])
        }

        violation[{"msg": msg}] {
          sm := input.review.object
          ep := sm.spec.endpoints[_]
          ep.port
          not port_named(sm, ep.port)
          msg := sprintf("ServiceMonitor %v/%v: no selected Service has port %v", [sm.metadata.namespace, sm.metadata.name, ep.port])
        }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: TAMonitors
metadata:
  name: ta-monitors
spec:
  match:
    kinds:
      - apiGroups: ["monitoring.coreos.com"]
        kinds: ["ServiceMonitor"]
`
