package server

import (
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultRefusedLogInterval is how long refused calls after a logged one
// are counted instead of logged one by one.
const DefaultRefusedLogInterval = 10 * time.Second

// maxRefusedRemotes bounds the addresses a summary names.
const maxRefusedRemotes = 5

// refusedLog aggregates the log lines of refused calls (no token, unknown
// token). Someone trying tokens at thousands a second would otherwise
// write thousands of log lines a second: the first refusal of an interval
// is logged in full, the ones after it are counted, and one line at the
// interval's end says how many there were, with which status codes and
// from which addresses.
type refusedLog struct {
	log      hclog.Logger
	interval time.Duration

	mu       sync.Mutex
	since    time.Time // start of the interval; zero when none is open
	count    int
	byStatus map[int]int
	remotes  map[string]bool
	timer    *time.Timer
}

func (l *refusedLog) refused(r *http.Request, status int) {
	l.mu.Lock()
	if l.since.IsZero() || (l.count == 0 && time.Since(l.since) >= l.interval) {
		l.since = time.Now()
		l.mu.Unlock()
		l.log.Warn("API call refused", "method", r.Method, "path", r.URL.Path, "status", status, "remote", r.RemoteAddr,
			"note", "refusals in the next "+l.interval.String()+" are counted in one line")
		return
	}
	defer l.mu.Unlock()
	l.count++
	if l.byStatus == nil {
		l.byStatus, l.remotes = map[int]int{}, map[string]bool{}
	}
	l.byStatus[status]++
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(l.remotes) < maxRefusedRemotes {
		l.remotes[host] = true
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(l.interval-time.Since(l.since), l.flush)
	}
}

// flush logs the interval's count and closes it.
func (l *refusedLog) flush() {
	l.mu.Lock()
	count, byStatus, remotes, since := l.count, l.byStatus, l.remotes, l.since
	l.since, l.count, l.byStatus, l.remotes, l.timer = time.Time{}, 0, nil, nil, nil
	l.mu.Unlock()
	if count == 0 {
		return
	}
	hosts := make([]string, 0, len(remotes))
	for h := range remotes {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	l.log.Warn("API calls refused", "count", count, "since", since.UTC().Format(time.RFC3339),
		"unauthorized_401", byStatus[http.StatusUnauthorized], "forbidden_403", byStatus[http.StatusForbidden], "remotes", hosts)
}
