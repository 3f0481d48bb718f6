package alerting

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
)

// ErrServiceNotRegistered: Consul knows no instance of the service. A
// service that is gone entirely is not healthy, and a misspelt name must
// not pass for a healthy service, so the guardian treats it like any
// error: tripped.
var ErrServiceNotRegistered = errors.New("no instance registered")

// ConsulHealthOptions configure a ConsulHealth source.
type ConsulHealthOptions struct {
	// Client talks to the Consul agent (required).
	Client *api.Client
	// Trips says which check statuses ("passing", "warning",
	// "critical", "maintenance") count (required): the agent passes
	// guardian.ConsulCheckTrips. The rule is the guardian's; this
	// source only reads.
	Trips  func(status string) bool
	Logger hclog.Logger
}

// ConsulHealth reads the health checks of Consul services, for the
// consul_service trip wire.
type ConsulHealth struct {
	health *api.Health
	trips  func(status string) bool
	log    hclog.Logger
}

// NewConsulHealth checks the options. It does not contact Consul.
func NewConsulHealth(opts ConsulHealthOptions) (*ConsulHealth, error) {
	if opts.Client == nil {
		return nil, errors.New("consul health: no Consul client")
	}
	if opts.Trips == nil {
		return nil, errors.New("consul health: no rule for which checks trip")
	}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &ConsulHealth{health: opts.Client.Health(), trips: opts.Trips, log: log.Named("consul_health")}, nil
}

// Critical returns the checks of every instance of the service that trip
// (ConsulHealthOptions.Trips; with the guardian's rule, the critical ones),
// sorted, each as "<check name> (<service ID>) on <node>" — or "<check
// name> on <node>" for a check of the node the instance runs on (serfHealth,
// node maintenance), since Consul counts those against the instance too.
// An empty list means no check trips. The read is consistent (from
// the Raft leader), so a check just marked critical is seen. Consul
// unreachable, and a service with no instance (ErrServiceNotRegistered),
// are errors: callers fail closed.
func (h *ConsulHealth) Critical(ctx context.Context, service string) ([]string, error) {
	if service == "" {
		return nil, errors.New("consul health: no service name")
	}
	entries, _, err := h.health.Service(service, "", false, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul health of service %q: %w", service, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("consul health of service %q: %w", service, ErrServiceNotRegistered)
	}
	var critical []string
	for _, e := range entries {
		for _, c := range e.Checks {
			if !h.trips(c.Status) {
				continue
			}
			name := fmt.Sprintf("%s on %s", c.Name, c.Node)
			if c.ServiceID != "" {
				name = fmt.Sprintf("%s (%s) on %s", c.Name, c.ServiceID, c.Node)
			}
			critical = append(critical, name)
		}
	}
	slices.Sort(critical)
	critical = slices.Compact(critical)
	h.log.Trace("read service health", "service", service, "instances", len(entries), "critical", len(critical))
	return critical, nil
}
