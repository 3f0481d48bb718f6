package docker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/hashicorp/go-hclog"

	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

const driverName = "docker"

// Options configure one Docker endpoint.
type Options struct {
	// Name is the docker block's label in the agent config ("local"); it
	// names the endpoint in members and errors.
	Name string
	// Host is the engine address: unix:///var/run/docker.sock or
	// tcp://host:2376. Empty: DOCKER_HOST and friends, else the default
	// socket.
	Host string
	// TLS, when set, are the client certificate files for a tcp Host.
	TLS *config.TLSFiles
	// OptInLabel must be "true" on a container for tumult to touch it.
	// Default config.DefaultOptInLabel.
	OptInLabel string
	// Protect: containers carrying any of these label pairs are never
	// touched.
	Protect map[string]string
	// SelfID is tumult's own container ID (or a prefix of at least 12
	// characters). Empty: detected from /proc when tumult runs in a
	// container, best effort.
	SelfID string
	// Logger defaults to a null logger.
	Logger hclog.Logger

	// CallTimeout bounds each engine call that has no wait of its own
	// (list, inspect, kill, pause, start, …), so that a hung engine cannot
	// hang the scheduler even under a context without deadline. Stop and
	// restart get the fault's timeout on top. Default 30s.
	CallTimeout time.Duration
	// DownWait bounds how long Inject waits for a container that was sent
	// a kill signal other than SIGKILL to go down. Default 10s.
	DownWait time.Duration
	// RestartWait bounds how long Restore waits for a container that its
	// restart policy is bringing back. Default 1m.
	RestartWait time.Duration
	// PollInterval is how often waits re-inspect. Default 200ms.
	PollInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	// HelperImage is the image helper containers (network, partition and
	// stress faults) run from; it must be on the engine already, since
	// nothing is pulled. Empty: tumult builds its own on the engine from
	// HelperBinary.
	HelperImage string
	// HelperBinary is the static tumult binary the helper image is built
	// from. Empty: the running executable.
	HelperBinary string
	// ForceNetfilter makes network faults take the netfilter path even
	// where the kernel has netem (to test that path anywhere).
	ForceNetfilter bool
}

// engine is the part of the Docker client the driver uses.
type engine interface {
	Ping(ctx context.Context) (types.Ping, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerKill(ctx context.Context, containerID, signal string) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerRestart(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerPause(ctx context.Context, containerID string) error
	ContainerUnpause(ctx context.Context, containerID string) error
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	Close() error
}

// Target is one Docker engine endpoint.
type Target struct {
	opts Options
	cli  engine
	log  hclog.Logger

	mu sync.Mutex
	// faults remembers, per container ID, what a container looked like
	// before tumult's fault and after tumult's restore, so that Restore
	// can tell "came back by itself" from "never went down" and answer the
	// same way when called twice. It is lost on restart; Restore then
	// falls back on what inspect alone shows (see Restore).
	faults map[string]*faultRecord

	// hcli runs helper containers; nil for engines faked in unit tests.
	hcli    helperClient
	imageMu sync.Mutex
	image   string // the helper image, once known
	// sweepOnce removes leftover helpers before the first helper work.
	sweepOnce sync.Once
}

var _ targets.Target = (*Target)(nil)

// New makes a Target. It does not contact the engine; Ping does.
func New(opts Options) (*Target, error) {
	var copts []client.Opt
	if opts.Host == "" {
		copts = append(copts, client.FromEnv)
	} else {
		copts = append(copts, client.WithHost(opts.Host))
	}
	if opts.TLS != nil {
		copts = append(copts, client.WithTLSClientConfig(opts.TLS.CAFile, opts.TLS.CertFile, opts.TLS.KeyFile))
	}
	copts = append(copts, client.WithAPIVersionNegotiation())
	cli, err := client.NewClientWithOpts(copts...)
	if err != nil {
		return nil, fmt.Errorf("docker endpoint %q: make client for %q: %w", opts.Name, opts.Host, err)
	}
	t := newTarget(opts, cli)
	t.hcli = realHelperClient{cli}
	return t, nil
}

func newTarget(opts Options, cli engine) *Target {
	if opts.OptInLabel == "" {
		opts.OptInLabel = config.DefaultOptInLabel
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	if opts.DownWait <= 0 {
		opts.DownWait = 10 * time.Second
	}
	if opts.RestartWait <= 0 {
		opts.RestartWait = time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger.Named("docker").With("endpoint", opts.Name)
	if opts.SelfID == "" {
		opts.SelfID = DetectSelfID()
		if opts.SelfID != "" {
			log.Info("running in a container; it is never a target", "self_id", targets.ShortID(opts.SelfID))
		}
	}
	return &Target{opts: opts, cli: cli, log: log, faults: map[string]*faultRecord{}}
}

// Close releases the client's connections.
func (t *Target) Close() error { return t.cli.Close() }

// Ping checks that the engine answers.
func (t *Target) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	if _, err := t.cli.Ping(ctx); err != nil {
		return t.fail("ping engine", err)
	}
	return nil
}

// List returns every container, in any state, that carries all of the
// selector's labels and whose name matches its regexp, sorted by name;
// tumult's own container is only counted in Fleet.Self.
func (t *Target) List(ctx context.Context, sel policies.Selector) (targets.Fleet, error) {
	if sel.Driver != "" && sel.Driver != policies.DriverDocker {
		return targets.Fleet{}, &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: "list containers",
			Class: targets.ErrRefused, Err: fmt.Errorf("selector is for driver %q", sel.Driver)}
	}
	args := filters.NewArgs()
	for k, v := range sel.Labels {
		args.Add("label", k+"="+v)
	}
	cctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	cs, err := t.cli.ContainerList(cctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return targets.Fleet{}, t.fail("list containers", err)
	}
	fleet := targets.Fleet{}
	for _, c := range cs {
		m, ok := t.member(c, sel)
		if !ok {
			continue
		}
		if m.Excluded == excludedSelf {
			fleet.Self++
			continue
		}
		fleet.Members = append(fleet.Members, m)
	}
	sort.Slice(fleet.Members, func(i, j int) bool { return fleet.Members[i].Name < fleet.Members[j].Name })
	fleet.Size = len(fleet.Members)
	return fleet, nil
}

// member turns a list entry into a Member, or reports that the selector
// does not match it. The engine filters by label already; checking again
// here keeps the rule in one pure place and guards against engines that
// ignore filters.
func (t *Target) member(c container.Summary, sel policies.Selector) (targets.Member, bool) {
	name := primaryName(c.Names)
	if !matchLabels(c.Labels, sel.Labels) {
		return targets.Member{}, false
	}
	if sel.Name != nil && !sel.Name.MatchString(name) {
		return targets.Member{}, false
	}
	state := string(c.State)
	health := healthFromStatus(c.Status)
	return targets.Member{
		Driver:   policies.DriverDocker,
		Endpoint: t.opts.Name,
		ID:       c.ID,
		Name:     name,
		Labels:   c.Labels,
		Healthy:  isHealthy(state, health),
		Status:   statusWord(state, health),
		Excluded: exclusion(c.Labels, c.ID, t.opts.OptInLabel, t.opts.Protect, t.opts.SelfID),
	}, true
}

// State inspects the member. A container that no longer exists is not an
// error: State.Exists is false.
func (t *Target) State(ctx context.Context, m targets.Member) (targets.State, error) {
	if err := t.own(m, "inspect"); err != nil {
		return targets.State{}, err
	}
	info, err := t.inspect(ctx, m)
	if errors.Is(err, targets.ErrGone) {
		return targets.State{Exists: false, Status: "gone"}, nil
	}
	if err != nil {
		return targets.State{}, err
	}
	return stateOf(info).public(), nil
}

// inspect reads the container's details.
func (t *Target) inspect(ctx context.Context, m targets.Member) (container.InspectResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	info, err := t.cli.ContainerInspect(ctx, m.ID)
	if err != nil {
		return container.InspectResponse{}, t.fail(op("inspect", m), err)
	}
	if info.ContainerJSONBase == nil || info.State == nil {
		return container.InspectResponse{}, &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: op("inspect", m),
			Err: errors.New("engine answered without container state")}
	}
	return info, nil
}

// own refuses members of other drivers or endpoints: the registry that
// routes members to targets has a bug if that happens, and acting on an ID
// from another engine would be acting on the wrong container.
func (t *Target) own(m targets.Member, verb string) error {
	if (m.Driver == "" || m.Driver == policies.DriverDocker) && (m.Endpoint == "" || m.Endpoint == t.opts.Name) && m.ID != "" {
		return nil
	}
	return &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: op(verb, m), Class: targets.ErrRefused,
		Err: fmt.Errorf("member %s belongs to %s endpoint %q", m.Key(), m.Driver, m.Endpoint)}
}

// fail wraps an engine error with where it happened and its class.
func (t *Target) fail(op string, err error) error {
	return &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: op, Class: classify(err), Err: err}
}

// op names an operation on a member for errors: "pause container web-2 (4f1c0a9e2b3d)".
func op(verb string, m targets.Member) string {
	return fmt.Sprintf("%s container %s (%s)", verb, m.Short(), targets.ShortID(m.ID))
}

// wait re-inspects the member every PollInterval until done says so, the
// limit passes or ctx ends. It returns the last inspection.
func (t *Target) wait(ctx context.Context, m targets.Member, limit time.Duration, what string,
	done func(containerState) bool) (containerState, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		info, err := t.inspect(ctx, m)
		if err != nil {
			return containerState{}, err
		}
		st := stateOf(info)
		if done(st) {
			return st, nil
		}
		timer := time.NewTimer(t.opts.PollInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			// The caller's cancellation is classed like any cancelled
			// call; running out of our own limit is a finding about the
			// container, not the endpoint, and has no class.
			var class error
			if parent.Err() != nil {
				class = targets.ErrUnreachable
			}
			return st, &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: op("wait for", m),
				Class: class, Err: fmt.Errorf("%s: still %s after %s: %w", what, st.status(), limit, ctx.Err())}
		case <-timer.C:
		}
	}
}
