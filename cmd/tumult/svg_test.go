package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/policies"
)

// busyPolicy opens every minute and injects every 14 s on average: over a
// week, about 43,000 sampled faults, the 44,000 ticks of issue 9.
const busyPolicy = `policy "busy" {
  target "docker" {
    labels = { "app" = "api" }
  }
  fault "kill" {}
  window {
    cron     = "* * * * *"
    duration = "1m"
    timezone = "America/New_York"
  }
  every {
    mean = "14s"
  }
}

policy "daily-with-a-long-name-that-does-not-fit-the-column" {
  target "docker" {
    labels = { "app" = "web" }
  }
  fault "kill" {}
  window {
    cron     = "*/2 * * * *"
    duration = "1m"
    timezone = "America/New_York"
  }
  every {
    mean = "2h"
  }
}
`

// svgText is a text element of the picture and the box it is drawn in.
type svgText struct {
	text                     string
	left, right, top, bottom float64
}

// svgTexts reads every text element of an SVG and computes its box from
// its position, anchor and size, the way the picture places them.
func svgTexts(t *testing.T, doc []byte) []svgText {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(doc)))
	var out []svgText
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "text" {
			continue
		}
		attrs := map[string]string{"font-size": "12", "text-anchor": "start"}
		for _, a := range se.Attr {
			attrs[a.Name.Local] = a.Value
		}
		var body struct {
			Text string `xml:",chardata"`
		}
		require.NoError(t, dec.DecodeElement(&body, &se))
		x, err := strconv.ParseFloat(attrs["x"], 64)
		require.NoError(t, err)
		y, err := strconv.ParseFloat(attrs["y"], 64)
		require.NoError(t, err)
		size, err := strconv.ParseFloat(attrs["font-size"], 64)
		require.NoError(t, err)
		w := textWidth(body.Text, size)
		left := x
		switch attrs["text-anchor"] {
		case "middle":
			left = x - w/2
		case "end":
			left = x - w
		}
		out = append(out, svgText{text: body.Text, left: left, right: left + w, top: y - size, bottom: y})
	}
	return out
}

// TestPlanSVGBusyPolicy: a week of a fault every few seconds draws the
// density of faults per hour instead of 120,000 ticks, in a small file
// whose labels do not overlap.
func TestPlanSVGBusyPolicy(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "busy.hcl"), []byte(busyPolicy), 0o644))
	cases := []struct {
		name  string
		from  string
		hours string
	}{
		{"a week across the autumn change", "2026-10-28T00:00:00-04:00", "168"},
		{"two days across the spring change", "2026-03-07T00:00:00-05:00", "48"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svg := filepath.Join(dir, "plan.svg")
			_, errOut, code := runCmd(t, "plan", "-from", tc.from, "-hours", tc.hours, "-seed", "1", "-svg", svg, "-timezone", "America/New_York", dir)
			require.Equal(t, 0, code, errOut)
			b, err := os.ReadFile(svg)
			require.NoError(t, err)
			require.Less(t, len(b), 200_000, "the picture stays small")
			s := string(b)
			require.Contains(t, s, "faults per hour")
			require.Contains(t, s, "/h")
			require.Equal(t, 1, strings.Count(s, "faults, peak "), "the busy row as density, the other as ticks")
			require.Positive(t, strings.Count(s, `stroke="`+faultRed+`" stroke-width="2"><title>fault`), "the sparse row keeps its ticks")

			texts := svgTexts(t, b)
			require.Greater(t, len(texts), 8)
			for i, a := range texts {
				require.GreaterOrEqual(t, a.left, 0.0, "%q starts left of the picture", a.text)
				require.LessOrEqual(t, a.right, float64(svgWidth), "%q ends right of the picture", a.text)
				for _, c := range texts[i+1:] {
					overlap := a.left < c.right && c.left < a.right && a.top < c.bottom && c.top < a.bottom
					require.False(t, overlap, "labels %q [%.0f–%.0f] and %q [%.0f–%.0f] overlap", a.text, a.left, a.right, c.text, c.left, c.right)
				}
			}
		})
	}
}

// TestAxisTicksAtClockChanges: the axis' lines sit on round readings of
// the zone's clock on both sides of a change, never on a skipped one, and
// in order.
func TestAxisTicksAtClockChanges(t *testing.T) {
	ny, err := policies.LoadLocation("America/New_York")
	require.NoError(t, err)
	cases := []struct {
		name     string
		from     time.Time
		hours    int
		wantDays []string
	}{
		{"spring forward", time.Date(2026, 3, 7, 0, 0, 0, 0, ny), 48, []string{"Sat 07", "Sun 08", "Mon 09"}},
		{"fall back", time.Date(2026, 10, 31, 0, 0, 0, 0, ny), 49, []string{"Sat 31", "Sun 01", "Mon 02"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			to := tc.from.Add(time.Duration(tc.hours) * time.Hour)
			ticks := axisTicks(tc.from, to, ny, float64(svgWidth-svgLeft-svgRight))
			var days []string
			for i, tk := range ticks {
				l := tk.at.In(ny)
				require.Zero(t, l.Minute(), "tick at %s", l)
				if i > 0 {
					require.True(t, tk.at.After(ticks[i-1].at))
				}
				if tk.day {
					require.Zero(t, l.Hour())
					days = append(days, tk.label)
				}
			}
			require.Equal(t, tc.wantDays, days)
		})
	}
}
