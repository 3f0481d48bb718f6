// Package guardian owns tumult's brakes: the control state (pause, resume,
// halt, with actor, reason and expiry), the trip wires that halt on their
// own, and restoring every disrupted member when they do.
//
// It imports no Docker, Nomad, Consul or HTTP package: sources of signals
// and the restorer are interfaces declared here.
package guardian
