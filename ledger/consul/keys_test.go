package consul

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/config"
)

func TestTimeKeyOrder(t *testing.T) {
	base := time.Date(2026, 10, 16, 9, 0, 0, 0, time.UTC)
	// In time order; the zone of the input must not matter.
	times := []time.Time{
		{},
		time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC),
		base.Add(-time.Hour).In(time.FixedZone("ahead", 5*3600)),
		base,
		base.Add(time.Nanosecond),
		base.Add(time.Second),
		base.Add(10 * time.Second),
		base.AddDate(1, 0, 0),
	}
	keys := make([]string, len(times))
	for i, tm := range times {
		keys[i] = timeIDKey(tm, "id")
	}
	require.True(t, slices.IsSorted(keys), "keys sort in time order: %q", keys)
	for i, k := range keys {
		require.Len(t, k, len(keys[0]), "fixed width")
		got, id, err := splitTimeIDKey(k)
		require.NoError(t, err)
		require.True(t, got.Equal(times[i]), "round trip of %s: %s", times[i], got)
		require.Equal(t, "id", id)
	}
}

func TestSplitTimeIDKey(t *testing.T) {
	tm := time.Date(2026, 10, 16, 9, 0, 0, 5, time.UTC)
	got, id, err := splitTimeIDKey(timeIDKey(tm, "20261016-090000-4f3a9c2b"))
	require.NoError(t, err)
	require.Equal(t, "20261016-090000-4f3a9c2b", id, "dashes in the ID survive")
	require.True(t, got.Equal(tm))

	for _, bad := range []string{"", "nodash", "2026-x", "notatime-id"} {
		_, _, err := splitTimeIDKey(bad)
		require.Error(t, err, bad)
	}
}

func TestPolicyDir(t *testing.T) {
	require.Equal(t, "injections/checkout-crash/", policyDir("checkout-crash"))
	require.Equal(t, "injections/a%2Fb/", policyDir("a/b"), "a slash cannot reach into another policy's directory")
	require.NotEqual(t, policyDir("a"), policyDir("a/b")[:len(policyDir("a"))])
}

func TestNormPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"":             config.DefaultConsulPrefix,
		"/":            config.DefaultConsulPrefix,
		"tumult":       "tumult/",
		"tumult/":      "tumult/",
		"/svc/tumult/": "svc/tumult/",
	} {
		require.Equal(t, want, normPrefix(in), in)
	}
}

func TestNewElectionOptions(t *testing.T) {
	_, err := NewElection(ElectionOptions{})
	require.Error(t, err, "a client is required")

	client, err := NewClient("127.0.0.1:1", "")
	require.NoError(t, err)
	e, err := NewElection(ElectionOptions{Client: client, Replica: "r1"})
	require.NoError(t, err)
	require.Equal(t, config.DefaultConsulPrefix+"leader", e.opts.Key)
	require.Equal(t, config.DefaultSessionTTL, e.opts.SessionTTL)
	require.Equal(t, config.DefaultLivenessTTL, e.opts.LivenessTTL)
	require.Equal(t, config.DefaultLockDelay, e.opts.LockDelay)
	require.Equal(t, config.DefaultLivenessTTL, e.alive.ttl, "the check's TTL is the liveness TTL, not the session's")
	require.Equal(t, "r1", e.Replica())
	require.False(t, e.Leading())

	for _, o := range []ElectionOptions{
		{Client: client, SessionTTL: 500 * time.Millisecond},
		{Client: client, LockDelay: -time.Second},
		{Client: client, LockDelay: 2 * time.Minute},
		{Client: client, LivenessTTL: 100 * time.Millisecond},
		// Shorter than the fence: a cut-off leader could still inject.
		{Client: client, LockDelay: time.Second},
		{Client: client, LivenessTTL: 3 * time.Second, LockDelay: 3 * time.Second},
	} {
		_, err := NewElection(o)
		require.Error(t, err, "%+v", o)
	}
}

// at is the instant d from now, as the election keeps instants.
func at(d time.Duration) int64 { return int64(mono().Add(d).Sub(epoch)) }

// TestElectionFence: Holder stops answering the moment the lease ends —
// a liveness TTL after the last good check update for a tied session, a
// session TTL after the last renewal otherwise — without waiting for
// renew's goroutine to notice.
func TestElectionFence(t *testing.T) {
	client, err := NewClient("127.0.0.1:1", "")
	require.NoError(t, err)
	e, err := NewElection(ElectionOptions{Client: client, Replica: "r1"})
	require.NoError(t, err)
	_, _, ok := e.Holder()
	require.False(t, ok, "no session")
	sid := "s1"
	e.session.Store(&sid)

	cases := []struct {
		name       string
		tied       bool
		sessionEnd time.Duration // from now
		updated    time.Duration // last good check update, from now
		want       bool
	}{
		{"tied, check fresh", true, 10 * time.Second, 0, true},
		{"tied, check a liveness TTL old", true, 10 * time.Second, -config.DefaultLivenessTTL, false},
		{"tied, session expired", true, -time.Millisecond, 0, false},
		{"untied, check ignored", false, 10 * time.Second, -time.Hour, true},
		{"untied, session expired", false, -time.Millisecond, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.tied.Store(tc.tied)
			e.sessionEnd.Store(at(tc.sessionEnd))
			e.alive.sent.Store(at(tc.updated))
			key, s, ok := e.Holder()
			require.Equal(t, tc.want, ok)
			if ok {
				require.Equal(t, config.DefaultConsulPrefix+"leader", key)
				require.Equal(t, "s1", s)
			}
		})
	}
}

// TestElectionLockDelay: a session tied to the liveness check gets the
// configured lock-delay; an untied one, whose leader fences itself only
// a session TTL after its last renewal, gets one that covers it.
func TestElectionLockDelay(t *testing.T) {
	client, err := NewClient("127.0.0.1:1", "")
	require.NoError(t, err)
	cases := []struct {
		name       string
		ttl, delay time.Duration
		tied       bool
		want       time.Duration
	}{
		{"tied", 10 * time.Second, 2 * time.Second, true, 2 * time.Second},
		{"untied", 10 * time.Second, 2 * time.Second, false, 10*time.Second + config.FenceMargin},
		{"untied, longer lock-delay kept", 2 * time.Second, 5 * time.Second, false, 5 * time.Second},
		{"untied, capped at Consul's 60s", time.Hour, 2 * time.Second, false, time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewElection(ElectionOptions{Client: client, Replica: "r1", SessionTTL: tc.ttl, LockDelay: tc.delay})
			require.NoError(t, err)
			require.Equal(t, tc.want, e.lockDelay(tc.tied))
		})
	}
}
