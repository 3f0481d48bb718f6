// Package helper is what runs inside tumult's helper container, the
// short-lived container that the Docker driver starts next to a member for
// the network, partition and stress faults. The container joins the
// member's network namespace (network, partition) or sits in the member's
// cgroup (stress), so the kernel state it changes and the resources it
// consumes are the member's own.
//
// It talks to the kernel through netlink libraries, never through tc, nft
// or iptables, which a FROM scratch image does not have:
//
//   - netem (github.com/vishvananda/netlink) where the kernel has it and no
//     destination filter is asked for;
//   - otherwise netfilter (github.com/google/nftables): drops for loss and
//     partition, an NFQUEUE delay stage in this process for delay (with the
//     queue's bypass flag, so that traffic flows undelayed if the stage
//     dies), and an htb qdisc for rate, with nftables steering the matched
//     packets into its limited class.
//
// Everything it adds is named so it can be found again: the nftables table
// "tumult" and qdiscs with handle 0x7475 ("tu"). Clean removes exactly
// those, and does nothing when they are gone, so it is idempotent.
//
// The package is shared by both sides: tumult encodes a Spec, the helper
// decodes it and prints Ready or Failed lines on stdout that tumult reads
// from the container's log.
//
// It must not import the rest of tumult beyond policies' value types.
package helper
