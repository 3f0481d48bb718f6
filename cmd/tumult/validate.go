package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/policies"
)

// loadFlags are the flags validate and plan share.
type loadFlags struct {
	config string
	json   bool
	// stat looks at policy paths; nil means os.Stat. Tests inject it so
	// the default policy_dir reads the same on every machine.
	stat func(string) (os.FileInfo, error)
}

func (l *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.config, "config", "", "agent config `FILE`; lets references to endpoints and sources be checked")
	fs.BoolVar(&l.json, "json", false, "print JSON for scripts")
}

// load reads the agent config (if given) and the policies in paths, or in
// the config's policy_dir when no path is given.
func (l *loadFlags) load(paths []string, now time.Time) (*policies.Set, hcl.Diagnostics, policies.Sources, error) {
	srcs := policies.Sources{}
	var cfg *config.Config
	var ds hcl.Diagnostics
	if l.config != "" {
		c, cs, cds := config.LoadConfig(l.config)
		for k, v := range cs {
			srcs[k] = v
		}
		ds = append(ds, cds...)
		cfg = c
		if cds.HasErrors() {
			if len(paths) == 0 {
				// policy_dir is the broken config's: nothing to read.
				return &policies.Set{}, ds, srcs, nil
			}
			// Every mistake of every file in one run: the policies named
			// are checked too, though not their references to the config.
			cfg = nil
		}
	}
	stat := l.stat
	if stat == nil {
		stat = os.Stat
	}
	if len(paths) == 0 {
		if cfg == nil {
			return nil, nil, nil, fmt.Errorf("no policy path given and no -config whose policy_dir to read")
		}
		paths = []string{cfg.PolicyDir}
		if d := policyDirProblem(cfg, stat); d != nil {
			return &policies.Set{}, append(ds, d), srcs, nil
		}
		if d := emptyPolicyDir(cfg); d != nil {
			ds = append(ds, d)
		}
	} else {
		ds = append(ds, emptyPaths(paths, stat)...)
	}
	opts := policies.LoadOptions{Now: now}
	if cfg != nil {
		// Only a config that was read checks references: a nil *Config
		// in the interface would not be nil.
		opts.Config = cfg
	}
	set, pds := policies.LoadPolicies(paths, opts)
	for k, v := range set.Sources {
		srcs[k] = v
	}
	ds = append(ds, pds...)
	policies.Sort(ds)
	return set, ds, srcs, nil
}

type validateCmd struct {
	env *env
	now func() time.Time
}

func (c *validateCmd) Synopsis() string { return "Check policy files; exit 1 on any error" }
func (c *validateCmd) Help() string {
	return `Usage: tumult validate [-config FILE] [-json] PATH...

  Checks every policy file in PATH (files, or directories whose *.hcl files
  are read) and prints each problem as file:line:column with the source
  line. With -config, references to docker/nomad/alertmanager/prometheus
  blocks are checked against the agent config; with no PATH its policy_dir
  is read. Exit status: 0 clean (warnings allowed), 1 on any error,
  2 on bad usage.

Options:
` + flagUsage(c.flags(new(loadFlags)))
}

func (c *validateCmd) flags(l *loadFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	l.register(fs)
	return fs
}

type validateReport struct {
	Valid       bool                      `json:"valid"`
	Errors      int                       `json:"errors"`
	Warnings    int                       `json:"warnings"`
	Files       []string                  `json:"files"`
	Policies    []string                  `json:"policies"`
	Diagnostics []policies.JSONDiagnostic `json:"diagnostics"`
}

func (c *validateCmd) Run(args []string) int {
	var l loadFlags
	fs := c.flags(&l)
	fs.SetOutput(c.env.err)
	l.stat = c.env.stat
	if err := fs.Parse(args); err != nil {
		return 2
	}
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	set, ds, srcs, err := l.load(fs.Args(), now())
	if err != nil {
		fmt.Fprintf(c.env.err, "tumult validate: %v\n", err)
		return 2
	}
	errs, warns := policies.Count(ds)
	if l.json {
		r := validateReport{Valid: errs == 0, Errors: errs, Warnings: warns, Files: set.Files, Policies: []string{}, Diagnostics: policies.ToJSON(ds)}
		if r.Files == nil {
			r.Files = []string{}
		}
		for _, p := range set.Policies {
			r.Policies = append(r.Policies, p.Name)
		}
		enc := json.NewEncoder(c.env.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	} else {
		policies.WriteDiagnostics(c.env.out, ds, srcs)
		fmt.Fprintf(c.env.out, "%s, %s in %s (%s)\n", plural(errs, "error"), plural(warns, "warning"),
			plural(len(set.Files), "file"), plural(len(set.Policies), "valid policy"))
	}
	if errs > 0 {
		return 1
	}
	return 0
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(word, "y"))
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func flagUsage(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return b.String()
}

// policyDirProblem reports a policy_dir that is not a readable directory
// at the policy_dir attribute of the config (at its first line when the
// default is used), since that is where the mistake is.
func policyDirProblem(cfg *config.Config, stat func(string) (os.FileInfo, error)) *hcl.Diagnostic {
	info, err := stat(cfg.PolicyDir)
	if err == nil && info.IsDir() {
		return nil
	}
	why := "it is not a directory"
	if err != nil {
		why = err.Error()
	}
	at, detail := cfg.PolicyDirAt, fmt.Sprintf("policy_dir %q: %s; write the directory that holds the *.hcl policy files, absolute or relative to this file.", cfg.PolicyDir, why)
	if at.Filename == "" {
		at = hcl.Range{Filename: cfg.File, Start: hcl.InitialPos, End: hcl.InitialPos}
		detail = fmt.Sprintf("policy_dir is not set, so the default %q is read: %s; set policy_dir in this file.", cfg.PolicyDir, why)
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read policy_dir", Detail: detail, Subject: at.Ptr()}
}

// hasPolicyFile says whether dir holds a *.hcl file, the files
// policies.LoadPolicies reads from a directory.
func hasPolicyFile(dir string) bool {
	matches, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	return err == nil && len(matches) > 0
}

// emptyPolicyDir warns, at policy_dir, when the config's policy_dir holds
// no policy file. Only a warning: an agent may start with no policy and
// have them added and reloaded later.
func emptyPolicyDir(cfg *config.Config) *hcl.Diagnostic {
	if hasPolicyFile(cfg.PolicyDir) {
		return nil
	}
	at := cfg.PolicyDirAt
	if at.Filename == "" {
		at = hcl.Range{Filename: cfg.File, Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "No policy files",
		Detail:  fmt.Sprintf("policy_dir %q holds no *.hcl file, so no policy is checked or scheduled.", cfg.PolicyDir),
		Subject: at.Ptr()}
}

// emptyPaths reports, as errors, each directory named on the command line
// that holds no *.hcl file: in CI a mistyped or wrong directory would
// otherwise pass with "0 errors" and check nothing. Paths that cannot be
// read are left to policies.LoadPolicies.
func emptyPaths(paths []string, stat func(string) (os.FileInfo, error)) hcl.Diagnostics {
	var ds hcl.Diagnostics
	for _, p := range paths {
		if info, err := stat(p); err != nil || !info.IsDir() || hasPolicyFile(p) {
			continue
		}
		ds = append(ds, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No policy files",
			Detail: fmt.Sprintf("directory %q holds no *.hcl file; name the directory or the files that hold the policies.", p)})
	}
	return ds
}
