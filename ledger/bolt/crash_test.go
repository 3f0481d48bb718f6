package bolt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/ledger"
)

// The crash test runs this test binary again as a writer (TestMain
// with crashEnv set), kills it with SIGKILL while it writes, and checks that
// every write the writer acknowledged is in the file.
const crashEnv = "TUMULT_LEDGER_CRASH_WRITER"

const (
	crashRounds      = 3
	crashAcksBefore  = 150 // acknowledged writes to see before each kill
	crashWriterLimit = 100_000
	crashDeadline    = 60 * time.Second
)

// TestMain runs the crash test's writer when the test binary is started
// as one (crashEnv set), and the tests otherwise.
func TestMain(m *testing.M) {
	if spec := os.Getenv(crashEnv); spec != "" {
		if err := crashWriter(spec); err != nil {
			fmt.Fprintln(os.Stderr, "crash writer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashWriter writes until it is killed. It prints one line per
// acknowledged write: "begin ID", "injected ID", "finished ID" or
// "control VERSION".
func crashWriter(spec string) error {
	path, prefix, ok := strings.Cut(spec, "|")
	if !ok {
		return fmt.Errorf("bad %s=%q", crashEnv, spec)
	}
	s, err := Open(path, Options{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	ctx := context.Background()
	deadline := time.Now().Add(crashDeadline)
	ack := func(format string, args ...any) error {
		// One write(2) per line, unbuffered, so a line exists only after
		// the write it acknowledges has returned.
		_, err := fmt.Fprintf(os.Stdout, format+"\n", args...)
		return err
	}
	for i := 0; i < crashWriterLimit && time.Now().Before(deadline); i++ {
		id := fmt.Sprintf("%s-%06d", prefix, i)
		if err := s.Begin(ctx, ledger.Record{ID: id, Policy: "crash", Phase: ledger.Intent}); err != nil {
			return err
		}
		if err := ack("begin %s", id); err != nil {
			return err
		}
		if _, err := s.Update(ctx, id, func(r *ledger.Record) error {
			r.Phase, r.Injected = ledger.Injected, time.Now()
			r.AddStep(time.Now(), "injected")
			return nil
		}); err != nil {
			return err
		}
		if err := ack("injected %s", id); err != nil {
			return err
		}
		if i%3 == 0 {
			if _, err := s.Update(ctx, id, func(r *ledger.Record) error {
				r.Phase, r.Result = ledger.Finished, ledger.Passed
				return nil
			}); err != nil {
				return err
			}
			if err := ack("finished %s", id); err != nil {
				return err
			}
		}
		if i%5 == 0 {
			c, err := s.UpdateControl(ctx, func(c *ledger.Control) error {
				c.Reason = id
				return nil
			})
			if err != nil {
				return err
			}
			if err := ack("control %d", c.Version); err != nil {
				return err
			}
		}
	}
	// Reaching here means the parent never killed us; it will notice.
	return nil
}

func TestSurvivesKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	acked := map[string]ledger.Phase{} // every acknowledged record, at its acknowledged phase
	var ackedVersion uint64

	for round := range crashRounds {
		ctx, cancel := context.WithTimeout(t.Context(), crashDeadline+10*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0])
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|round%d", crashEnv, path, round))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		lines := 0
		killed := false
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			what, arg, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				continue // the test framework's own output
			}
			switch what {
			case "begin":
				acked[arg] = ledger.Intent
			case "injected":
				acked[arg] = ledger.Injected
			case "finished":
				acked[arg] = ledger.Finished
			case "control":
				v, err := strconv.ParseUint(arg, 10, 64)
				require.NoError(t, err)
				ackedVersion = v
			default:
				continue
			}
			lines++
			if lines == crashAcksBefore && !killed {
				// Lines already in the pipe are still read: they were
				// acknowledged before the kill.
				require.NoError(t, cmd.Process.Kill())
				killed = true
			}
		}
		require.NoError(t, sc.Err())
		err = cmd.Wait()
		cancel()
		require.True(t, killed, "round %d: the writer ended before %d acknowledgements", round, crashAcksBefore)
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "round %d: writer: %v", round, err)
		ws, ok := exit.Sys().(syscall.WaitStatus)
		require.True(t, ok)
		require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "round %d: the writer died of SIGKILL, not %v", round, err)

		checkAcked(t, path, acked, ackedVersion, round+1)
	}
}

// checkAcked reopens the file and checks that every acknowledged write is
// there: each record at its acknowledged phase or later.
func checkAcked(t *testing.T, path string, acked map[string]ledger.Phase, version uint64, kills int) {
	t.Helper()
	s, err := Open(path, Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()

	got := map[string]ledger.Record{}
	active, err := s.Active(t.Context())
	require.NoError(t, err)
	hist, err := s.History(t.Context(), ledger.HistoryQuery{})
	require.NoError(t, err)
	for _, r := range append(active, hist...) {
		got[r.ID] = r
	}
	order := map[ledger.Phase]int{ledger.Intent: 0, ledger.Injected: 1, ledger.Finished: 2}
	for id, phase := range acked {
		r, ok := got[id]
		require.True(t, ok, "acknowledged record %s is missing", id)
		require.GreaterOrEqual(t, order[r.Phase], order[phase], "record %s: acknowledged %s, found %s", id, phase, r.Phase)
		if r.Phase != ledger.Intent {
			require.False(t, r.Injected.IsZero(), "record %s", id)
		}
	}
	// Only the one Begin in flight at each kill may be there unacknowledged.
	require.LessOrEqual(t, len(got)-len(acked), kills)

	c, err := s.Control(t.Context())
	require.NoError(t, err)
	require.GreaterOrEqual(t, c.Version, version, "acknowledged control updates survive")
	t.Logf("after kill: %d records acknowledged, %d active, %d finished, control version %d", len(acked), len(active), len(hist), c.Version)
}
