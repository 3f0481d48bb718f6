package harness

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
)

// FleetImage is the tag of the image BuildFleetImage builds.
const FleetImage = "tumult-fleet:test"

// FleetPort is the port integration/fleet listens on inside its container.
const FleetPort = 8080

// fleetDockerfile: FROM scratch, so it builds offline in seconds. The
// program is its own health-check client since the image has no shell.
const fleetDockerfile = `FROM scratch
COPY fleet /fleet
EXPOSE 8080
HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD ["/fleet","-check","http://127.0.0.1:8080/health"]
ENTRYPOINT ["/fleet"]
`

// RequireDocker returns a client for the local Docker engine (DOCKER_HOST
// or the default socket), or reports the engine Missing. The client is
// closed when the test ends.
func RequireDocker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		Missing(t, "Docker engine", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		_ = cli.Close()
		Missing(t, "Docker engine", err)
		return nil
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

var fleetImage struct {
	once sync.Once
	id   string
	err  error
}

// BuildFleetImage compiles integration/fleet statically and builds
// FleetImage from it, once per test process. It returns the image ID.
// A failure here is a broken build, not a missing component: it fails.
func BuildFleetImage(ctx context.Context, t testing.TB, cli *client.Client) string {
	t.Helper()
	fleetImage.once.Do(func() {
		fleetImage.id, fleetImage.err = buildFleetImage(ctx, cli)
	})
	if fleetImage.err != nil {
		t.Fatalf("build %s: %v", FleetImage, fleetImage.err)
	}
	return fleetImage.id
}

func buildFleetImage(ctx context.Context, cli *client.Client) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "tumult-fleet-")
	if err != nil {
		return "", fmt.Errorf("make build dir: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "fleet")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./integration/fleet")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./integration/fleet: %w\n%s", err, out)
	}
	tarball, err := buildContext(bin)
	if err != nil {
		return "", err
	}
	resp, err := cli.ImageBuild(ctx, tarball, build.ImageBuildOptions{
		Tags:        []string{FleetImage},
		Remove:      true,
		ForceRemove: true,
		Dockerfile:  "Dockerfile",
		Version:     build.BuilderV1,
		Labels:      map[string]string{"tumult.test": "fleet"},
	})
	if err != nil {
		return "", fmt.Errorf("image build: %w", err)
	}
	defer resp.Body.Close()
	// The build reports failures inside its stream, not as an HTTP error.
	var log strings.Builder
	dec := json.NewDecoder(resp.Body)
	for {
		var msg buildMessage
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("read build output: %w", err)
		}
		if msg.Error != nil || msg.ErrorText != "" {
			text := msg.ErrorText
			if msg.Error != nil && msg.Error.Message != "" {
				text = msg.Error.Message
			}
			return "", fmt.Errorf("image build: %s\n%s", text, log.String())
		}
		log.WriteString(msg.Stream)
	}
	img, err := cli.ImageInspect(ctx, FleetImage)
	if err != nil {
		return "", fmt.Errorf("inspect built image: %w\n%s", err, log.String())
	}
	return img.ID, nil
}

// buildMessage is one line of the engine's build output stream.
type buildMessage struct {
	Stream string `json:"stream"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	ErrorText string `json:"error"`
}

// moduleRoot is the directory of tumult's go.mod, wherever the test runs.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// buildContext is the in-memory tar the engine builds from.
func buildContext(bin string) (io.Reader, error) {
	prog, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read fleet binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(fleetDockerfile)},
		{"fleet", 0o755, prog},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	return &buf, nil
}

// FleetOptions say what StartFleet starts.
type FleetOptions struct {
	// Prefix names the containers <Prefix>-<i>, i from 1. Use Unique so
	// that tests do not see each other's containers.
	Prefix string
	// N is how many containers.
	N int
	// Labels go on every container.
	Labels map[string]string
	// RestartPolicy: "", "no", "always", "unless-stopped", "on-failure".
	RestartPolicy string
	// PublishPorts publishes 8080 on a random port of 127.0.0.1.
	PublishPorts bool
	// Healthcheck keeps the image's health check (every second); without
	// it the containers have none, which is cheaper for large fleets.
	Healthcheck bool
	// App is the fleet's app label on metrics; default Prefix.
	App string
	// Parallel is how many containers are created at once; default 4.
	Parallel int
	// Networks are further networks (e.g. from CreateNetwork) each
	// container joins besides the default bridge, where its port is
	// published.
	Networks []string
	// CPUs limits each container (docker run --cpus); 0 is no limit.
	CPUs float64
}

// Container is one started fleet member.
type Container struct {
	ID   string
	Name string
	// HostPort is the port on 127.0.0.1 that 8080 is published on; 0
	// when not published.
	HostPort int
}

// URL is the container's published base URL, http://127.0.0.1:port.
func (c Container) URL() string { return "http://127.0.0.1:" + strconv.Itoa(c.HostPort) }

// Unique returns base with a random suffix, for container names and label
// values that no other test (or earlier run) uses.
func Unique(base string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return base + "-" + hex.EncodeToString(b)
}

// StartFleet creates and starts opts.N containers of FleetImage (building
// it first when needed) and force-removes them when the test ends.
func StartFleet(ctx context.Context, t testing.TB, cli *client.Client, opts FleetOptions) []Container {
	t.Helper()
	image := BuildFleetImage(ctx, t, cli)
	if opts.Prefix == "" {
		t.Fatal("StartFleet: Prefix is required")
	}
	if opts.App == "" {
		opts.App = opts.Prefix
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	out := make([]Container, opts.N)
	errs := make([]error, opts.N)
	sem := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	for i := range opts.N {
		out[i].Name = fmt.Sprintf("%s-%d", opts.Prefix, i+1)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = startOne(ctx, cli, image, opts, &out[i])
		}()
	}
	wg.Wait()
	// Cleanup is registered for every container created, started or not.
	for _, c := range out {
		if c.ID != "" {
			t.Cleanup(func() { RemoveContainer(t, cli, c.ID) })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("start fleet %s: %v", opts.Prefix, err)
	}
	return out
}

func startOne(ctx context.Context, cli *client.Client, image string, opts FleetOptions, c *Container) error {
	port := nat.Port(fmt.Sprintf("%d/tcp", FleetPort))
	stopTimeout := 2
	cfg := &container.Config{
		Image:        image,
		Env:          []string{"FLEET_APP=" + opts.App},
		Labels:       opts.Labels,
		ExposedPorts: nat.PortSet{port: struct{}{}},
		StopTimeout:  &stopTimeout,
	}
	if !opts.Healthcheck {
		cfg.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
	}
	host := &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(opts.RestartPolicy)}}
	if opts.PublishPorts {
		host.PortBindings = nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: "0"}}}
	}
	if opts.CPUs > 0 {
		host.NanoCPUs = int64(opts.CPUs * 1e9)
	}
	created, err := cli.ContainerCreate(ctx, cfg, host, nil, nil, c.Name)
	if err != nil {
		return fmt.Errorf("create %s: %w", c.Name, err)
	}
	c.ID = created.ID
	for _, n := range opts.Networks {
		if err := cli.NetworkConnect(ctx, n, c.ID, nil); err != nil {
			return fmt.Errorf("connect %s to network %s: %w", c.Name, n, err)
		}
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", c.Name, err)
	}
	if !opts.PublishPorts {
		return nil
	}
	info, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", c.Name, err)
	}
	if info.NetworkSettings != nil {
		for _, b := range info.NetworkSettings.Ports[port] {
			if b.HostIP == "127.0.0.1" {
				c.HostPort, _ = strconv.Atoi(b.HostPort)
			}
		}
	}
	if c.HostPort == 0 {
		return fmt.Errorf("%s: port %s not published on 127.0.0.1", c.Name, port)
	}
	return nil
}

// RemoveContainer unpauses (a paused container cannot always be removed)
// and force-removes a container; a container already gone is fine.
func RemoveContainer(t testing.TB, cli *client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = cli.ContainerUnpause(ctx, id)
	err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !strings.Contains(err.Error(), "already in progress") {
		t.Errorf("remove container %s: %v", id, err)
	}
}

// WaitFor polls the container's inspection every 100ms until ok says so,
// failing the test after timeout.
func WaitFor(ctx context.Context, t testing.TB, cli *client.Client, id string, timeout time.Duration, what string,
	ok func(container.InspectResponse) bool) container.InspectResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last container.InspectResponse
	var lastErr error
	for {
		last, lastErr = cli.ContainerInspect(ctx, id)
		if lastErr == nil && ok(last) {
			return last
		}
		select {
		case <-ctx.Done():
			state := "unknown"
			if lastErr == nil && last.State != nil {
				state = string(last.State.Status)
			}
			t.Fatalf("container %s: %s within %s: last state %s, last error %v", id, what, timeout, state, lastErr)
			return last
		case <-tick.C:
		}
	}
}

// Running is a WaitFor condition: running, not paused, not restarting.
func Running(info container.InspectResponse) bool {
	return info.State != nil && info.State.Running && !info.State.Paused && !info.State.Restarting
}

// Healthy is a WaitFor condition: running and its health check passing.
func Healthy(info container.InspectResponse) bool {
	return Running(info) && info.State.Health != nil && info.State.Health.Status == container.Healthy
}

// CreateNetwork creates an internal bridge network (nothing on it reaches
// beyond the machine) with a unique name and removes it when the test
// ends. Containers on it reach each other by name.
func CreateNetwork(ctx context.Context, t testing.TB, cli *client.Client, base string) string {
	t.Helper()
	name := Unique(base)
	if _, err := cli.NetworkCreate(ctx, name, network.CreateOptions{Internal: true, Labels: map[string]string{"tumult.test": "network"}}); err != nil {
		t.Fatalf("create network %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.NetworkRemove(ctx, name); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("remove network %s: %v", name, err)
		}
	})
	return name
}
