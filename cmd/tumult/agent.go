package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/inferensys/tumult/agent"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/internal/crash"
	"github.com/inferensys/tumult/policies"
)

type agentCmd struct{ env *env }

func (c *agentCmd) Synopsis() string { return "Run the tumult daemon" }
func (c *agentCmd) Help() string {
	return `Usage: tumult agent [-config FILE] [-dev]

  Runs the daemon: schedules faults from the policies in policy_dir, serves
  the API, and restores every running fault when stopped (SIGINT/SIGTERM).
  SIGHUP reloads the policies, as does a change to a file in policy_dir.

  -dev needs no file: local Docker, a temporary data dir, policies from
  ./examples/policies, the API on 127.0.0.1:8742 without tokens, and no
  guardian sources.

Options:
` + flagUsage(c.flags(new(string), new(bool)))
}

func (c *agentCmd) flags(config *string, dev *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.StringVar(config, "config", "", "agent config `FILE` (tumult.hcl)")
	fs.BoolVar(dev, "dev", false, "run with a built-in development config")
	return fs
}

func (c *agentCmd) Run(args []string) int {
	// Signals first, before anything that can take time: a SIGHUP or
	// SIGTERM that arrives while the config loads must not end the
	// process the default way. And a broken pipe on stdout or stderr
	// (the log's reader went away: `tumult agent 2>&1 | tee log`, then
	// Ctrl-C) must not either: Go ends a process that writes to a closed
	// fd 1 or 2 unless SIGPIPE is handled; ignored, the write fails with
	// EPIPE, which the log sink swallows.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var file string
	var dev bool
	fs := c.flags(&file, &dev)
	fs.SetOutput(c.env.err)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (file == "") == !dev {
		fmt.Fprintln(c.env.err, "tumult agent: give -config FILE or -dev")
		return 2
	}
	var cfg *config.Config
	if dev {
		var err error
		if cfg, err = devConfig(); err != nil {
			fmt.Fprintf(c.env.err, "tumult agent: %v\n", err)
			return 1
		}
	} else {
		cfgv, srcs, diags := config.LoadConfig(file)
		if diags.HasErrors() {
			policies.WriteDiagnostics(c.env.err, diags, srcs)
			return 1
		}
		cfg = cfgv
	}
	sink := agent.NewLogSink(c.env.err)
	log := agent.NewLogger("tumult", cfg.LogLevel, cfg.LogJSON, sink)
	if dev {
		log.Warn("DEV MODE: built-in config, temporary data dir, API without tokens")
		log.Warn("DEV MODE: NO GUARDIAN SOURCES — nothing will halt tumult but you (tumult halt -reason …)", "data_dir", cfg.DataDir, "policy_dir", cfg.PolicyDir)
	}
	// Missing trip wires are the guardian's to say, once, when it starts.
	a, err := agent.New(agent.Options{Config: cfg, Logger: log, Dev: dev, LogSink: sink})
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	go func() {
		defer crash.Recover("agent: SIGHUP")
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading policies")
				if _, err := a.ReloadOn(ctx, "SIGHUP"); err != nil {
					log.Error("SIGHUP: reload", "error", err)
				}
			}
		}
	}()
	if err := a.Run(ctx, nil); err != nil {
		log.Error("agent stopped", "error", err)
		return 1
	}
	log.Info("agent stopped")
	return 0
}

// devConfig is the configuration of `tumult agent -dev`.
func devConfig() (*config.Config, error) {
	cfg := config.DefaultConfig()
	dir, err := os.MkdirTemp("", "tumult-dev-")
	if err != nil {
		return nil, fmt.Errorf("make a temporary data dir: %w", err)
	}
	cfg.DataDir = dir
	cfg.PolicyDir = "./examples/policies"
	cfg.Docker = []config.DockerEndpoint{{Name: "local"}}
	// The example policies name these; nothing reads them unless an
	// enabled policy uses them.
	cfg.Nomad = []config.NomadCluster{{Name: "prod", Address: "http://127.0.0.1:4646", TokenEnv: "NOMAD_TOKEN"}}
	cfg.Alertmanagers = []config.AlertmanagerSource{{Name: "main", Address: "http://127.0.0.1:9093", PollInterval: config.DefaultPollInterval}}
	cfg.Prometheus = []config.PrometheusSource{{Name: "main", Address: "http://127.0.0.1:9090"}}
	return cfg, nil
}
