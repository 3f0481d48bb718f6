package main

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/inferensys/tumult/targets/docker/helper"
)

// hiddenCommands are left out of the usage: people never run them by hand.
var hiddenCommands = map[string]bool{"helper": true}

// helperCmd is what runs inside tumult's helper container (see package
// helper). It is hidden from the help: people never run it by hand.
type helperCmd struct{ env *env }

func (c *helperCmd) Synopsis() string { return "Run inside a fault helper container (internal)" }
func (c *helperCmd) Help() string {
	return "Usage: tumult helper net|stress|clean [SPEC]\n\n  Internal: tumult starts it inside the helper containers of network, partition and stress faults."
}

func (c *helperCmd) Run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return helper.Run(ctx, args, c.env.out, c.env.err)
}
