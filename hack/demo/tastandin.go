package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// taStandIn answers the parts of the Target Allocator's HTTP API that the
// guide's step 2 reads: /scrape_configs (every configured job), /jobs (the
// jobs that have targets now) and /jobs/<escaped job>/targets (per
// collector pod). What it answers is set by the walk, as a TA's state.
type taStandIn struct {
	mu    sync.Mutex
	state taState
}

// taState is one answer of a TA: the configured jobs, each with the
// targets it hands to one collector pod (none: configured, not in /jobs).
type taState struct {
	collector string
	jobs      map[string][]string
}

func (s *taStandIn) set(st taState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = st
}

func (s *taStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	var body any
	switch p := r.URL.Path; {
	case p == "/scrape_configs":
		configs := map[string]map[string]string{}
		for job := range st.jobs {
			configs[job] = map[string]string{"job_name": job}
		}
		body = configs
	case p == "/jobs":
		links := map[string]map[string]string{}
		for job, targets := range st.jobs {
			if len(targets) > 0 {
				links[job] = map[string]string{"_link": "/jobs/" + url.PathEscape(job) + "/targets"}
			}
		}
		body = links
	case strings.HasPrefix(p, "/jobs/") && strings.HasSuffix(p, "/targets"):
		// Job names hold slashes, sent escaped (%2F): the path is
		// unescaped here, so the job is what lies between.
		job := strings.TrimSuffix(strings.TrimPrefix(p, "/jobs/"), "/targets")
		targets, ok := st.jobs[job]
		if !ok {
			http.NotFound(w, r)
			return
		}
		sorted := append([]string(nil), targets...)
		sort.Strings(sorted)
		type group struct {
			Targets []string          `json:"targets"`
			Labels  map[string]string `json:"labels"`
		}
		body = map[string]any{st.collector: map[string]any{
			"_link":   "/jobs/" + url.PathEscape(job) + "/targets?collector_id=" + st.collector,
			"targets": []group{{Targets: sorted, Labels: map[string]string{}}},
		}}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}
