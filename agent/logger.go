package agent

import (
	"io"
	"time"

	"github.com/hashicorp/go-hclog"
)

// LogTimeFormat is how log lines stamp their time: RFC 3339 with
// milliseconds and a numeric offset with a colon ("+01:00" or "Z").
// hclog's default leaves the colon out, which RFC 3339 parsers refuse.
const LogTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// NewLogger is the daemon's logger: hclog at level ("info", …) on out,
// in JSON when asJSON, with times stamped and printed as RFC 3339 (see
// TimeSafe).
func NewLogger(name, level string, asJSON bool, out io.Writer) hclog.Logger {
	return TimeSafe(hclog.New(&hclog.LoggerOptions{
		Name: name, Level: hclog.LevelFromString(level), JSONFormat: asJSON, Output: out,
		TimeFormat: LogTimeFormat,
	}))
}

// TimeSafe wraps a logger so that time.Time values print as RFC 3339 in
// UTC's or their own offset, without Go's monotonic clock reading
// ("m=+12.345") that fmt adds, and so that a zero time is left out
// instead of printed as "0001-01-01 00:00:00 +0000 UTC": a pair such as
// until=<zero> means "no end", which is said by its absence.
func TimeSafe(l hclog.Logger) hclog.Logger {
	if _, ok := l.(timeSafe); ok {
		return l
	}
	return timeSafe{l}
}

type timeSafe struct{ hclog.Logger }

var _ hclog.Logger = timeSafe{}

func (l timeSafe) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(level, msg, timeArgs(args)...)
}
func (l timeSafe) Trace(msg string, args ...any) { l.Logger.Trace(msg, timeArgs(args)...) }
func (l timeSafe) Debug(msg string, args ...any) { l.Logger.Debug(msg, timeArgs(args)...) }
func (l timeSafe) Info(msg string, args ...any)  { l.Logger.Info(msg, timeArgs(args)...) }
func (l timeSafe) Warn(msg string, args ...any)  { l.Logger.Warn(msg, timeArgs(args)...) }
func (l timeSafe) Error(msg string, args ...any) { l.Logger.Error(msg, timeArgs(args)...) }
func (l timeSafe) With(args ...any) hclog.Logger {
	return timeSafe{l.Logger.With(timeArgs(args)...)}
}
func (l timeSafe) Named(name string) hclog.Logger      { return timeSafe{l.Logger.Named(name)} }
func (l timeSafe) ResetNamed(name string) hclog.Logger { return timeSafe{l.Logger.ResetNamed(name)} }

// logTime is how a time value prints: RFC 3339, to the millisecond when
// it has a fraction.
const logTime = "2006-01-02T15:04:05.999Z07:00"

// timeArgs rewrites key/value pairs: times as RFC 3339 text, pairs with a
// zero time dropped. Other values pass unchanged.
func timeArgs(args []any) []any {
	has := false
	for i := 1; i < len(args); i += 2 {
		switch args[i].(type) {
		case time.Time, *time.Time:
			has = true
		}
	}
	if !has {
		return args
	}
	out := make([]any, 0, len(args))
	for i := 0; i < len(args); i += 2 {
		if i+1 >= len(args) {
			out = append(out, args[i])
			break
		}
		v := args[i+1]
		if p, ok := v.(*time.Time); ok {
			if p == nil {
				continue
			}
			v = *p
		}
		if t, ok := v.(time.Time); ok {
			if t.IsZero() {
				continue
			}
			v = t.Round(0).Format(logTime)
		}
		out = append(out, args[i], v)
	}
	return out
}
