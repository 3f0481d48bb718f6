package alerting

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/go-hclog"
)

// source is what every HTTP source starts from: its checked base URL and
// the HTTP client, logger and clock of its options, defaults applied.
type source struct {
	url  *url.URL
	http *http.Client
	log  hclog.Logger
	now  func() time.Time
}

// newSource checks address and applies the defaults of a source of kind
// ("alertmanager", "prometheus") named name: a client with
// DefaultHTTPTimeout, a null logger, time.Now. Errors name the source.
func newSource(kind, name, address string, hc *http.Client, log hclog.Logger, now func() time.Time) (source, error) {
	u, err := parseAddress(address)
	if err != nil {
		return source{}, fmt.Errorf("%s %q: %w", kind, name, err)
	}
	if hc == nil {
		hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if now == nil {
		now = time.Now
	}
	return source{url: u, http: hc, log: log.Named(kind).With("source", name), now: now}, nil
}

func parseAddress(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("no address")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("address %q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("address %q: no host", s)
	}
	return u, nil
}
