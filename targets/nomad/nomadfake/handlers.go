package nomadfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// Bodies Nomad's HTTP agent answers with; errors are plain text.
const (
	allocNotFound    = "alloc not found"
	jobNotFound      = "job not found"
	resourceNotFound = "Resource not found"
	permissionDenied = "Permission denied"
	invalidMethod    = "Invalid method"
)

func (f *Fake) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/status/leader", only(isRead, f.statusLeader))
	mux.HandleFunc("/v1/job/{id}", only(isRead, f.jobInfo))
	mux.HandleFunc("/v1/job/{id}/allocations", only(isRead, f.jobAllocations))
	mux.HandleFunc("/v1/job/{id}/deployment", only(isRead, f.jobDeployment))
	mux.HandleFunc("/v1/allocations", only(isRead, f.allocList))
	mux.HandleFunc("/v1/allocation/{id}", only(isRead, f.allocInfo))
	mux.HandleFunc("/v1/allocation/{id}/stop", only(isWrite, f.allocStop))
	mux.HandleFunc("/v1/client/allocation/{id}/restart", only(isWrite, f.allocRestart))
	mux.HandleFunc("/v1/client/allocation/{id}/signal", only(isWrite, f.allocSignal))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusNotFound, resourceNotFound)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.intercept(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// intercept records the request, checks the token, plays queued
// failures and lets time pass on reads. It answers and returns true when
// the request must go no further.
func (f *Fake) intercept(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	if f.token != "" && requestToken(r) != f.token {
		plain(w, http.StatusForbidden, permissionDenied)
		return true
	}
	for i, fl := range f.fails {
		if fl.matches(r) {
			f.fails = append(f.fails[:i], f.fails[i+1:]...)
			plain(w, fl.status, fl.body)
			return true
		}
	}
	if r.Method == http.MethodGet {
		f.tickLocked()
	}
	return false
}

func requestToken(r *http.Request) string {
	if t := r.Header.Get("X-Nomad-Token"); t != "" {
		return t
	}
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (fl failure) matches(r *http.Request) bool {
	if fl.method != "" && !strings.EqualFold(fl.method, r.Method) {
		return false
	}
	if p, ok := strings.CutSuffix(fl.path, "*"); ok {
		return strings.HasPrefix(r.URL.Path, p)
	}
	return r.URL.Path == fl.path
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprint(w, body)
}

// reply writes v as JSON with Nomad's query meta headers. The caller
// holds f.mu, so v is marshalled from a consistent state.
func (f *Fake) reply(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		plain(w, http.StatusInternalServerError, err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Nomad-Index", strconv.FormatUint(f.index, 10))
	h.Set("X-Nomad-LastContact", "0")
	h.Set("X-Nomad-KnownLeader", "true")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func namespaceOf(r *http.Request) string {
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		return ns
	}
	return "default"
}

func isRead(r *http.Request) bool { return r.Method == http.MethodGet }

// isWrite: Nomad's agent takes PUT and POST alike for writes.
func isWrite(r *http.Request) bool {
	return r.Method == http.MethodPut || r.Method == http.MethodPost
}

// only answers Nomad's 405 to requests whose method ok refuses.
func only(ok func(*http.Request) bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !ok(r) {
			plain(w, http.StatusMethodNotAllowed, invalidMethod)
			return
		}
		h(w, r)
	}
}

// statusLeader answers as a one-server cluster does: the leader's RPC
// address. It needs no token in Nomad either.
func (f *Fake) statusLeader(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply(w, "127.0.0.1:4647")
}

func (f *Fake) jobInfo(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	job := f.jobs[jobKey{namespaceOf(r), r.PathValue("id")}]
	if job == nil {
		plain(w, http.StatusNotFound, jobNotFound)
		return
	}
	f.reply(w, job)
}

func (f *Fake) jobAllocations(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Nomad answers an empty list, not 404, for a job it does not know.
	out := []*api.AllocationListStub{}
	ns, id := namespaceOf(r), r.PathValue("id")
	for _, a := range f.allocs {
		if a.Namespace == ns && a.JobID == id {
			out = append(out, stub(a))
		}
	}
	sort.Sort(api.AllocIndexSort(out))
	f.reply(w, out)
}

// jobDeployment answers the job's latest deployment, summarised from the
// allocations' deployment health.
func (f *Fake) jobDeployment(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns, id := namespaceOf(r), r.PathValue("id")
	job := f.jobs[jobKey{ns, id}]
	if job == nil {
		f.reply(w, nil)
		return
	}
	d := &api.Deployment{
		ID:             "d0000000-0000-4000-8000-" + fmt.Sprintf("%012x", *job.CreateIndex),
		Namespace:      ns,
		JobID:          id,
		JobCreateIndex: *job.CreateIndex,
		Status:         "successful",
		TaskGroups:     map[string]*api.DeploymentState{},
		CreateIndex:    *job.CreateIndex,
		ModifyIndex:    f.index,
	}
	for _, tg := range job.TaskGroups {
		st := &api.DeploymentState{DesiredTotal: *tg.Count}
		for _, a := range f.allocs {
			if a.Namespace != ns || a.JobID != id || a.TaskGroup != *tg.Name || a.DesiredStatus != api.AllocDesiredStatusRun {
				continue
			}
			st.PlacedAllocs++
			if ds := a.DeploymentStatus; ds != nil && ds.Healthy != nil {
				if *ds.Healthy {
					st.HealthyAllocs++
				} else {
					st.UnhealthyAllocs++
				}
			}
		}
		if st.HealthyAllocs < st.DesiredTotal {
			d.Status = "running"
		}
		d.TaskGroups[*tg.Name] = st
	}
	f.reply(w, d)
}

func (f *Fake) allocList(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns := namespaceOf(r)
	prefix := r.URL.Query().Get("prefix")
	out := []*api.AllocationListStub{}
	for _, a := range f.allocs {
		if (ns == "*" || a.Namespace == ns) && strings.HasPrefix(a.ID, prefix) {
			out = append(out, stub(a))
		}
	}
	sort.Sort(api.AllocIndexSort(out))
	f.reply(w, out)
}

func (f *Fake) allocInfo(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.allocs[r.PathValue("id")]
	if a == nil {
		plain(w, http.StatusNotFound, allocNotFound)
		return
	}
	c := copyAlloc(a)
	c.Job = f.jobs[jobKey{a.Namespace, a.JobID}]
	f.reply(w, c)
}

func (f *Fake) allocStop(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.allocs[r.PathValue("id")]
	if a == nil {
		plain(w, http.StatusNotFound, allocNotFound)
		return
	}
	f.events = append(f.events, Event{Kind: "stop", AllocID: a.ID})
	evalID := f.stopLocked(a)
	f.reply(w, api.AllocStopResponse{EvalID: evalID, WriteMeta: api.WriteMeta{LastIndex: f.index}})
}

// genericResponse is the body of Nomad's client allocation endpoints
// (structs.GenericResponse).
type genericResponse struct{ Index uint64 }

func (f *Fake) allocRestart(w http.ResponseWriter, r *http.Request) {
	var req api.AllocationRestartRequest
	if err := decodeOptional(r, &req); err != nil {
		plain(w, http.StatusBadRequest, err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	a := f.allocs[id]
	if a == nil {
		plain(w, http.StatusNotFound, fmt.Sprintf("Unknown allocation %q", id))
		return
	}
	if req.TaskName != "" && a.TaskStates[req.TaskName] == nil {
		plain(w, http.StatusInternalServerError, "Could not find task runner for task: "+req.TaskName)
		return
	}
	if a.ClientStatus != api.AllocClientStatusRunning {
		plain(w, http.StatusInternalServerError, "Task not running")
		return
	}
	f.events = append(f.events, Event{Kind: "restart", AllocID: a.ID, Task: req.TaskName})
	f.restartLocked(a, req.TaskName)
	f.reply(w, genericResponse{Index: f.index})
}

func (f *Fake) allocSignal(w http.ResponseWriter, r *http.Request) {
	var req api.AllocSignalRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		plain(w, http.StatusBadRequest, "Failed to decode body: "+err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	a := f.allocs[id]
	if a == nil {
		plain(w, http.StatusNotFound, fmt.Sprintf("Unknown allocation %q", id))
		return
	}
	if req.Task != "" && a.TaskStates[req.Task] == nil {
		plain(w, http.StatusInternalServerError, "Task not found")
		return
	}
	if a.ClientStatus != api.AllocClientStatusRunning {
		plain(w, http.StatusInternalServerError, "Task not running")
		return
	}
	now := f.now().UnixNano()
	for name, ts := range a.TaskStates {
		if req.Task == "" || name == req.Task {
			ts.Events = append(ts.Events, &api.TaskEvent{
				Type: api.TaskSignaling, Time: now, Details: map[string]string{"signal": req.Signal},
			})
		}
	}
	f.touchLocked(a)
	f.events = append(f.events, Event{Kind: "signal", AllocID: a.ID, Task: req.Task, Signal: req.Signal})
	f.reply(w, genericResponse{Index: f.index})
}

// decodeOptional decodes a JSON body that may be absent, as Nomad's
// restart endpoint allows.
func decodeOptional(r *http.Request, v any) error {
	err := json.NewDecoder(r.Body).Decode(v)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
