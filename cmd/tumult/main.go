// Command tumult is the chaos scheduler's daemon and its command line.
// The `agent` command runs package agent; the on-call commands (status,
// pause, resume, halt, faults, history) talk to it through package api
// only; validate and plan read files through config and policies.
package main

import (
	"fmt"
	"io"
	"os"
	"time"
	// Time zones are compiled in, so windows work on scratch images and
	// hosts without a zoneinfo database.
	_ "time/tzdata"

	"github.com/hashicorp/cli"
)

// Version is set at build time with -ldflags "-X main.Version=…"; left at
// "dev", `tumult version` reports the module version the Go toolchain
// recorded instead.
var Version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// env is what commands read from outside their flags: output streams and
// environment variables, so tests can run commands in-process.
type env struct {
	out, err io.Writer
	getenv   func(string) string
	// now is the clock that relative times ("5m ago") are measured on.
	now func() time.Time
	// width is the terminal's width in columns that wide tables are cut
	// to; 0 when out is no terminal, and then nothing is cut.
	width func() int
	// stat looks at policy paths (validate, plan); nil means os.Stat.
	// Tests inject it so the default policy_dir reads alike on every machine.
	stat func(string) (os.FileInfo, error)
}

func run(args []string, stdout, stderr io.Writer) int {
	return runEnv(&env{out: stdout, err: stderr, getenv: os.Getenv, now: time.Now,
		width: func() int { return terminalWidth(stdout) }}, args)
}

func runEnv(e *env, args []string) int {
	commands := e.commands()
	if code, handled := e.route(args, commands); handled {
		return code
	}
	c := cli.NewCLI("tumult", Version)
	c.Args = args
	c.HelpWriter = e.out
	c.ErrorWriter = e.err
	c.Commands = commands
	c.HiddenCommands = []string{"helper"}
	code, err := c.Run()
	if err != nil {
		fmt.Fprintf(e.err, "tumult: %v\n", err)
		return 2
	}
	return code
}

func (e *env) commands() map[string]cli.CommandFactory {
	cmd := func(c cli.Command) cli.CommandFactory { return func() (cli.Command, error) { return c, nil } }
	return map[string]cli.CommandFactory{
		"agent":    cmd(&agentCmd{env: e}),
		"validate": cmd(&validateCmd{env: e}),
		"plan":     cmd(&planCmd{env: e}),
		"version":  cmd(&versionCmd{env: e}),
		"status":   cmd(&statusCmd{oncall{env: e, name: "status"}}),
		"pause":    cmd(&pauseCmd{oncall{env: e, name: "pause"}}),
		"resume":   cmd(&resumeCmd{oncall{env: e, name: "resume"}}),
		"halt":     cmd(&haltCmd{oncall{env: e, name: "halt"}}),
		"faults":   cmd(&faultsCmd{oncall{env: e, name: "faults"}}),
		"history":  cmd(&historyCmd{oncall{env: e, name: "history"}}),
		"reload":   cmd(&reloadCmd{oncall{env: e, name: "reload"}}),
		"inject":   cmd(&injectCmd{oncall{env: e, name: "inject"}}),
		"report":   cmd(&reportCmd{oncall{env: e, name: "report"}}),
		"helper":   cmd(&helperCmd{env: e}),

		"ledger check":  cmd(&ledgerCheckCmd{env: e}),
		"ledger accept": cmd(&ledgerAcceptCmd{env: e}),
	}
}

type versionCmd struct{ env *env }

func (c *versionCmd) Synopsis() string { return "Print tumult's version" }
func (c *versionCmd) Help() string     { return "Usage: tumult version" }
func (c *versionCmd) Run([]string) int {
	fmt.Fprintln(c.env.out, versionLine())
	return 0
}
