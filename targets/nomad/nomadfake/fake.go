package nomadfake

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// DefaultStartAfter is how many read requests a new or restarted
// allocation stays pending for, unless SetStartAfter says otherwise.
const DefaultStartAfter = 2

// Event is one mutating call the fake accepted.
type Event struct {
	Kind    string // "stop", "restart" or "signal"
	AllocID string
	Task    string // restart and signal; empty for the whole allocation
	Signal  string // signal
}

// Fake is a Nomad HTTP API server backed by in-memory state. All methods
// are safe for concurrent use.
type Fake struct {
	srv *httptest.Server

	mu         sync.Mutex
	token      string
	jobs       map[jobKey]*api.Job
	allocs     map[string]*api.Allocation
	pending    map[string]int // alloc ID → reads until it runs; <0: until Settle
	startAfter int
	index      uint64
	seq        int
	fails      []failure
	events     []Event
	requests   []string
	now        func() time.Time
}

type jobKey struct{ ns, id string }

type failure struct {
	method, path string
	status       int
	body         string
}

// New starts a fake that is closed when the test ends.
func New(t testing.TB) *Fake {
	t.Helper()
	f := Start()
	t.Cleanup(f.Close)
	return f
}

// Start starts a fake; the caller must Close it.
func Start() *Fake {
	f := &Fake{
		jobs:       map[jobKey]*api.Job{},
		allocs:     map[string]*api.Allocation{},
		pending:    map[string]int{},
		startAfter: DefaultStartAfter,
		index:      1,
		now:        time.Now,
	}
	f.srv = httptest.NewServer(f.handler())
	return f
}

// URL is the fake's address, for api.Config.Address.
func (f *Fake) URL() string { return f.srv.URL }

// Close stops the server; later calls see a refused connection.
func (f *Fake) Close() { f.srv.Close() }

// Token makes the fake require this ACL token (X-Nomad-Token or
// Authorization: Bearer); any other answers 403 "Permission denied".
// The empty token turns ACLs off again.
func (f *Fake) Token(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.token = token
}

// SetStartAfter sets how many later read requests (any GET) a replacement
// or restarted allocation stays pending for: 0 starts it at once, a
// negative number holds it pending until Settle.
func (f *Fake) SetStartAfter(reads int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startAfter = reads
}

// Settle starts every pending allocation and task now.
func (f *Fake) Settle() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range f.pending {
		f.startLocked(id)
	}
}

// FailNext makes the next request that matches method and path answer
// with status and Nomad's usual body for it. An empty method matches any;
// a path ending in "*" matches by prefix. Failures queue up in order.
func (f *Fake) FailNext(method, path string, status int) {
	f.FailNextWith(method, path, status, defaultBody(status))
}

// FailNextWith is FailNext with a chosen plain-text body.
func (f *Fake) FailNextWith(method, path string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, failure{method: method, path: path, status: status, body: body})
}

func defaultBody(status int) string {
	switch status {
	case http.StatusForbidden:
		return "Permission denied"
	case http.StatusNotFound:
		return "Resource not found"
	case http.StatusInternalServerError:
		return "No cluster leader"
	case http.StatusConflict:
		return "conflict: allocation is being modified"
	case http.StatusBadRequest:
		return "Bad request"
	}
	return http.StatusText(status)
}

// AddJob registers a service job with the given job meta and, for each
// group, count running allocations, each running every task in tasks.
// Allocations are named job.group[i] as Nomad names them.
func (f *Fake) AddJob(namespace, jobID string, meta map[string]string, groups map[string]int, tasks []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if namespace == "" {
		namespace = "default"
	}
	f.index++
	job := &api.Job{
		ID:          new(jobID),
		Name:        new(jobID),
		Namespace:   new(namespace),
		Region:      new("global"),
		Type:        new("service"),
		Status:      new("running"),
		Stop:        new(false),
		Datacenters: []string{"dc1"},
		Meta:        maps.Clone(meta),
		CreateIndex: new(f.index),
		ModifyIndex: new(f.index),
		Version:     new(uint64(0)),
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		tg := &api.TaskGroup{Name: new(g), Count: new(groups[g])}
		for _, task := range tasks {
			tg.Tasks = append(tg.Tasks, &api.Task{Name: task, Driver: "docker"})
		}
		job.TaskGroups = append(job.TaskGroups, tg)
	}
	f.jobs[jobKey{namespace, jobID}] = job
	for _, tg := range job.TaskGroups {
		for i := range *tg.Count {
			a := f.newAllocLocked(job, tg, i, "")
			f.startLocked(a.ID)
		}
	}
}

// RemoveJob purges a job and its allocations, as `nomad job stop -purge`
// followed by garbage collection does.
func (f *Fake) RemoveJob(namespace, jobID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.jobs, jobKey{namespace, jobID})
	for id, a := range f.allocs {
		if a.Namespace == namespace && a.JobID == jobID {
			delete(f.allocs, id)
			delete(f.pending, id)
		}
	}
	f.index++
}

// SetJobMeta replaces a job's meta.
func (f *Fake) SetJobMeta(namespace, jobID string, meta map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if job := f.jobs[jobKey{namespace, jobID}]; job != nil {
		job.Meta = maps.Clone(meta)
		f.index++
		job.ModifyIndex = new(f.index)
	}
}

// SetGroupMeta replaces a task group's meta.
func (f *Fake) SetGroupMeta(namespace, jobID, group string, meta map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tg := f.groupLocked(namespace, jobID, group); tg != nil {
		tg.Meta = maps.Clone(meta)
		f.index++
	}
}

// SetAllocHealthy sets the allocation's deployment health, as a
// deployment watcher does.
func (f *Fake) SetAllocHealthy(allocID string, healthy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.allocs[allocID]; a != nil {
		f.index++
		a.DeploymentStatus = &api.AllocDeploymentStatus{
			Healthy:     new(healthy),
			Timestamp:   f.now(),
			ModifyIndex: f.index,
		}
		a.ModifyIndex = f.index
	}
}

// SetClientStatus forces an allocation's client status (and its tasks'
// states to match), e.g. to make it pending, failed or complete. A
// pending allocation stays pending until Settle.
func (f *Fake) SetClientStatus(allocID, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.allocs[allocID]
	if a == nil {
		return
	}
	taskState := "dead"
	switch status {
	case api.AllocClientStatusRunning:
		taskState = "running"
	case api.AllocClientStatusPending:
		taskState = "pending"
	}
	for _, ts := range a.TaskStates {
		ts.State = taskState
		ts.Failed = status == api.AllocClientStatusFailed
	}
	a.ClientStatus = status
	delete(f.pending, allocID)
	if status == api.AllocClientStatusPending {
		f.pending[allocID] = -1
	}
	f.touchLocked(a)
}

// GC forgets an allocation, as Nomad's garbage collector does with old
// terminal allocations.
func (f *Fake) GC(allocID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.allocs, allocID)
	delete(f.pending, allocID)
	f.index++
}

// Alloc returns a copy of an allocation as the API would show it.
func (f *Fake) Alloc(allocID string) (api.Allocation, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.allocs[allocID]
	if a == nil {
		return api.Allocation{}, false
	}
	return *copyAlloc(a), true
}

// Allocs returns the IDs of a group's allocations in the given client
// status ("" for any), oldest first.
func (f *Fake) Allocs(namespace, jobID, group, clientStatus string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*api.Allocation
	for _, a := range f.allocs {
		if a.Namespace == namespace && a.JobID == jobID && a.TaskGroup == group &&
			(clientStatus == "" || a.ClientStatus == clientStatus) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex < out[j].CreateIndex })
	ids := make([]string, len(out))
	for i, a := range out {
		ids[i] = a.ID
	}
	return ids
}

// Events returns the stops, restarts and signals the fake accepted, in
// order.
func (f *Fake) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

// Count returns how many events of the kind ("stop", "restart",
// "signal") the fake accepted.
func (f *Fake) Count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// Requests returns every request as "METHOD /path", in order.
func (f *Fake) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *Fake) groupLocked(namespace, jobID, group string) *api.TaskGroup {
	job := f.jobs[jobKey{namespace, jobID}]
	if job == nil {
		return nil
	}
	for _, tg := range job.TaskGroups {
		if *tg.Name == group {
			return tg
		}
	}
	return nil
}

// newID makes unique, UUID-shaped IDs whose first 8 characters (Nomad's
// short ID) differ too.
func (f *Fake) newID() string {
	f.seq++
	h := uint32(f.seq) * 2654435761 // spread the counter over the short ID
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", h, f.seq&0xffff, f.seq&0xfff, (f.seq>>12)&0xfff, f.seq)
}

// newAllocLocked places a pending allocation for index idx of the group.
func (f *Fake) newAllocLocked(job *api.Job, tg *api.TaskGroup, idx int, previous string) *api.Allocation {
	f.index++
	now := f.now().UnixNano()
	a := &api.Allocation{
		ID:                 f.newID(),
		Namespace:          *job.Namespace,
		EvalID:             f.newID(),
		Name:               fmt.Sprintf("%s.%s[%d]", *job.ID, *tg.Name, idx),
		NodeID:             "9a1ec5c8-0000-4000-8000-000000000001",
		NodeName:           "client-1",
		JobID:              *job.ID,
		TaskGroup:          *tg.Name,
		DesiredStatus:      api.AllocDesiredStatusRun,
		ClientStatus:       api.AllocClientStatusPending,
		ClientDescription:  "No tasks have started",
		TaskStates:         map[string]*api.TaskState{},
		PreviousAllocation: previous,
		CreateIndex:        f.index,
		ModifyIndex:        f.index,
		AllocModifyIndex:   f.index,
		CreateTime:         now,
		ModifyTime:         now,
	}
	for _, task := range tg.Tasks {
		a.TaskStates[task.Name] = &api.TaskState{
			State:  "pending",
			Events: []*api.TaskEvent{{Type: api.TaskReceived, Time: now}},
		}
	}
	f.allocs[a.ID] = a
	f.pending[a.ID] = f.startAfter
	return a
}

// startLocked makes every pending task of the allocation run.
func (f *Fake) startLocked(allocID string) {
	delete(f.pending, allocID)
	a := f.allocs[allocID]
	if a == nil || a.DesiredStatus != api.AllocDesiredStatusRun {
		return
	}
	now := f.now()
	for _, ts := range a.TaskStates {
		if ts.State == "pending" {
			ts.State = "running"
			ts.StartedAt = now
			ts.Events = append(ts.Events, &api.TaskEvent{Type: api.TaskStarted, Time: now.UnixNano()})
		}
	}
	a.ClientStatus = api.AllocClientStatusRunning
	a.ClientDescription = "Tasks are running"
	f.touchLocked(a)
}

// tickLocked lets one read's worth of time pass.
func (f *Fake) tickLocked() {
	for id, n := range f.pending {
		switch {
		case n < 0:
		case n <= 1:
			f.startLocked(id)
		default:
			f.pending[id] = n - 1
		}
	}
}

func (f *Fake) touchLocked(a *api.Allocation) {
	f.index++
	a.ModifyIndex = f.index
	a.AllocModifyIndex = f.index
	a.ModifyTime = f.now().UnixNano()
}

// stopLocked does what Alloc.Stop and the scheduler do: the allocation is
// told to stop and migrate, its client reports it complete, and a
// replacement with the same name is placed.
func (f *Fake) stopLocked(a *api.Allocation) string {
	evalID := f.newID()
	if a.DesiredStatus != api.AllocDesiredStatusRun {
		return evalID // already stopping: Nomad only creates another eval
	}
	now := f.now()
	a.DesiredStatus = api.AllocDesiredStatusStop
	a.DesiredDescription = "alloc is being migrated"
	a.DesiredTransition = api.DesiredTransition{Migrate: new(true)}
	a.ClientStatus = api.AllocClientStatusComplete
	a.ClientDescription = "All tasks have completed"
	for _, ts := range a.TaskStates {
		ts.State = "dead"
		ts.FinishedAt = now
		ts.Events = append(ts.Events,
			&api.TaskEvent{Type: api.TaskKilling, Time: now.UnixNano()},
			&api.TaskEvent{Type: api.TaskKilled, Time: now.UnixNano()})
	}
	delete(f.pending, a.ID)
	f.touchLocked(a)

	job := f.jobs[jobKey{a.Namespace, a.JobID}]
	if job == nil {
		return evalID
	}
	tg := f.groupLocked(a.Namespace, a.JobID, a.TaskGroup)
	if tg == nil {
		return evalID
	}
	idx := 0
	if i := strings.LastIndexByte(a.Name, '['); i >= 0 {
		_, _ = fmt.Sscanf(a.Name[i:], "[%d]", &idx)
	}
	r := f.newAllocLocked(job, tg, idx, a.ID)
	a.NextAllocation = r.ID
	if f.startAfter == 0 {
		f.startLocked(r.ID)
	}
	return evalID
}

// restartLocked restarts one task, or all tasks when task is empty. The
// allocation keeps its ID; restarted tasks are pending until they start.
func (f *Fake) restartLocked(a *api.Allocation, task string) {
	now := f.now()
	for name, ts := range a.TaskStates {
		if task != "" && name != task {
			continue
		}
		ts.Restarts++
		ts.LastRestart = now
		ts.State = "pending"
		ts.Events = append(ts.Events,
			&api.TaskEvent{Type: api.TaskRestartSignal, Time: now.UnixNano(), DisplayMessage: "User requested task to restart"},
			&api.TaskEvent{Type: api.TaskRestarting, Time: now.UnixNano()})
	}
	running := false
	for _, ts := range a.TaskStates {
		running = running || ts.State == "running"
	}
	if !running {
		a.ClientStatus = api.AllocClientStatusPending
	}
	f.touchLocked(a)
	f.pending[a.ID] = f.startAfter
	if f.startAfter == 0 {
		f.startLocked(a.ID)
	}
}

func copyAlloc(a *api.Allocation) *api.Allocation {
	c := *a
	c.TaskStates = make(map[string]*api.TaskState, len(a.TaskStates))
	for k, ts := range a.TaskStates {
		tc := *ts
		tc.Events = slices.Clone(ts.Events)
		c.TaskStates[k] = &tc
	}
	if a.DeploymentStatus != nil {
		ds := *a.DeploymentStatus
		c.DeploymentStatus = &ds
	}
	return &c
}

func stub(a *api.Allocation) *api.AllocationListStub {
	c := copyAlloc(a)
	return &api.AllocationListStub{
		ID:                 c.ID,
		EvalID:             c.EvalID,
		Name:               c.Name,
		Namespace:          c.Namespace,
		NodeID:             c.NodeID,
		NodeName:           c.NodeName,
		JobID:              c.JobID,
		JobType:            "service",
		TaskGroup:          c.TaskGroup,
		DesiredStatus:      c.DesiredStatus,
		DesiredDescription: c.DesiredDescription,
		ClientStatus:       c.ClientStatus,
		ClientDescription:  c.ClientDescription,
		TaskStates:         c.TaskStates,
		DeploymentStatus:   c.DeploymentStatus,
		NextAllocation:     c.NextAllocation,
		CreateIndex:        c.CreateIndex,
		ModifyIndex:        c.ModifyIndex,
		CreateTime:         c.CreateTime,
		ModifyTime:         c.ModifyTime,
	}
}
