package nomad

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad/api"

	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// Reasons a member is excluded, as Member.Excluded shows them.
const (
	ExcludedNotOptedIn = "not opted in"
	ExcludedProtected  = "protected"
	ExcludedSelf       = "tumult itself"
)

// DefaultNamespace is used when a selector or member names none.
const DefaultNamespace = "default"

// Options configure one Nomad cluster.
type Options struct {
	// Name is the nomad block's label in the agent config; errors and
	// members carry it as their endpoint.
	Name string
	// Address of the Nomad HTTP API; empty uses NOMAD_ADDR or
	// http://127.0.0.1:4646. TLS settings come from the usual NOMAD_CACERT,
	// NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY and NOMAD_SKIP_VERIFY variables.
	Address string
	Region  string
	Token   string
	// OptInMeta is the job (or group or task) meta key that must be
	// "true"; default config.DefaultOptInLabel.
	OptInMeta string
	// Protect: a member whose meta carries any of these pairs is never
	// touched.
	Protect map[string]string
	// SelfAllocID is tumult's own allocation, never touched; default the
	// NOMAD_ALLOC_ID variable Nomad sets inside an allocation.
	SelfAllocID string
	Logger      hclog.Logger
	// PollInterval is how often Restore looks whether Nomad has brought a
	// member back; default DefaultPollInterval.
	PollInterval time.Duration
}

// DefaultPollInterval is how often Restore asks Nomad whether a member is
// back. It is the target's own, not an Alertmanager's poll: Nomad's API
// answers in milliseconds and a restore should be seen soon.
const DefaultPollInterval = time.Second

// Target is one Nomad cluster. It is safe for concurrent use.
type Target struct {
	opts   Options
	client *api.Client
	log    hclog.Logger
}

var _ targets.Target = (*Target)(nil)

// New makes a target for one cluster. It does not contact the cluster.
func New(opts Options) (*Target, error) {
	if opts.Name == "" {
		return nil, errors.New("nomad target: a name (the nomad block's label) is required")
	}
	if opts.OptInMeta == "" {
		opts.OptInMeta = config.DefaultOptInLabel
	}
	if opts.SelfAllocID == "" {
		opts.SelfAllocID = os.Getenv("NOMAD_ALLOC_ID")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	opts.Protect = maps.Clone(opts.Protect)

	cfg := api.DefaultConfig()
	if opts.Address != "" {
		cfg.Address = opts.Address
	}
	// The token and region are the config's business, not the
	// environment's: take them from the options even when empty.
	cfg.SecretID = opts.Token
	cfg.Region = opts.Region
	cfg.Namespace = ""
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("nomad cluster %q: make client for %s: %w", opts.Name, cfg.Address, err)
	}
	return &Target{
		opts:   opts,
		client: client,
		log:    opts.Logger.Named("nomad").With("cluster", opts.Name),
	}, nil
}

// Ping checks that the cluster answers and has a leader: GET
// /v1/status/leader, which needs no ACL token.
func (t *Target) Ping(ctx context.Context) error {
	var leader string
	if _, err := t.client.Raw().Query("/v1/status/leader", &leader, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return t.fail("ping cluster", classify(err), err)
	}
	if leader == "" {
		return t.fail("ping cluster", targets.ErrUnreachable, errors.New("the cluster has no leader"))
	}
	return nil
}

// List returns the non-terminal allocations of the selected job and
// groups. Fleet.Size is the sum of the groups' counts, less tumult's own
// allocation when it is one of them (counted in Fleet.Self instead).
func (t *Target) List(ctx context.Context, sel policies.Selector) (targets.Fleet, error) {
	ns := namespaceOr(sel.Namespace)
	op := fmt.Sprintf("list allocations of job %s/%s", ns, sel.Job)
	if sel.Job == "" {
		return targets.Fleet{}, t.fail(op, targets.ErrRefused, errors.New("the selector names no job"))
	}
	job, err := t.jobInfo(ctx, ns, sel.Job)
	if err != nil {
		return targets.Fleet{}, t.fail(op, classify(err), fmt.Errorf("read job: %w", err))
	}
	groups := map[string]*api.TaskGroup{}
	size := 0
	for _, tg := range job.TaskGroups {
		name := deref(tg.Name)
		if sel.Group != "" && name != sel.Group {
			continue
		}
		groups[name] = tg
		size += deref(tg.Count)
	}
	if sel.Group != "" && len(groups) == 0 {
		return targets.Fleet{}, t.fail(op, targets.ErrGone, fmt.Errorf("job has no task group %q", sel.Group))
	}

	stubs, _, err := t.client.Jobs().Allocations(sel.Job, false, t.query(ctx, ns))
	if err != nil {
		return targets.Fleet{}, t.fail(op, classify(err), err)
	}
	fleet := targets.Fleet{Size: size}
	for _, s := range stubs {
		tg := groups[s.TaskGroup]
		if tg == nil || !live(s.DesiredStatus, s.ClientStatus) {
			continue
		}
		if t.opts.SelfAllocID != "" && s.ID == t.opts.SelfAllocID {
			// tumult's own allocation is part of the group's count but
			// no capacity of the service: out of the fleet and its size.
			fleet.Self++
			fleet.Size = max(0, fleet.Size-1)
			continue
		}
		meta := effectiveMeta(job, tg, sel.Task)
		healthy, status := health(s.ClientStatus, s.DeploymentStatus, s.TaskStates, sel.Task)
		fleet.Members = append(fleet.Members, targets.Member{
			Driver:    policies.DriverNomad,
			Endpoint:  t.opts.Name,
			ID:        s.ID,
			Name:      s.Name,
			Namespace: ns,
			Job:       sel.Job,
			Group:     s.TaskGroup,
			Task:      sel.Task,
			Labels:    meta,
			Healthy:   healthy,
			Status:    status,
			Excluded:  t.exclusion(s.ID, meta),
		})
	}
	sort.Slice(fleet.Members, func(i, j int) bool {
		a, b := fleet.Members[i], fleet.Members[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	return fleet, nil
}

// State reports the allocation's state. An allocation Nomad no longer
// knows is reported as not existing, not as an error.
func (t *Target) State(ctx context.Context, m targets.Member) (targets.State, error) {
	a, err := t.allocInfo(ctx, m)
	if err != nil {
		if classify(err) == targets.ErrGone {
			return targets.State{Exists: false, Status: "gone"}, nil
		}
		return targets.State{}, t.fail(describe("read allocation", m), classify(err), err)
	}
	running := a.DesiredStatus == api.AllocDesiredStatusRun && !migrating(a) &&
		a.ClientStatus == api.AllocClientStatusRunning && tasksRunning(a.TaskStates, m.Task)
	healthy, status := health(a.ClientStatus, a.DeploymentStatus, a.TaskStates, m.Task)
	if !running && a.DesiredStatus != api.AllocDesiredStatusRun {
		status = a.ClientStatus + ", desired " + a.DesiredStatus
	}
	return targets.State{
		Exists:    true,
		Running:   running,
		Healthy:   running && healthy,
		Status:    status,
		StartedAt: startedAt(a.TaskStates, m.Task),
	}, nil
}

// exclusion says why tumult must never touch an allocation with this
// meta, or "" when it may.
func (t *Target) exclusion(allocID string, meta map[string]string) string {
	switch {
	case t.opts.SelfAllocID != "" && allocID == t.opts.SelfAllocID:
		return ExcludedSelf
	case t.protected(meta):
		return ExcludedProtected
	case meta[t.opts.OptInMeta] != "true":
		return ExcludedNotOptedIn
	}
	return ""
}

func (t *Target) protected(meta map[string]string) bool {
	for k, v := range t.opts.Protect {
		if got, ok := meta[k]; ok && got == v {
			return true
		}
	}
	return false
}

func (t *Target) query(ctx context.Context, namespace string) *api.QueryOptions {
	return (&api.QueryOptions{Namespace: namespace}).WithContext(ctx)
}

func (t *Target) jobInfo(ctx context.Context, namespace, jobID string) (*api.Job, error) {
	job, _, err := t.client.Jobs().Info(jobID, t.query(ctx, namespace))
	return job, err
}

func (t *Target) allocInfo(ctx context.Context, m targets.Member) (*api.Allocation, error) {
	return t.allocByID(ctx, namespaceOr(m.Namespace), m.ID)
}

func (t *Target) allocByID(ctx context.Context, namespace, id string) (*api.Allocation, error) {
	a, _, err := t.client.Allocations().Info(id, t.query(ctx, namespace))
	return a, err
}

// effectiveMeta merges job, group and (when named) task meta the way
// Nomad does for a task's environment: the inner level wins. So a group
// can opt out of a job-wide opt-in, or opt in alone.
func effectiveMeta(job *api.Job, tg *api.TaskGroup, task string) map[string]string {
	meta := maps.Clone(job.Meta)
	if meta == nil {
		meta = map[string]string{}
	}
	if tg == nil {
		return meta
	}
	maps.Copy(meta, tg.Meta)
	for _, tk := range tg.Tasks {
		if task != "" && tk.Name == task {
			maps.Copy(meta, tk.Meta)
		}
	}
	return meta
}

func findGroup(job *api.Job, name string) *api.TaskGroup {
	for _, tg := range job.TaskGroups {
		if deref(tg.Name) == name {
			return tg
		}
	}
	return nil
}

func hasTask(tg *api.TaskGroup, task string) bool {
	for _, tk := range tg.Tasks {
		if tk.Name == task {
			return true
		}
	}
	return false
}

// live: Nomad still means the allocation to run and it has not ended.
func live(desired, client string) bool {
	return desired == api.AllocDesiredStatusRun &&
		(client == api.AllocClientStatusPending || client == api.AllocClientStatusRunning)
}

// migrating: Alloc.Stop was accepted but the scheduler has not yet set
// the desired status to stop.
func migrating(a *api.Allocation) bool {
	return a.DesiredTransition.Migrate != nil && *a.DesiredTransition.Migrate
}

// health: running, the task (when named) running, and healthy where a
// deployment has said so.
func health(client string, ds *api.AllocDeploymentStatus, states map[string]*api.TaskState, task string) (bool, string) {
	if client != api.AllocClientStatusRunning {
		return false, client
	}
	if !tasksRunning(states, task) {
		return false, "running, task " + task + " not running"
	}
	if ds != nil && ds.Healthy != nil && !*ds.Healthy {
		return false, "running, unhealthy"
	}
	return true, client
}

// tasksRunning: the named task, or every task, is running. Task states
// the API did not report are not held against the allocation.
func tasksRunning(states map[string]*api.TaskState, task string) bool {
	for name, ts := range states {
		if (task == "" || name == task) && ts != nil && ts.State != "running" {
			return false
		}
	}
	return true
}

func startedAt(states map[string]*api.TaskState, task string) time.Time {
	var latest time.Time
	for name, ts := range states {
		if ts != nil && (task == "" || name == task) && ts.StartedAt.After(latest) {
			latest = ts.StartedAt
		}
	}
	return latest
}

func namespaceOr(ns string) string {
	if ns == "" {
		return DefaultNamespace
	}
	return ns
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
