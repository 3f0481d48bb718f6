package alerting

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/guardian"
)

// fakeConsulHealth answers /v1/health/service/<name> with entries built
// from consul/api's own types, and records whether reads were consistent.
func fakeConsulHealth(t *testing.T, status int, entries map[string][]*api.ServiceEntry) (*ConsulHealth, func() []string) {
	t.Helper()
	var (
		mu      sync.Mutex
		queries []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		if status != 0 {
			http.Error(w, "rpc error: no leader", status)
			return
		}
		const prefix = "/v1/health/service/"
		if len(r.URL.Path) <= len(prefix) || r.URL.Path[:len(prefix)] != prefix {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Consul-Index", "7")
		list := entries[r.URL.Path[len(prefix):]]
		if list == nil {
			list = []*api.ServiceEntry{}
		}
		if err := json.NewEncoder(w).Encode(list); err != nil {
			t.Errorf("fake consul: encode: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	client, err := api.NewClient(cfg)
	require.NoError(t, err)
	h, err := NewConsulHealth(ConsulHealthOptions{Client: client, Trips: guardian.ConsulCheckTrips})
	require.NoError(t, err)
	return h, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(queries)
	}
}

func consulInstance(node, id string, checks ...*api.HealthCheck) *api.ServiceEntry {
	for _, c := range checks {
		c.Node = node
	}
	return &api.ServiceEntry{
		Node:    &api.Node{Node: node, Address: "127.0.0.1"},
		Service: &api.AgentService{ID: id, Service: "checkout"},
		Checks:  checks,
	}
}

func consulCheck(name, serviceID, status string) *api.HealthCheck {
	return &api.HealthCheck{CheckID: name, Name: name, ServiceID: serviceID, Status: status}
}

func TestConsulHealthCritical(t *testing.T) {
	tests := []struct {
		name    string
		entries []*api.ServiceEntry
		want    []string
	}{
		{
			name: "all passing",
			entries: []*api.ServiceEntry{
				consulInstance("n1", "checkout-1", consulCheck("serfHealth", "", api.HealthPassing), consulCheck("http", "checkout-1", api.HealthPassing)),
			},
			want: nil,
		},
		{
			name: "warning is not critical",
			entries: []*api.ServiceEntry{
				consulInstance("n1", "checkout-1", consulCheck("http", "checkout-1", api.HealthWarning)),
			},
			want: nil,
		},
		{
			name: "one critical service check among instances",
			entries: []*api.ServiceEntry{
				consulInstance("n1", "checkout-1", consulCheck("http", "checkout-1", api.HealthPassing)),
				consulInstance("n2", "checkout-2", consulCheck("http", "checkout-2", api.HealthCritical)),
			},
			want: []string{"http (checkout-2) on n2"},
		},
		{
			name: "a critical node check counts once, sorted with the rest",
			entries: []*api.ServiceEntry{
				consulInstance("n1", "checkout-1", consulCheck("serfHealth", "", api.HealthCritical), consulCheck("http", "checkout-1", api.HealthCritical)),
				consulInstance("n1", "checkout-3", consulCheck("serfHealth", "", api.HealthCritical), consulCheck("http", "checkout-3", api.HealthPassing)),
			},
			want: []string{"http (checkout-1) on n1", "serfHealth on n1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, queries := fakeConsulHealth(t, 0, map[string][]*api.ServiceEntry{"checkout": tt.entries})
			got, err := h.Critical(t.Context(), "checkout")
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			q := queries()
			require.Len(t, q, 1)
			require.Contains(t, q[0], "consistent", "reads must be consistent")
		})
	}
}

func TestConsulHealthFailsClosed(t *testing.T) {
	h, _ := fakeConsulHealth(t, 0, nil)
	_, err := h.Critical(t.Context(), "checkout")
	require.ErrorIs(t, err, ErrServiceNotRegistered)
	require.ErrorContains(t, err, `"checkout"`)

	h, _ = fakeConsulHealth(t, http.StatusInternalServerError, nil)
	_, err = h.Critical(t.Context(), "checkout")
	require.Error(t, err)
	require.ErrorContains(t, err, "no leader")

	_, err = h.Critical(t.Context(), "")
	require.Error(t, err)

	_, err = NewConsulHealth(ConsulHealthOptions{})
	require.Error(t, err)
}
