package deploy

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, COPY, ...
	Args string
}

type stage struct {
	From, Name string
	Ins        []instruction
}

func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	var stages []stage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			fields := strings.Fields(in.Args)
			var s stage
			for i := 0; i < len(fields); i++ {
				switch {
				case strings.HasPrefix(fields[i], "--"):
				case strings.EqualFold(fields[i], "AS") && i+1 < len(fields):
					s.Name = fields[i+1]
					i++
				default:
					s.From = fields[i]
				}
			}
			stages = append(stages, s)
			return
		}
		require.NotEmpty(t, stages, "%s before FROM", in.Cmd)
		stages[len(stages)-1].Ins = append(stages[len(stages)-1].Ins, in)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	require.NoError(t, sc.Err())
	flush()
	return stages
}

// buildInfo is what `go version -m` says of a binary, without the lines
// that depend on where it was built (VCS stamps, the binary's own path).
func buildInfo(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var keep []string
	for _, l := range strings.Split(string(out), "\n")[1:] {
		if strings.Contains(l, "\tvcs.") {
			continue
		}
		keep = append(keep, strings.TrimSpace(l))
	}
	return strings.Join(keep, "\n")
}

// dockerignore is the build context's filter, with Docker's semantics for
// the patterns it uses: the last matching pattern wins, a pattern matching
// a directory matches what is inside, ** spans directories.
type dockerignore []struct {
	re     *regexp.Regexp
	negate bool
}

func loadDockerignore(t *testing.T) dockerignore {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	require.NoError(t, err)
	var d dockerignore
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		negate := strings.HasPrefix(line, "!")
		p := path.Clean(strings.TrimPrefix(strings.TrimPrefix(line, "!"), "/"))
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case p[i] == '*':
				re.WriteString("[^/]*")
			case p[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(p[i])))
			}
		}
		re.WriteString("$")
		d = append(d, struct {
			re     *regexp.Regexp
			negate bool
		}{regexp.MustCompile(re.String()), negate})
	}
	return d
}

// excluded reports whether a context path (slash-separated) is left out.
func (d dockerignore) excluded(p string) bool {
	out := false
	for _, pat := range d {
		for q := p; q != "." && q != "/"; q = path.Dir(q) {
			if pat.re.MatchString(q) {
				out = !pat.negate
				break
			}
		}
	}
	return out
}

// imageBuild is the Dockerfile's build stage, run here: the context as
// .dockerignore filters it, the stage's ARG, WORKDIR, COPY and RUN
// instructions in a scratch root, for this machine's architecture (no
// Docker engine needed). bin is the file the final stage copies into the
// image.
var imageBuild struct {
	once sync.Once
	bin  string
	err  error
}

const imageVersion = "deploy-test-version"

func imageBinary(t *testing.T) string {
	t.Helper()
	imageBuild.once.Do(func() { imageBuild.bin, imageBuild.err = emulateBuild(t) })
	require.NoError(t, imageBuild.err)
	return imageBuild.bin
}

func emulateBuild(t *testing.T) (string, error) {
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		return "", fmt.Errorf("want a build stage and a final stage, got %d stages", len(stages))
	}
	ignore := loadDockerignore(t)
	root, err := os.MkdirTemp("", "ta-guard-image-")
	if err != nil {
		return "", err
	}
	scratch.add(root) // the binary outlives the test that built it
	buildArgs := map[string]string{"TARGETOS": "linux", "TARGETARCH": runtime.GOARCH, "VERSION": imageVersion}
	env := os.Environ()
	workdir := root
	build := stages[0]
	for _, in := range build.Ins {
		switch in.Cmd {
		case "ARG":
			name, def, _ := strings.Cut(in.Args, "=")
			v, ok := buildArgs[name]
			if !ok {
				v = def
			}
			env = append(env, name+"="+v)
		case "WORKDIR":
			workdir = filepath.Join(root, in.Args)
			if err := os.MkdirAll(workdir, 0o755); err != nil {
				return "", err
			}
		case "COPY":
			srcs := strings.Fields(in.Args)
			dst := srcs[len(srcs)-1]
			for _, src := range srcs[:len(srcs)-1] {
				if err := copyFromContext(ignore, src, filepath.Join(workdir, dst), strings.HasSuffix(dst, "/")); err != nil {
					return "", fmt.Errorf("COPY %s: %w", in.Args, err)
				}
			}
		case "RUN":
			cmd := exec.Command("/bin/sh", "-c", in.Args)
			cmd.Dir, cmd.Env = workdir, env
			if out, err := cmd.CombinedOutput(); err != nil {
				return "", fmt.Errorf("RUN %s: %v\n%s", in.Args, err, out)
			}
		default:
			return "", fmt.Errorf("the emulation does not know %s", in.Cmd)
		}
	}
	for _, in := range stages[len(stages)-1].Ins {
		if in.Cmd == "COPY" && strings.HasPrefix(in.Args, "--from="+build.Name+" ") {
			f := strings.Fields(in.Args)
			bin := filepath.Join(root, f[1])
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("the final stage copies %s, which the build stage did not make", f[1])
			}
			return bin, nil
		}
	}
	return "", fmt.Errorf("the final stage copies nothing from stage %q", build.Name)
}

// copyFromContext copies src (a file or a directory's content) of the build
// context to dst, leaving out what .dockerignore excludes.
func copyFromContext(ignore dockerignore, src, dst string, dstIsDir bool) error {
	n := 0
	base := filepath.Join(repoRoot, filepath.Clean(src))
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		if ignore.excluded(filepath.ToSlash(rel)) {
			return nil
		}
		inner, _ := filepath.Rel(base, p)
		target := dst
		if inner != "." {
			target = filepath.Join(dst, inner)
		} else if dstIsDir {
			target = filepath.Join(dst, filepath.Base(p))
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		n++
		return os.WriteFile(target, data, 0o644)
	})
	if err == nil && n == 0 {
		err = fmt.Errorf("%s: nothing in the build context (.dockerignore)", src)
	}
	return err
}

// digest is an image reference's content pin, as `docker buildx imagetools
// inspect` prints it.
const digest = `sha256:[0-9a-f]{64}`

// TestDockerfile checks the image against `make build` and the Deployment,
// and runs its build stage here: the context holds what the binary needs,
// and the binary it makes carries the version given as a build argument.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	require.Len(t, stages, 2, "multi-stage: build, then the runtime image")
	build, final := stages[0], stages[1]

	t.Run("the builder's Go is go.mod's", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
		require.NoError(t, err)
		m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(data))
		require.NotNil(t, m)
		assert.Regexp(t, `^golang:`+regexp.QuoteMeta(m[1])+`@`+digest+`$`, build.From)
	})

	t.Run("every base image is pinned by digest", func(t *testing.T) {
		for _, s := range stages {
			assert.Regexp(t, `@`+digest+`$`, s.From, "stage %q: a tag alone can move under a rebuild", s.Name)
		}
	})

	t.Run("make build builds the image's binary", func(t *testing.T) {
		// Compared by what the binaries record of their build (go version
		// -m: flags, ldflags, CGO, target, dependencies), not by the text
		// of either file: the property is that both build the same program
		// the same way.
		img := buildInfo(t, imageBinary(t))
		bin := filepath.Join(t.TempDir(), "ta-guard")
		cmd := exec.Command("make", "-s", "build", "BIN="+bin, "VERSION="+imageVersion)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "MAKEFLAGS=", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, img, buildInfo(t, bin))
		assert.Contains(t, img, "path\tgithub.com/ta-guard/ta-guard/cmd/ta-guard")
		assert.Contains(t, img, "build\tCGO_ENABLED=0")
	})

	t.Run("the runtime image is distroless, static and nonroot", func(t *testing.T) {
		assert.Regexp(t, `^gcr\.io/distroless/static-debian\d+:nonroot@`+digest+`$`, final.From)
		got := map[string]string{}
		for _, in := range final.Ins {
			if in.Cmd != "COPY" {
				got[in.Cmd] = in.Args
			}
		}
		assert.Equal(t, map[string]string{"USER": "65532:65532", "ENTRYPOINT": `["/ta-guard"]`, "CMD": `["serve"]`}, got)
		d := renderedDeployment(t, render(t, "base"))
		assert.Equal(t, int64(65532), *d.Spec.Template.Spec.SecurityContext.RunAsUser, "the Deployment runs as the image's user")
		assert.Equal(t, "serve", d.container.Args[0])
		assert.Empty(t, d.container.Command, "the Deployment keeps the image's entrypoint")
	})

	t.Run("the build stage builds from the filtered context", func(t *testing.T) {
		bin := imageBinary(t)
		out, err := exec.Command(bin, "version").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, imageVersion, strings.TrimSpace(string(out)))
		ignore := loadDockerignore(t)
		for p, want := range map[string]bool{
			"go.mod": false, "internal/model/decode.go": false, "cmd/ta-guard/main.go": false, "internal/cli/main.go": false,
			"internal/model/model_test.go": true, "testdata/seed/collector.yaml": true, ".cache/k8s": true,
			".git/HEAD": true, "bin/ta-guard": true, "internal/webhook/handler.go": false, "config/webhook/base/deployment.yaml": true,
		} {
			assert.Equal(t, want, ignore.excluded(p), "excluded(%s)", p)
		}
	})
}
