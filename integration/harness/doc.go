// Package harness starts the real components tumult's integration tests
// run against — Docker containers of integration/fleet here; Prometheus,
// Alertmanager and Consul next to it — and tears them down when the test
// ends.
//
// A component that cannot be had is reported through Missing: the test is
// skipped on a developer's machine and fails in CI (CI=true), so that a
// broken CI machine cannot pass by skipping everything.
//
// Everything it starts listens on or is published to 127.0.0.1 only.
package harness
