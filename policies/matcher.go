package policies

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// matcherSyntax is Alertmanager's classic matcher form: a label name, an
// operator and a value that may be double-quoted. The name pattern is the
// one Alertmanager's own parser accepts (colons included).
var matcherSyntax = regexp.MustCompile(`^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|!~|!=|=)\s*((?s).*?)\s*$`)

// ParseMatcher parses one Alertmanager matcher: name="value",
// name!="value", name=~"regexp" or name!~"regexp". The value may be left
// unquoted when it holds no quotes. Regular expressions are fully anchored,
// as in Alertmanager: severity=~"crit" does not match "critical".
func ParseMatcher(s string) (Matcher, error) {
	parts := matcherSyntax.FindStringSubmatch(s)
	if parts == nil {
		return Matcher{}, fmt.Errorf("not a matcher: want name=\"value\", name!=\"value\", name=~\"regexp\" or name!~\"regexp\"")
	}
	value, err := matcherValue(parts[3])
	if err != nil {
		return Matcher{}, err
	}
	return NewMatcher(parts[1], MatchType(parts[2]), value)
}

// NewMatcher builds a matcher from its parts, compiling the regular
// expression of =~ and !~ matchers. Build matchers with NewMatcher or
// ParseMatcher, never as struct literals: a literal regexp matcher has no
// compiled expression.
func NewMatcher(name string, t MatchType, value string) (Matcher, error) {
	if name == "" {
		return Matcher{}, fmt.Errorf("matcher has no label name")
	}
	m := Matcher{Name: name, Type: t, Value: value}
	switch t {
	case MatchEqual, MatchNotEqual:
	case MatchRegexp, MatchNotRegexp:
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return Matcher{}, fmt.Errorf("matcher %s%s: bad regular expression %q: %w", name, t, value, err)
		}
		m.re = re
	default:
		return Matcher{}, fmt.Errorf("matcher %s: unknown operator %q, want =, !=, =~ or !~", name, t)
	}
	return m, nil
}

func matcherValue(raw string) (string, error) {
	if !strings.HasPrefix(raw, `"`) {
		if strings.Contains(raw, `"`) {
			return "", fmt.Errorf("value %s: quote the whole value or none of it", raw)
		}
		return raw, nil
	}
	if len(raw) < 2 || !strings.HasSuffix(raw, `"`) {
		return "", fmt.Errorf("value %s: missing closing quote", raw)
	}
	v, err := strconv.Unquote(raw)
	if err != nil {
		return "", fmt.Errorf("value %s: bad quoting: %w", raw, err)
	}
	return v, nil
}
