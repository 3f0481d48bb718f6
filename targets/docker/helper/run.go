package helper

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"
)

// Run is the helper's command line, `tumult helper net|stress|clean SPEC`.
// It returns the exit code: 0 when the fault was undone (or cleaned), 1 on
// failure, 2 on a usage error. ctx ends on SIGTERM, which is how tumult's
// restore stops it.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprintln(stderr, "usage: tumult helper net|stress|clean|check [SPEC]")
		return 2
	}
	switch args[0] {
	case "net":
		var spec NetSpec
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: tumult helper net SPEC")
			return 2
		}
		if err := decode(args[1], &spec); err != nil {
			fmt.Fprintln(stdout, Failed(err))
			return 1
		}
		return runNet(ctx, spec, stdout, stderr)
	case "stress":
		var spec StressSpec
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: tumult helper stress SPEC")
			return 2
		}
		if err := decode(args[1], &spec); err != nil {
			fmt.Fprintln(stdout, Failed(err))
			return 1
		}
		ctx, cancel := untilCtx(ctx, spec.Until)
		defer cancel()
		if spec.CPUWorkers > 0 {
			runtime.GOMAXPROCS(spec.CPUWorkers + 1)
		}
		fmt.Fprintln(stdout, Ready(MechCgroup))
		stress(ctx, spec)
		fmt.Fprintln(stdout, Cleaned(0))
		return 0
	case "check":
		found, err := countNet()
		if err != nil {
			fmt.Fprintln(stdout, Failed(err))
			return 1
		}
		fmt.Fprintf(stdout, "tumult-helper found %d\n", len(found))
		for _, f := range found {
			fmt.Fprintln(stdout, "  "+f)
		}
		return 0
	case "clean":
		n, err := cleanNet()
		if err != nil {
			fmt.Fprintln(stdout, Failed(err))
			return 1
		}
		fmt.Fprintln(stdout, Cleaned(n))
		return 0
	}
	fmt.Fprintf(stderr, "tumult helper: unknown command %q\n", args[0])
	return 2
}

func runNet(ctx context.Context, spec NetSpec, stdout, stderr io.Writer) int {
	ctx, cancel := untilCtx(ctx, spec.Until)
	defer cancel()
	var stage *delayStage
	mech, err := applyNet(spec)
	if err == nil && mech == MechNetfilter && spec.Delay > 0 {
		stage, err = startDelayStage(spec)
		if err != nil {
			_, _ = cleanNet()
		}
	}
	if err != nil {
		fmt.Fprintln(stdout, Failed(err))
		return 1
	}
	fmt.Fprintln(stdout, Ready(mech))
	stageErr := make(chan error, 1)
	if stage != nil {
		go func() { stageErr <- stage.run(ctx) }()
	}
	select {
	case <-ctx.Done():
	case err := <-stageErr:
		// The queue's bypass flag already lets traffic through undelayed;
		// say so, and keep the rest of the fault until stopped.
		fmt.Fprintf(stderr, "tumult helper: delay stage stopped: %v\n", err)
		<-ctx.Done()
	}
	n, err := cleanNet()
	if err != nil {
		fmt.Fprintln(stdout, Failed(err))
		return 1
	}
	fmt.Fprintln(stdout, Cleaned(n))
	return 0
}

// untilCtx ends ctx at until as well (the dead man's switch); a zero until
// adds no deadline.
func untilCtx(ctx context.Context, until time.Time) (context.Context, context.CancelFunc) {
	if until.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, until)
}
