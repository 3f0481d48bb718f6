// Command fleet is the small service tumult's integration tests run as
// chaos targets. It is built statically and shipped in a FROM scratch
// image, so it is also its own health-check client (-check URL).
//
// It simulates its own traffic: a ticker counts requests at -rate per
// second, a fraction error_rate of them as code 500, so a Prometheus that
// scrapes /metrics sees an error ratio without any external load.
//
// Endpoints:
//
//	GET  /health   200 "ok", or 503 once made unhealthy
//	GET  /metrics  Prometheus text format
//	GET  /control  current error_rate and healthy as JSON
//	POST /control  ?error_rate=0.5&healthy=false (either optional)
//	GET  /dial     ?addr=host:port&timeout=1s: TCP connect from the member,
//	               200 "ok <ms>" or 502 with the error
//
// SIGTERM and SIGINT shut it down gracefully with exit code 0, so that
// docker stop is quick; SIGHUP is logged and otherwise ignored.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil))
}

// run is main without the process: it returns the exit code. ready, when
// not nil, receives the address the server listens on.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- net.Addr) int {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", envOr(getenv, "FLEET_LISTEN", ":8080"), "address to listen on (env FLEET_LISTEN)")
	app := fs.String("app", envOr(getenv, "FLEET_APP", "fleet"), "value of the app label on metrics (env FLEET_APP)")
	rate := fs.Int("rate", 20, "simulated requests per second")
	check := fs.String("check", "", "health-check mode: GET the URL, exit 0 on 200, else 1")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *check != "" {
		if err := checkURL(ctx, *check); err != nil {
			fmt.Fprintln(stderr, "fleet: check:", err)
			return 1
		}
		return 0
	}
	if *rate < 0 {
		fmt.Fprintln(stderr, "fleet: -rate must not be negative")
		return 2
	}

	// SIGHUP would end a Go program by default; a signal fault with SIGHUP
	// should leave the service running, as it does most daemons.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	s := newService(*app, *rate)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "fleet:", err)
		return 1
	}
	if ready != nil {
		ready <- ln.Addr()
	}
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			s.simulate()
		case <-hup:
			fmt.Fprintln(stderr, "fleet: SIGHUP received, nothing to reload")
		case err := <-served:
			fmt.Fprintln(stderr, "fleet: serve:", err)
			return 1
		case <-ctx.Done():
			shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutCtx); err != nil {
				fmt.Fprintln(stderr, "fleet: shutdown:", err)
			}
			return 0
		}
	}
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// checkURL is the image's HEALTHCHECK: the image has no shell and no curl.
func checkURL(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}
