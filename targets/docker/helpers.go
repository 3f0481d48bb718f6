package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/docker/helper"
)

// Labels on helper containers and images. A restart finds leftovers by
// them: every helper names the member it works on and the member's start
// time, which tells a member restarted since (a fresh network namespace)
// from one still carrying the fault.
const (
	labelHelper        = "tumult.helper"         // "network" | "stress" | "clean"
	labelHelperMember  = "tumult.helper.member"  // the member's full container ID
	labelHelperStarted = "tumult.helper.started" // the member's StartedAt, RFC 3339 with nanoseconds
	// labelHelperImage marks the image. Containers inherit their image's
	// labels, so the image must not carry labelHelper: every container
	// run from it, tumult's or not, would then pass for a helper.
	labelHelperImage = "tumult.helper.image"
)

// helperClient is the Docker client's API used for helpers. The real
// client's ContainerCreate takes typed network and platform configs, so
// it is wrapped rather than matched by an interface.
type helperClient interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	Info(ctx context.Context) (system.Info, error)
	create(ctx context.Context, cfg *container.Config, host *container.HostConfig, name string) (string, error)
}

// realHelperClient adapts *client.Client.
type realHelperClient struct{ *client.Client }

func (c realHelperClient) create(ctx context.Context, cfg *container.Config, host *container.HostConfig, name string) (string, error) {
	r, err := c.ContainerCreate(ctx, cfg, host, nil, nil, name)
	return r.ID, err
}

var _ helperClient = realHelperClient{}

// helperImage returns the image to run helpers from: Options.HelperImage
// when set (it must be present on the engine: nothing is pulled), else
// tumult's own image, built on the engine the first time from tumult's
// static binary (FROM scratch), tagged with the binary's hash.
func (t *Target) helperImage(ctx context.Context) (string, error) {
	if t.hcli == nil {
		return "", errors.New("this endpoint has no client for helper containers")
	}
	t.imageMu.Lock()
	defer t.imageMu.Unlock()
	if t.image != "" {
		return t.image, nil
	}
	if t.opts.HelperImage != "" {
		if _, err := t.hcli.ImageInspect(ctx, t.opts.HelperImage); err != nil {
			return "", fmt.Errorf("helper_image %q is not on the engine (tumult never pulls): %w", t.opts.HelperImage, err)
		}
		t.image = t.opts.HelperImage
		return t.image, nil
	}
	bin := t.opts.HelperBinary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("find tumult's own binary for the helper image: %w", err)
		}
		bin = exe
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("read %s for the helper image: %w", bin, err)
	}
	if err := checkStatic(prog); err != nil {
		return "", fmt.Errorf("%s cannot run in a FROM scratch helper: %w; build tumult with CGO_ENABLED=0 or set helper_image", bin, err)
	}
	tag := HelperImageTag(prog)
	if _, err := t.hcli.ImageInspect(ctx, tag); err == nil {
		t.image = tag
		return tag, nil
	}
	began := time.Now()
	if err := buildHelperImage(ctx, t.hcli, tag, prog); err != nil {
		return "", err
	}
	t.log.Info("built helper image", "image", tag, "took", time.Since(began).Round(time.Millisecond))
	t.image = tag
	return tag, nil
}

// HelperImageTag is the tag of the helper image tumult builds from the
// binary prog: one image per build of tumult, found again after restarts.
func HelperImageTag(prog []byte) string {
	sum := sha256.Sum256(prog)
	return "tumult-helper:" + hex.EncodeToString(sum[:])[:16]
}

// checkStatic refuses a dynamically linked binary: a scratch image has no
// loader and no libc.
func checkStatic(prog []byte) error {
	f, err := elf.NewFile(bytes.NewReader(prog))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("it is dynamically linked")
		}
	}
	return nil
}

const helperDockerfile = `FROM scratch
COPY tumult /tumult
ENTRYPOINT ["/tumult", "helper"]
`

func buildHelperImage(ctx context.Context, cli helperClient, tag string, prog []byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(helperDockerfile)}, {"tumult", 0o755, prog}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return fmt.Errorf("helper image context: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("helper image context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("helper image context: %w", err)
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true, Dockerfile: "Dockerfile", Version: build.BuilderV1,
		Labels: map[string]string{labelHelperImage: "true"},
	})
	if err != nil {
		return fmt.Errorf("build helper image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	// The build reports failures inside its stream, not as an HTTP error.
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("build helper image %s: read output: %w", tag, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("build helper image %s: %s", tag, msg.Error)
		}
	}
	return nil
}

// helperRun is one helper container to start next to a member.
type helperRun struct {
	kind    string   // labelHelper value
	cmd     []string // after the entrypoint
	network bool     // join the member's network namespace with NET_ADMIN
	cgroup  string   // CgroupParent: the member's cgroup
}

// startHelper creates and starts a helper for the member and waits until
// its log says it is ready (mechanism) or failed. A helper that failed or
// did not get ready in time is removed before returning.
func (t *Target) startHelper(ctx context.Context, m targets.Member, st containerState, run helperRun) (id, mechanism string, err error) {
	id, err = t.createHelper(ctx, m, st, run)
	if err != nil {
		return "", "", err
	}
	st2, err := t.waitHelper(ctx, id, func(s helper.Status, exited bool) bool { return s.Mechanism != "" || s.Err != "" || exited })
	switch {
	case err != nil:
	case st2.Err != "":
		err = &helperRefusal{msg: st2.Err}
	case st2.Mechanism == "":
		err = errors.New("helper exited before it was ready")
	}
	if err != nil {
		t.removeHelper(context.WithoutCancel(ctx), id)
		return "", "", err
	}
	return id, st2.Mechanism, nil
}

// runCleaner runs a clean helper in the member's network namespace to its
// end and says how many things it removed.
func (t *Target) runCleaner(ctx context.Context, m targets.Member, st containerState) (int, error) {
	id, err := t.createHelper(ctx, m, st, helperRun{kind: "clean", cmd: []string{"clean"}, network: true})
	if err != nil {
		return 0, err
	}
	defer t.removeHelper(context.WithoutCancel(ctx), id)
	res, err := t.waitHelper(ctx, id, func(s helper.Status, exited bool) bool { return exited })
	if err != nil {
		return 0, err
	}
	if res.Cleaned < 0 {
		return 0, errors.New(orText(res.Err, "clean helper exited without cleaning"))
	}
	return res.Cleaned, nil
}

// createHelper creates and starts a helper container next to the member.
func (t *Target) createHelper(ctx context.Context, m targets.Member, st containerState, run helperRun) (string, error) {
	img, err := t.helperImage(ctx)
	if err != nil {
		return "", err
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := fmt.Sprintf("tumult-helper-%s-%s", targets.ShortID(m.ID), hex.EncodeToString(suffix))
	cfg := &container.Config{
		Image: img, Cmd: run.cmd,
		Labels: map[string]string{
			labelHelper: run.kind, labelHelperMember: m.ID,
			labelHelperStarted: st.StartedAt.UTC().Format(time.RFC3339Nano),
		},
	}
	host := &container.HostConfig{ReadonlyRootfs: true, RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled}}
	if run.network {
		host.NetworkMode = container.NetworkMode("container:" + m.ID)
		host.CapAdd = []string{"NET_ADMIN"}
	} else {
		host.NetworkMode = "none"
	}
	if run.cgroup != "" {
		host.CgroupParent = run.cgroup
	}
	cctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	id, err := t.hcli.create(cctx, cfg, host, name)
	if err != nil {
		return "", fmt.Errorf("create helper container: %w", err)
	}
	if err := t.hcli.ContainerStart(cctx, id, container.StartOptions{}); err != nil {
		t.removeHelper(context.WithoutCancel(ctx), id)
		return "", fmt.Errorf("start helper container: %w", err)
	}
	return id, nil
}

// waitHelper polls the helper's log until done says so, bounded by
// CallTimeout.
func (t *Target) waitHelper(ctx context.Context, id string, done func(helper.Status, bool) bool) (helper.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	for {
		out, err := t.helperLog(ctx, id)
		if err != nil {
			return helper.Status{}, err
		}
		info, err := t.hcli.ContainerInspect(ctx, id)
		if err != nil {
			return helper.Status{}, fmt.Errorf("inspect helper container: %w", err)
		}
		exited := info.State != nil && !info.State.Running
		if exited {
			// The log may have grown between the two reads.
			if out, err = t.helperLog(ctx, id); err != nil {
				return helper.Status{}, err
			}
		}
		st := helper.ParseLog(out)
		if done(st, exited) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("wait for helper container %s: %w", targets.ShortID(id), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (t *Target) helperLog(ctx context.Context, id string) (string, error) {
	rc, err := t.hcli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true})
	if err != nil {
		return "", fmt.Errorf("read helper log: %w", err)
	}
	defer rc.Close()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, rc); err != nil {
		return "", fmt.Errorf("read helper log: %w", err)
	}
	return out.String(), nil
}

// helpersOf lists the helper containers working on a member, in any state.
func (t *Target) helpersOf(ctx context.Context, memberID string) ([]container.Summary, error) {
	args := filters.NewArgs()
	args.Add("label", labelHelperMember+"="+memberID)
	ctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	return t.hcli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
}

// stopHelper ends a helper with SIGTERM (it then undoes its fault) and
// says whether it undid it cleanly: exit code 0 with its Cleaned line.
func (t *Target) stopHelper(ctx context.Context, id string) (clean bool, err error) {
	timeout := 10
	cctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout+time.Duration(timeout)*time.Second)
	defer cancel()
	if err := t.hcli.ContainerStop(cctx, id, container.StopOptions{Timeout: &timeout}); err != nil && !cerrdefs.IsNotFound(err) {
		return false, fmt.Errorf("stop helper container %s: %w", targets.ShortID(id), err)
	}
	info, err := t.hcli.ContainerInspect(cctx, id)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect helper container %s: %w", targets.ShortID(id), err)
	}
	out, err := t.helperLog(cctx, id)
	if err != nil {
		return false, err
	}
	st := helper.ParseLog(out)
	return info.State != nil && info.State.ExitCode == 0 && st.Cleaned >= 0, nil
}

// removeHelper force-removes a helper container; gone is fine.
func (t *Target) removeHelper(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	if err := t.hcli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) &&
		!strings.Contains(err.Error(), "already in progress") {
		t.log.Warn("remove helper container", "helper_id", targets.ShortID(id), "error", err)
	}
}

// helperRefusal is a helper's own "cannot": the member's kernel or
// network namespace cannot take the fault (no netem for corrupt, a qdisc
// tumult did not add). Asking again gets the same answer.
type helperRefusal struct{ msg string }

func (e *helperRefusal) Error() string { return e.msg }

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
