package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/inferensys/tumult/api/server"
	"github.com/inferensys/tumult/internal/crash"
)

// serve starts the HTTP API on the configured listener (or
// http.address) and registers its shutdown. The handler, its routes and
// its authentication live in api/server; this is only the listener and
// the timeouts of the daemon's http.Server.
func (a *Agent) serve() error {
	l := a.opts.Listener
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", a.cfg.HTTP.Address); err != nil {
			return fmt.Errorf("listen on %s (http.address): %w", a.cfg.HTTP.Address, err)
		}
	}
	a.listener = l
	a.server = &http.Server{
		Handler: server.New(server.Options{
			Service: a, Tokens: a.tokens, Gatherer: a.reg, Logger: a.log.Named("api"), Now: a.clock.Now,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // a pause with restore waits for every restore
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		defer crash.Recover("agent: api server")
		if err := a.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("api server", "error", err)
		}
	}()
	a.onStop("stop api", func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return a.server.Shutdown(sctx)
	})
	if a.tokens == nil {
		a.log.Warn("the API has no tokens_file: anyone who can reach " + l.Addr().String() + " can pause, resume and halt")
	}
	return nil
}
