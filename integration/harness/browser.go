package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// A real browser for tests: Debian's headless Chromium, driven through the
// DevTools protocol by chromedp. Every console message of level error, every
// uncaught exception and every log entry of level error (a CSP violation, a
// resource that failed to load) is collected, so that a test can require a
// page to run clean.

const (
	// browserStartTimeout bounds Chromium's start and first navigation.
	browserStartTimeout = 30 * time.Second
)

// ChromiumBinary finds headless Chromium: $CHROMIUM when set, else
// chromium or chromium-browser on PATH.
func ChromiumBinary() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	var errs []error
	for _, name := range []string{"chromium", "chromium-browser"} {
		p, err := exec.LookPath(name)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("no Chromium (install Debian's chromium package, or make deps): %w", errors.Join(errs...))
}

// BrowserOptions say how StartBrowser starts Chromium.
type BrowserOptions struct {
	// Width and Height of the window in CSS pixels (default 1280×900).
	Width, Height int
}

// Browser is one headless Chromium with one tab, closed when the test
// ends.
type Browser struct {
	tb testing.TB
	// Ctx runs actions in the tab: chromedp.Run(b.Ctx, ...).
	Ctx context.Context

	mu     sync.Mutex
	errors []string
}

// StartBrowser starts headless Chromium with a fresh profile. Without
// Chromium the test is skipped, or fails under CI=true.
func StartBrowser(t testing.TB, opts BrowserOptions) *Browser {
	t.Helper()
	bin, err := ChromiumBinary()
	if err != nil {
		Missing(t, "Chromium", err)
	}
	if opts.Width == 0 {
		opts.Width, opts.Height = 1280, 900
	}
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(opts.Width, opts.Height),
		// Tests run as root in containers, where Chromium's sandbox
		// cannot start; the pages are the test's own.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &Browser{tb: t, Ctx: ctx}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	err = chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				b.note("console.error: " + strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			b.note("uncaught exception: " + msg)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				b.note(fmt.Sprintf("%s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium (%s): %v", bin, err)
	}
	sctx, cancel := context.WithTimeout(ctx, browserStartTimeout)
	defer cancel()
	if _, err := chromedp.Call(sctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("start Chromium (%s): enable the log domain: %v", bin, err)
	}
	if _, err := chromedp.Call(sctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("start Chromium (%s): enable the runtime domain: %v", bin, err)
	}
	return b
}

func (b *Browser) note(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, msg)
}

// Errors returns the errors the pages reported so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// ScriptErrors is Errors without the network's own reports: a page that
// shows an API's refusal (401, 403, 409) makes the browser log each one,
// and a request cut by a change of the host's interfaces (Docker creating
// networks for other tests) is logged as ERR_NETWORK_CHANGED. What is left
// are the page's errors: exceptions, console.error, CSP violations.
func (b *Browser) ScriptErrors() []string {
	var out []string
	for _, e := range b.Errors() {
		if strings.HasPrefix(e, "network: ") {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Do runs actions in the tab, bounded by timeout; an error fails the test
// with what was being done.
func (b *Browser) Do(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	if err := b.TryDo(timeout, actions...); err != nil {
		b.tb.Fatalf("browser: %s: %v (page errors: %q)", what, err, b.Errors())
	}
}

// TryDo runs actions in the tab, bounded by timeout, and returns their
// error.
func (b *Browser) TryDo(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.Ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Text returns the text content of the first element matching the CSS
// selector, waiting up to timeout for it to exist.
func (b *Browser) Text(timeout time.Duration, sel string) string {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, timeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.tb.Fatalf("browser: read %s: %v (page errors: %q)", sel, err, b.Errors())
	}
	return strings.TrimSpace(s)
}

// Eval evaluates a JavaScript expression in the page and decodes its
// value into T.
func Eval[T any](b *Browser, timeout time.Duration, expr string) T {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.tb.Fatalf("browser: evaluate %s: %v (page errors: %q)", expr, err, b.Errors())
	}
	return v
}

// ScreenshotDir is where screenshots go: $TUMULT_SCREENSHOTS when set,
// else integration/testdata/out in the module (ignored by git).
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("TUMULT_SCREENSHOTS")
	if dir == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		root, err := moduleRoot(ctx)
		if err != nil {
			t.Fatalf("find the module root for screenshots: %v", err)
		}
		dir = filepath.Join(root, "integration", "testdata", "out")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("make screenshot dir: %v", err)
	}
	return dir
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Screenshot writes a PNG of the whole page to ScreenshotDir, named after
// the test and name, for a person to look at, and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.tb.Fatalf("browser: screenshot %s: %v", name, err)
	}
	file := unsafeName.ReplaceAllString(b.tb.Name()+"-"+name, "_") + ".png"
	path := filepath.Join(ScreenshotDir(b.tb), file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.tb.Fatalf("write screenshot: %v", err)
	}
	b.tb.Logf("screenshot: %s", path)
	return path
}
