package policies

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/robfig/cron/v3"
)

// cronParser accepts standard 5-field cron expressions and descriptors such
// as @daily. Seconds are not allowed: windows are minutes apart at best.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronField describes one of the five fields, for checking and for
// messages a policy author can act on.
type cronField struct {
	name     string
	min, max int
	names    []string // accepted names, index = min + i
}

var cronFields = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day of week", min: 0, max: 6, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

// ErrCronShape marks a cron expression that is not made of five fields or
// one descriptor, as opposed to one with a wrong value in a field: only
// then does the author need to be shown what the five fields are.
var ErrCronShape = errors.New("a cron expression is 5 fields (minute hour day-of-month month day-of-week), e.g. \"0 9 * * MON-FRI\", or @daily, @weekly, …")

var cronDescriptors = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

// ParseCron compiles a window's cron expression: 5 fields (minute hour
// day-of-month month day-of-week) or one of the descriptors @yearly,
// @annually, @monthly, @weekly, @daily, @midnight, @hourly. Its error
// names the field and the value that is wrong and what is allowed there,
// in the author's terms rather than the parser's.
//
// The schedule reads the fields of the time it is given: callers pass
// wall-clock readings (see Window), so the expression must not carry a
// time zone of its own (CRON_TZ=…); the window's timezone attribute says
// which clock it reads.
func ParseCron(expr string) (cron.Schedule, error) {
	if err := checkCron(expr); err != nil {
		return nil, err
	}
	s, err := cronParser.Parse(strings.TrimSpace(expr))
	if err != nil {
		// checkCron accepts only what the parser accepts; should they ever
		// disagree, say so without the parser's internals.
		return nil, fmt.Errorf("not a cron expression tumult can read; %w", ErrCronShape)
	}
	return s, nil
}

func checkCron(expr string) error {
	fields := strings.Fields(expr)
	switch {
	case len(fields) == 0:
		return fmt.Errorf("the expression is empty; %w", ErrCronShape)
	case strings.HasPrefix(fields[0], "CRON_TZ=") || strings.HasPrefix(fields[0], "TZ="):
		return fmt.Errorf("%s gives the cron its own time zone; put the zone in the window's timezone attribute instead", fields[0])
	case fields[0] == "@every":
		return errors.New("@every is not a time of day; windows open at calendar times, e.g. \"0 9 * * MON-FRI\"")
	case strings.HasPrefix(fields[0], "@"):
		for _, d := range cronDescriptors {
			if fields[0] == d && len(fields) == 1 {
				return nil
			}
		}
		if len(fields) > 1 {
			return fmt.Errorf("%s takes nothing after it", fields[0])
		}
		return fmt.Errorf("%s is not a descriptor; known ones are %s", fields[0], strings.Join(cronDescriptors, ", "))
	case len(fields) == 6:
		return fmt.Errorf("it has 6 fields, but seconds are not supported (windows open on whole minutes); %w", ErrCronShape)
	case len(fields) != 5:
		return fmt.Errorf("it has %d field%s; %w", len(fields), map[bool]string{true: "", false: "s"}[len(fields) == 1], ErrCronShape)
	}
	for i, f := range fields {
		if err := cronFields[i].check(f); err != nil {
			return fmt.Errorf("%s field %q: %w", cronFields[i].name, f, err)
		}
	}
	return nil
}

// check checks one field: a comma-separated list of *, ?, N, N-M, each
// optionally followed by /STEP.
func (cf cronField) check(field string) error {
	for item := range strings.SplitSeq(field, ",") {
		if item == "" {
			return errors.New("empty item in the list")
		}
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n <= 0 {
				return fmt.Errorf("step %q must be a whole number of 1 or more", step)
			}
		}
		if rng == "*" || rng == "?" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := cf.value(lo)
		if err != nil {
			return err
		}
		if !isRange {
			continue
		}
		b, err := cf.value(hi)
		if err != nil {
			return err
		}
		if b < a {
			return fmt.Errorf("range %s runs backwards; write it as %s,%s", rng, cf.rangeTo(lo, cf.max), cf.rangeFrom(cf.min, hi))
		}
	}
	return nil
}

func (cf cronField) rangeTo(lo string, hi int) string   { return lo + "-" + cf.label(hi) }
func (cf cronField) rangeFrom(lo int, hi string) string { return cf.label(lo) + "-" + hi }

func (cf cronField) label(v int) string {
	if cf.names != nil {
		return cf.names[v-cf.min]
	}
	return strconv.Itoa(v)
}

// value reads one number or name of the field and checks its range.
func (cf cronField) value(s string) (int, error) {
	for i, n := range cf.names {
		if strings.EqualFold(s, n) {
			return cf.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") {
		if cf.names != nil {
			return 0, fmt.Errorf("%q is neither a number from %d to %d nor a name %s…%s", s, cf.min, cf.max, cf.names[0], cf.names[len(cf.names)-1])
		}
		if s == "" {
			return 0, errors.New("a range needs a number on each side of the dash")
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < cf.min || v > cf.max {
		if cf.name == "day of week" && v == 7 {
			return 0, errors.New("7 is not a day of week here; Sunday is 0 (or SUN)")
		}
		return 0, fmt.Errorf("%d is out of range, %s goes from %d to %d", v, cf.name, cf.min, cf.max)
	}
	return v, nil
}
