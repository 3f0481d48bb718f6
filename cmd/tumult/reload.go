package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/inferensys/tumult/api"
)

type reloadCmd struct{ oncall }

func (c *reloadCmd) Synopsis() string { return "Reload the daemon's policies from policy_dir" }
func (c *reloadCmd) Help() string {
	return `Usage: tumult reload [-json]

  Asks the daemon to read policy_dir again, as SIGHUP does. A file with
  errors keeps the last good set of policies running; the errors are
  printed here and shown by tumult status. Exit 0 when the policies were
  loaded, 1 when they were not. Reads TUMULT_ADDR (default
  ` + api.DefaultAddress + `) and TUMULT_TOKEN.

Options:
` + flagUsage(c.flags(new(bool)))
}

func (c *reloadCmd) flags(asJSON *bool) *flag.FlagSet {
	fs := c.flagSet()
	fs.BoolVar(asJSON, "json", false, "print the API's JSON for scripts")
	return fs
}

func (c *reloadCmd) Run(args []string) int {
	var asJSON bool
	if !c.parse(c.flags(&asJSON), args) {
		return 2
	}
	cl, ok := c.connect()
	if !ok {
		return 2
	}
	res, err := cl.Reload(context.Background())
	if err != nil {
		return c.fail(err)
	}
	if asJSON {
		enc := json.NewEncoder(c.env.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return c.fail(err)
		}
	} else {
		writeReload(c, res)
	}
	if !res.OK {
		return 1
	}
	return 0
}

func writeReload(c *reloadCmd, res api.ReloadResult) {
	w := c.env.out
	if res.OK {
		fmt.Fprintf(w, "reloaded: %s\n", plural(res.Policies, "policy"))
	} else {
		fmt.Fprintf(w, "not reloaded: %s; the last good set of %s keeps running\n",
			plural(len(res.Errors), "error"), plural(res.Policies, "policy"))
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
}
