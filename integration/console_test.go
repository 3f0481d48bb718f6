//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
)

// These tests drive the on-call console in real headless Chromium against
// an agent running on real Docker: the page is read and clicked as a
// person would, and what it shows is checked against the API and Docker.
// Screenshots go to integration/testdata/out (or $TUMULT_SCREENSHOTS).

// csPolicy is a policy on the fleet labelled run whose only window opens
// two hours from now for three hours: closed now, so the scheduler never
// acts on its own and every fault in these tests is one the test asked
// for; and the console has a window to draw on the next 24 hours.
func csPolicy(name, run, fault, extra string) string {
	open := time.Now().UTC().Add(2 * time.Hour)
	return fmt.Sprintf(`policy %q {
  target "docker" {
    labels = { %q = %q }
  }
  fault %s
  window {
    cron     = "%d %d * * *"
    duration = "3h"
  }
  every {
    mean = "10m"
  }
  limits {
    max_disrupted = 1
    min_healthy   = 0
  }
%s}
`, name, runLabel, run, fault, open.Minute(), open.Hour(), extra)
}

// csFleet starts n opted-in containers labelled run and returns them.
func csFleet(ctx context.Context, t *testing.T, cli *client.Client, run string, n int) []harness.Container {
	return harness.StartFleet(ctx, t, cli, harness.FleetOptions{
		Prefix: run, N: n, Labels: map[string]string{runLabel: run, "tumult.enable": "true"},
	})
}

func csPaused(ctx context.Context, t *testing.T, cli *client.Client, id string) bool {
	t.Helper()
	info, err := cli.ContainerInspect(ctx, id)
	require.NoError(t, err)
	return info.State.Paused
}

// csWaitText waits until the text of sel contains want.
func csWaitText(t *testing.T, b *harness.Browser, within time.Duration, sel, want string) {
	t.Helper()
	var last string
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(b.Ctx, time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		last = s
		return err == nil && strings.Contains(s, want)
	}, within, 50*time.Millisecond, "%s never showed %q; last %q; page errors %q", sel, want, last, b.Errors())
}

// csUseToken types a token into the page's token form.
func csUseToken(b *harness.Browser, token string) {
	b.Do(10*time.Second, "enter the token",
		chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#token-save")))
}

// csAsk clicks an action button, types the reason and confirms.
func csAsk(b *harness.Browser, button, reason string) {
	b.Do(10*time.Second, "click "+button,
		chromedp.Click(chromedp.CSS(button)),
		chromedp.WaitVisible(chromedp.CSS("#dlg-reason")),
		chromedp.SendKeys(chromedp.CSS("#dlg-reason"), reason),
		chromedp.Click(chromedp.CSS("#dlg-ok")))
}

// TestConsoleShowsFaultsAndHaltsOnAlert: a fault shows on the page within
// a second of its injection, with its member, kind and time left; an
// alert delivered by Alertmanager's webhook turns the page to HALTED and
// the fault disappears as it is restored.
func TestConsoleShowsFaultsAndHaltsOnAlert(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := gdCtx(t, 4*time.Minute)
	run := harness.Unique("cs-live")
	token := harness.RandomToken()
	l := harness.LoopbackListener(t)
	am := harness.StartAlertmanager(t, harness.AlertmanagerOptions{Config: fmt.Sprintf(`route:
  receiver: tumult
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tumult
    webhook_configs:
      - url: %q
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: %q
`, "http://"+l.Addr().String()+"/v1/alertmanager?alertmanager=main", token)})
	fleet := csFleet(ctx, t, cli, run, 3)
	b := harness.StartBrowser(t, harness.BrowserOptions{})
	a := harness.StartInProc(ctx, t, harness.InProcOptions{
		Token: token, Listener: l,
		Policies: map[string]string{"console": csPolicy("cs-pause", run, `"pause" { duration = "5m" }`, "")},
		ConfigHCL: fmt.Sprintf(`
docker "local" {}
alertmanager "main" {
  address       = %q
  poll_interval = "1m"
}
guardian {
  stale_after = "5m"
  halt_on {
    alert {
      matchers = [%q]
    }
  }
}
`, am.URL(), fmt.Sprintf("cs_run=%q", run)),
	})

	b.Do(30*time.Second, "open the console", chromedp.Navigate(a.URL()+"/"))
	csWaitText(t, b, 10*time.Second, "#state", "LOCKED")
	csUseToken(b, token)
	csWaitText(t, b, 10*time.Second, "#state", "ARMED")
	csWaitText(t, b, 10*time.Second, `#sources [data-source="alertmanager/main"]`, "up")
	csWaitText(t, b, 10*time.Second, `#policies [data-policy="cs-pause"]`, "window closed")

	rec, err := a.Client.Inject(ctx, api.InjectRequest{Policy: "cs-pause", Reason: "console test"})
	require.NoError(t, err)
	injected := time.Now()
	row := fmt.Sprintf(`#faults tbody tr[data-member=%q]`, rec.Member.Short())
	b.Do(5*time.Second, "wait for the fault's row", chromedp.WaitVisible(chromedp.CSS(row)))
	shown := time.Since(injected)
	t.Logf("the fault on %s showed %s after the injection returned", rec.Member.Short(), shown.Round(time.Millisecond))
	require.Less(t, shown, time.Second, "the page shows a fault within a second")
	csWaitText(t, b, 5*time.Second, row, "injected")
	text := b.Text(5*time.Second, row)
	require.Contains(t, text, "cs-pause")
	require.Contains(t, text, "pause")
	require.Regexp(t, `4m5\ds|5m00s`, text, "time left of a 5m pause")
	require.Contains(t, text, "tests", "the actor is the token's name")
	require.True(t, csPaused(ctx, t, cli, fleet[0].ID) || csPaused(ctx, t, cli, fleet[1].ID) || csPaused(ctx, t, cli, fleet[2].ID))
	b.Screenshot("fault")

	am.PostAlert(map[string]string{"alertname": "CsCheckoutDown", "severity": "page", "cs_run": run}, time.Now(), time.Time{})
	csWaitText(t, b, 20*time.Second, "#state", "HALTED")
	csWaitText(t, b, 5*time.Second, "#state-detail", "CsCheckoutDown")
	b.Do(20*time.Second, "wait for the fault to leave the page", chromedp.WaitNotPresent(chromedp.CSS(row)))
	csWaitText(t, b, 5*time.Second, "#history tbody", "restored")
	for _, c := range fleet {
		require.False(t, csPaused(ctx, t, cli, c.ID), "%s restored", c.Name)
	}
	st, err := a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Halted, st.State)
	require.Empty(t, st.Faults)
	b.Screenshot("halted-by-alert")
	require.Empty(t, b.ScriptErrors(), "the page ran without errors")
}

// TestConsoleHaltButtonNeedsTheRightToken: without a token, or with a
// wrong one, the Halt button shows the refusal and nothing changes; with
// the right one it halts and restores, and Resume arms again.
func TestConsoleHaltButtonNeedsTheRightToken(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := gdCtx(t, 4*time.Minute)
	run := harness.Unique("cs-halt")
	token := harness.RandomToken()
	fleet := csFleet(ctx, t, cli, run, 2)
	b := harness.StartBrowser(t, harness.BrowserOptions{})
	a := harness.StartInProc(ctx, t, harness.InProcOptions{
		Token:    token,
		Policies: map[string]string{"console": csPolicy("cs-halt", run, `"pause" { duration = "5m" }`, "")},
	})
	rec, err := a.Client.Inject(ctx, api.InjectRequest{Policy: "cs-halt", Member: fleet[0].Name, Reason: "something to restore"})
	require.NoError(t, err)
	require.True(t, csPaused(ctx, t, cli, fleet[0].ID))

	unchanged := func(what string) {
		t.Helper()
		st, err := a.Client.Status(ctx)
		require.NoError(t, err)
		require.Equal(t, ledger.Armed, st.State, what)
		require.Len(t, st.Faults, 1, what)
		require.Equal(t, rec.ID, st.Faults[0].ID, what)
		require.True(t, csPaused(ctx, t, cli, fleet[0].ID), what)
	}

	b.Do(30*time.Second, "open the console", chromedp.Navigate(a.URL()+"/"))
	csWaitText(t, b, 10*time.Second, "#state", "LOCKED")
	csWaitText(t, b, 5*time.Second, "#faults-empty", "Unknown: the agent answers only with an accepted token.")
	csAsk(b, "#halt-btn", "no token")
	csWaitText(t, b, 10*time.Second, "#notice", "Refused: halt was not done: missing bearer token")
	csWaitText(t, b, 5*time.Second, "#notice", "(HTTP 401)")
	unchanged("after Halt without a token")
	b.Screenshot("no-token-refused")

	csUseToken(b, "wrong-token-0123456789abcdef")
	csWaitText(t, b, 10*time.Second, "#token-state", "this token is refused")
	csAsk(b, "#halt-btn", "wrong token")
	csWaitText(t, b, 10*time.Second, "#notice", "Refused: halt was not done: unknown token (HTTP 403)")
	unchanged("after Halt with a wrong token")
	b.Screenshot("wrong-token-refused")

	csUseToken(b, token)
	csWaitText(t, b, 10*time.Second, "#state", "ARMED")
	csWaitText(t, b, 5*time.Second, fmt.Sprintf(`#faults tbody tr[data-member=%q]`, fleet[0].Name), "cs-halt")
	require.Equal(t, token, harness.Eval[string](b, 5*time.Second, `sessionStorage.getItem("tumult.token")`))
	require.Empty(t, harness.Eval[string](b, 5*time.Second, `document.cookie`), "the token is never a cookie")
	b.Screenshot("armed-with-fault")

	csAsk(b, "#halt-btn", "console halt test")
	csWaitText(t, b, 10*time.Second, "#state", "HALTED")
	csWaitText(t, b, 5*time.Second, "#notice", "Halted by tests: console halt test")
	csWaitText(t, b, 5*time.Second, "#state-detail", "by tests")
	st, err := a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Halted, st.State)
	require.Equal(t, "tests", st.Actor)
	require.Equal(t, "console halt test", st.Reason)
	// The halt is answered once recorded; its restore follows at once.
	require.Eventually(t, func() bool {
		st, err := a.Client.Status(ctx)
		return err == nil && len(st.Faults) == 0
	}, 10*time.Second, 50*time.Millisecond, "the halt restored the fault")
	require.False(t, csPaused(ctx, t, cli, fleet[0].ID))
	csWaitText(t, b, 5*time.Second, "#faults-empty", "No fault is active.")
	b.Screenshot("halted-by-button")

	b.Do(10*time.Second, "phone-sized viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.Screenshot("halted-phone")
	b.Do(10*time.Second, "desktop viewport", chromedp.EmulateViewport(1280, 900))

	csAsk(b, "#resume-btn", "all clear")
	csWaitText(t, b, 10*time.Second, "#state", "ARMED")
	st, err = a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Armed, st.State)
	require.Empty(t, b.ScriptErrors(), "the page ran without errors")
}
