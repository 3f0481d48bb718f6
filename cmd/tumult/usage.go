package main

import (
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
)

// route handles what hashicorp/cli gets wrong for a CLI that scripts call:
// it prints `tumult help` to stderr with exit 127 and says nothing of an
// unknown command. It returns handled = false when cli should run args.
//
//	tumult help [COMMAND]         the usage (or COMMAND's help) on stdout, exit 0
//	tumult                        the usage on stderr, exit 2
//	tumult bogus                  "unknown command" and the usage on stderr, exit 2
//	tumult -v | --version         the same line as `tumult version`, exit 0
func (e *env) route(args []string, commands map[string]cli.CommandFactory) (code int, handled bool) {
	if len(args) == 0 {
		fmt.Fprint(e.err, usage(commands))
		return 2, true
	}
	switch first := args[0]; {
	case first == "help":
		if len(args) == 1 {
			fmt.Fprint(e.out, usage(commands))
			return 0, true
		}
		if args[1] == "help" {
			fmt.Fprintln(e.out, "Usage: tumult help [COMMAND]\n\n  "+helpSynopsis+".")
			return 0, true
		}
		name := commandName(args[1:], commands)
		f, ok := commands[name]
		if !ok {
			fmt.Fprintf(e.err, "tumult: unknown command %q; run 'tumult help' for the list.\n", name)
			return 2, true
		}
		c, err := f()
		if err != nil {
			fmt.Fprintf(e.err, "tumult: %v\n", err)
			return 1, true
		}
		fmt.Fprintln(e.out, strings.TrimRight(c.Help(), "\n"))
		return 0, true
	case first == "-v", first == "-version", first == "--version":
		fmt.Fprintln(e.out, versionLine())
		return 0, true
	case first == "-h", first == "-help", first == "--help":
		fmt.Fprint(e.out, usage(commands))
		return 0, true
	case strings.HasPrefix(first, "-"):
		fmt.Fprintf(e.err, "tumult: unknown flag %q; a command comes first, e.g. 'tumult status'.\n\n%s", first, usage(commands))
		return 2, true
	default:
		if _, ok := commands[commandName(args, commands)]; !ok && !hasSubcommands(first, commands) {
			fmt.Fprintf(e.err, "tumult: unknown command %q; run 'tumult help' for the list.\n", first)
			return 2, true
		}
	}
	return 0, false
}

// commandName is the command args start with: two words for a subcommand
// ("ledger check"), else the first.
func commandName(args []string, commands map[string]cli.CommandFactory) string {
	if len(args) >= 2 {
		if _, ok := commands[args[0]+" "+args[1]]; ok {
			return args[0] + " " + args[1]
		}
	}
	return args[0]
}

// hasSubcommands reports whether name is the first word of subcommands
// ("ledger"), for which cli lists them.
func hasSubcommands(name string, commands map[string]cli.CommandFactory) bool {
	for c := range commands {
		if strings.HasPrefix(c, name+" ") {
			return true
		}
	}
	return false
}

// helpSynopsis is what the usage says of `tumult help`.
const helpSynopsis = "Show this list, or a command's help and flags (tumult help COMMAND)"

// usage lists the commands with their synopses.
func usage(commands map[string]cli.CommandFactory) string {
	// help is routed before hashicorp/cli sees it, so it is no entry of
	// commands; it is listed all the same, being a command people type.
	names := []string{"help"}
	width := len("help")
	for name := range commands {
		if hiddenCommands[name] {
			continue
		}
		names = append(names, name)
		width = max(width, len(name))
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("Usage: tumult <command> [flags] [args]\n\nCommands:\n")
	for _, name := range names {
		synopsis := helpSynopsis
		if f, ok := commands[name]; ok {
			synopsis = ""
			if c, err := f(); err == nil {
				synopsis = c.Synopsis()
			}
		}
		fmt.Fprintf(&b, "    %-*s  %s\n", width, name, synopsis)
	}
	b.WriteString("\n'tumult help COMMAND' or 'tumult COMMAND -h' shows a command's flags.\n")
	return b.String()
}

// buildInfo is what `tumult version` reports: the module version (or the
// -ldflags Version when set) and the VCS revision the binary was built
// from, as the Go toolchain stamps them.
type buildInfo struct {
	Version   string // "v1.2.3", "(devel)" for a build from a work tree
	Revision  string // full commit hash; "" when built without VCS info
	Time      string // commit time, RFC 3339
	Modified  bool   // the work tree had uncommitted changes
	GoVersion string
}

func readBuildInfo() buildInfo {
	bi := buildInfo{Version: Version}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return bi
	}
	bi.GoVersion = info.GoVersion
	if Version == "dev" && info.Main.Version != "" {
		bi.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			bi.Revision = s.Value
		case "vcs.time":
			bi.Time = s.Value
		case "vcs.modified":
			bi.Modified = s.Value == "true"
		}
	}
	return bi
}

// String: "tumult v1.2.3 (revision 0123456789ab, 2026-11-29T20:00:00Z, modified; go1.26.8)".
func (b buildInfo) String() string {
	var parts []string
	if b.Revision != "" {
		rev := "revision " + b.Revision[:min(12, len(b.Revision))]
		if b.Time != "" {
			rev += ", " + b.Time
		}
		if b.Modified {
			rev += ", modified"
		}
		parts = append(parts, rev)
	} else {
		parts = append(parts, "no VCS revision recorded")
	}
	if b.GoVersion != "" {
		parts = append(parts, b.GoVersion)
	}
	return fmt.Sprintf("tumult %s (%s)", b.Version, strings.Join(parts, "; "))
}

func versionLine() string { return readBuildInfo().String() }
