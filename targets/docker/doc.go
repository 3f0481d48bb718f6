// Package docker is tumult's fault driver for Docker engines: it lists the
// containers a selector matches, injects kill, stop, pause, restart,
// signal, network, partition and stress faults, and restores members afterwards, through the Engine API
// (github.com/docker/docker/client). One Target is one engine endpoint.
//
// Safety is enforced here as well as in the scheduler: a container that is
// not opted in, carries a protected label or is tumult's own container is
// listed with Member.Excluded set, and Inject refuses it after
// re-inspecting its labels right before the fault.
//
// Network, partition and stress faults run in a helper container next to
// the member (package helper): built on the engine from tumult's own
// static binary unless Options.HelperImage names one, labelled so that a
// restore, also after a crash, finds and removes it. Inject notes the
// mechanism the helper used (targets.NoteMechanism).
//
// Every engine error is wrapped in *targets.Error with the endpoint, the
// operation and a class (targets.ErrGone, ErrUnreachable, ErrRefused).
//
// This package must not import the scheduler, guardian or ledger.
package docker
