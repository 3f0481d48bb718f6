package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/docker"
	"github.com/inferensys/tumult/targets/nomad"
)

// targetSet makes a driver client for each docker and nomad block of the
// config on first use, so that an endpoint no policy uses is never
// contacted.
type targetSet struct {
	cfg *config.Config
	log hclog.Logger

	mu   sync.Mutex
	made map[string]targets.Target
	// pingers are the same clients, by the same key, seen as what
	// Probe needs of them.
	pingers map[string]pinger
}

// pinger is what Probe needs of a driver client.
type pinger interface {
	Ping(ctx context.Context) error
}

var (
	_ pinger = (*docker.Target)(nil)
	_ pinger = (*nomad.Target)(nil)
	_        = EndpointProber((*targetSet)(nil))
)

func newTargetSet(cfg *config.Config, log hclog.Logger) *targetSet {
	return &targetSet{cfg: cfg, log: log, made: map[string]targets.Target{}, pingers: map[string]pinger{}}
}

// Probe implements EndpointProber: it makes the endpoint's client if
// needed and pings it.
func (s *targetSet) Probe(ctx context.Context, d policies.Driver, endpoint string) error {
	if _, err := s.Target(d, endpoint); err != nil {
		return err
	}
	s.mu.Lock()
	p, ok := s.pingers[string(d)+"/"+endpoint]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s/%s: %w", d, endpoint, errNoProbe)
	}
	return p.Ping(ctx)
}

// Target implements scheduler.Targets.
func (s *targetSet) Target(d policies.Driver, endpoint string) (targets.Target, error) {
	key := string(d) + "/" + endpoint
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.made[key]; ok {
		return t, nil
	}
	var t targets.Target
	var err error
	switch d {
	case policies.DriverDocker:
		var dt *docker.Target
		if dt, err = s.docker(endpoint); err == nil {
			t, s.pingers[key] = dt, dt
		}
	case policies.DriverNomad:
		var nt *nomad.Target
		if nt, err = s.nomad(endpoint); err == nil {
			t, s.pingers[key] = nt, nt
		}
	default:
		err = fmt.Errorf("unknown driver %q", d)
	}
	if err != nil {
		return nil, err
	}
	s.made[key] = t
	return t, nil
}

func (s *targetSet) docker(name string) (*docker.Target, error) {
	for _, e := range s.cfg.Docker {
		if e.Name == name {
			return docker.New(docker.Options{
				Name: e.Name, Host: e.Host, TLS: e.TLS, HelperImage: e.HelperImage,
				OptInLabel: s.cfg.Safety.OptInLabel, Protect: s.cfg.Safety.Protect,
				Logger: s.log,
			})
		}
	}
	return nil, fmt.Errorf("no docker block named %q in the %s", name, s.cfg)
}

func (s *targetSet) nomad(name string) (*nomad.Target, error) {
	for _, n := range s.cfg.Nomad {
		if n.Name == name {
			token := ""
			if n.TokenEnv != "" {
				token = os.Getenv(n.TokenEnv)
			}
			return nomad.New(nomad.Options{
				Name: n.Name, Address: n.Address, Region: n.Region, Token: token,
				OptInMeta: s.cfg.Safety.OptInLabel, Protect: s.cfg.Safety.Protect,
				Logger: s.log,
			})
		}
	}
	return nil, fmt.Errorf("no nomad block named %q in the %s", name, s.cfg)
}

// Close releases the clients that were made.
func (s *targetSet) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, t := range s.made {
		if c, ok := t.(interface{ Close() error }); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
