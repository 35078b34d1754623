package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	pathpkg "path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ta-guard/ta-guard/internal/input"
	"github.com/ta-guard/ta-guard/internal/parallel"
)

// Loading the files and directories a user names: expanded, filtered,
// read within bounds, then split and decoded.

// Load reads every path: a file, a directory (walked recursively for .yaml,
// .yml and .json, in lexical order) or "-" for standard input.
func Load(paths []string, opts Options) ([]Doc, error) {
	opts = opts.withDefaults()
	budget := opts.MaxInputBytes
	// Files are read one after another (the budget is spent in input
	// order), split on every core, and all their documents decoded
	// together: a directory of small files keeps both cores as busy as one
	// large file.
	type file struct {
		name string
		data []byte
	}
	var files []file
	seen := map[string]bool{}
	// walked are the files a directory walk found, rather than named.
	walked := map[string]bool{}
	var readErr error
read:
	for _, p := range paths {
		names, fromDir, err := expand(p, opts.Skipped, opts.Exclude)
		if err != nil {
			readErr = err
			break
		}
		if fromDir {
			for _, n := range names {
				walked[n] = true
			}
		}
		for _, f := range names {
			// A file named twice (or by a directory and by itself) is read
			// once: it is the same input, not a duplicate definition.
			id := f
			if abs, err := filepath.Abs(f); err == nil && f != "-" {
				id = abs
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			data, err := readFile(f, opts, &budget)
			if err != nil {
				readErr = err
				break read
			}
			files = append(files, file{f, data})
		}
	}
	type fileUnits struct {
		units []unit
		err   error
	}
	splits := parallel.Map(len(files), func(i int) fileUnits {
		us, err := splitStream(files[i].name, files[i].data)
		return fileUnits{us, err}
	})
	// The first problem in input order is the one reported, as a reading
	// one file after another would find it.
	var units []unit
	for _, sp := range splits {
		units = append(units, sp.units...)
		if sp.err != nil {
			return nil, firstError(units, opts.Namespace, sp.err)
		}
	}
	if readErr != nil {
		return nil, firstError(units, opts.Namespace, readErr)
	}
	for {
		docs, err := decodeUnits(units, opts.Namespace)
		var mk *missingKindError
		if err == nil || !errors.As(err, &mk) || !walked[mk.source] || !noManifest(units, mk.source, opts.Namespace) {
			return docs, err
		}
		// Each pass drops one file: at most as many passes as files.
		units = slices.DeleteFunc(units, func(u unit) bool { return u.seg.pos.Source == mk.source })
		if opts.Skipped != nil {
			opts.Skipped(fmt.Sprintf("%s: skipped: no document in it has apiVersion and kind, so it is no manifest", mk.source))
		}
	}
}

// noManifest reports whether every document of the file lacks apiVersion
// or kind.
func noManifest(units []unit, source, namespace string) bool {
	for _, u := range units {
		if u.seg.pos.Source != source {
			continue
		}
		var mk *missingKindError
		if _, err := u.decode(namespace); !errors.As(err, &mk) {
			return false
		}
	}
	return true
}

// firstError is err, unless a document read before it fails to decode: that
// one comes first in the input, and is what reading one by one would say.
func firstError(before []unit, namespace string, err error) error {
	if _, derr := decodeUnits(before, namespace); derr != nil {
		return derr
	}
	return err
}

func readFile(f string, opts Options, budget *int64) ([]byte, error) {
	var r io.Reader = opts.Stdin
	if f == "-" {
		if r == nil {
			return nil, errors.New("-: no standard input")
		}
	} else {
		fh, err := input.Open(f, opts.OpenTimeout)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	return readBounded(f, r, opts, budget)
}

// readBounded reads a whole file or stream, within the file bound and what
// is left of the input's.
func readBounded(f string, r io.Reader, opts Options, budget *int64) ([]byte, error) {
	limit := min(opts.MaxFileBytes, *budget)
	data, over, err := input.ReadAtMost(r, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	if over {
		if limit == opts.MaxFileBytes {
			return nil, fmt.Errorf("%s: larger than %s, the most a file may hold (--max-file-bytes)", f, input.Bytes(opts.MaxFileBytes))
		}
		return nil, fmt.Errorf("%s: the input reaches %s in total here, the most a run reads (--max-input-bytes)", f, input.Bytes(opts.MaxInputBytes))
	}
	*budget -= int64(len(data))
	return data, nil
}

// expand lists the files a path names, and whether a directory walk found
// them.
func expand(p string, skipped func(string), exclude []string) ([]string, bool, error) {
	if p == "-" {
		return []string{"-"}, false, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, false, err
	}
	if !st.IsDir() {
		return []string{p}, false, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != p && excluded(p, path, exclude) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		// Only regular files, a link to one included: a named pipe in the
		// tree would hang the run, a device could be endless.
		mode := d.Type()
		if mode&fs.ModeSymlink != 0 {
			target, err := os.Stat(path)
			if err != nil {
				if skipped != nil {
					skipped(fmt.Sprintf("%s: skipped: a symbolic link to nothing readable (%v)", path, err))
				}
				return nil
			}
			mode = target.Mode()
		}
		if !mode.IsRegular() {
			if skipped != nil {
				skipped(fmt.Sprintf("%s: skipped: %s, not a regular file", path, input.FileType(mode)))
			}
			return nil
		}
		out = append(out, path)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, false, fmt.Errorf("%s: no .yaml, .yml or .json files in the directory", p)
	}
	return out, true, nil
}

// excluded reports whether an entry of a walk of root matches a pattern,
// by its slash path below root or by its name.
func excluded(root, path string, patterns []string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	for _, pat := range patterns {
		if ok, _ := pathpkg.Match(pat, rel); ok {
			return true
		}
		if ok, _ := pathpkg.Match(pat, filepath.Base(path)); ok {
			return true
		}
	}
	return false
}
