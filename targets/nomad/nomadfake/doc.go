// Package nomadfake is an in-process fake of the part of the Nomad 2.0.x
// HTTP API that tumult's Nomad driver uses. It answers with JSON made from
// the github.com/hashicorp/nomad/api types themselves and behaves as a
// Nomad cluster does where the driver depends on it: a stopped allocation
// is replaced by a new one (linked through NextAllocation and
// PreviousAllocation) that starts pending and then runs; a restart keeps
// the allocation ID and bumps the task's restart count; a job's group
// count is the size the scheduler restores.
//
// Time does not pass by itself in the fake: a pending allocation starts
// running after a set number of later read requests (SetStartAfter), or
// at once with Settle, so tests never sleep.
//
// It is test support: it imports net/http/httptest and testing, and
// nothing of tumult.
package nomadfake
