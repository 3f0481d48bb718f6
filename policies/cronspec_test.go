package policies

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCronSaysWhatIsWrong(t *testing.T) {
	cases := []struct {
		expr string
		want string // "" for a good expression
	}{
		{"0 9 * * MON-FRI", ""},
		{"*/15 8-18 1,15 JAN-jun ?", ""},
		{"@daily", ""},
		{"  30 2 * * *  ", ""},
		{"", "the expression is empty"},
		{"0 9 * *", "it has 4 fields; a cron expression is 5 fields (minute hour day-of-month month day-of-week)"},
		{"0 0 9 * * *", "it has 6 fields, but seconds are not supported"},
		{"0 25 * * *", `hour field "25": 25 is out of range, hour goes from 0 to 23`},
		{"60 * * * *", `minute field "60": 60 is out of range, minute goes from 0 to 59`},
		{"0 9 0 * *", `day of month field "0": 0 is out of range, day of month goes from 1 to 31`},
		{"0 9 * 13 *", `month field "13": 13 is out of range, month goes from 1 to 12`},
		{"0 9 * * 7", `day of week field "7": 7 is not a day of week here; Sunday is 0 (or SUN)`},
		{"0 9 * * MON-FRX", `day of week field "MON-FRX": "FRX" is neither a number from 0 to 6 nor a name SUN…SAT`},
		{"0 9 * * FRI-MON", `day of week field "FRI-MON": range FRI-MON runs backwards; write it as FRI-SAT,SUN-MON`},
		{"x 9 * * *", `minute field "x": "x" is not a number`},
		{"*/0 9 * * *", `minute field "*/0": step "0" must be a whole number of 1 or more`},
		{"0 9,,10 * * *", `hour field "9,,10": empty item in the list`},
		{"0 -5 * * *", `hour field "-5": a range needs a number on each side of the dash`},
		{"@every 5m", "@every is not a time of day"},
		{"@dayly", "@dayly is not a descriptor; known ones are @yearly"},
		{"@daily 9", "@daily takes nothing after it"},
		{"CRON_TZ=Europe/Berlin 0 9 * * *", "CRON_TZ=Europe/Berlin gives the cron its own time zone; put the zone in the window's timezone attribute instead"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := ParseCron(tc.expr)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			for _, internal := range []string{"strconv", "Atoi", "spec", "bits", "expected exactly"} {
				require.NotContains(t, err.Error(), internal)
			}
		})
	}
}

// TestClockChangeWarnings: validate says on which days a cron fires at a
// reading the clocks skip or repeat, and what tumult will do; it says
// nothing about a window that stays open across the change anyway.
func TestClockChangeWarnings(t *testing.T) {
	cases := []struct {
		name string
		cron string
		zone string
		dur  string
		want []string // nil: no warning
	}{
		{"opening in the spring gap", "30 2 * * *", "America/New_York", "10m", []string{
			`cron "30 2 * * *" fires at times the clocks of America/New_York skip or repeat in the year after 2026-11-26`,
			"on 2027-03-14 the clocks skip 02:00–03:00, so 02:30 does not exist and the window opens at 03:00 EDT, when the clocks land",
		}},
		{"opening in the autumn overlap", "30 1 * * *", "America/New_York", "10m", []string{
			"on 2027-11-07 the clocks show 01:00–02:00 twice, and the window opens once, at the first 01:30 (01:30 EDT), not when the clocks show it again",
		}},
		{"quarter hours at Lord Howe's half-hour changes", "*/15 * * * *", "Australia/Lord_Howe", "5m", []string{
			"on 2027-04-04 the clocks show 01:30–02:00 twice; its 2 openings from 01:30 to 01:45 each open once, on the first pass (from 01:30 +11), none on the second",
			"on 2027-10-03 the clocks skip 02:00–02:30, so its 2 openings from 02:00 to 02:15 do not exist and the window opens once, at 02:30 +11, when the clocks land",
		}},
		{"Dublin's change, negative DST", "30 1 * * *", "Europe/Dublin", "10m", []string{
			"on 2027-03-28 the clocks skip 01:00–02:00, so 01:30 does not exist and the window opens at 02:00 IST",
			"on 2027-10-31 the clocks show 01:00–02:00 twice, and the window opens once, at the first 01:30 (01:30 IST)",
		}},
		{"every minute stays open across both changes", "* * * * *", "Europe/Berlin", "1m", nil},
		{"outside the changes", "0 9 * * *", "America/New_York", "8h", nil},
		{"closing in the gap is not an opening there", "0 22 * * *", "America/New_York", "4h30m", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, locs := located(t, policy("  window {\n    cron     = ‸\""+tc.cron+"\"\n    duration = \""+tc.dur+"\"\n    timezone = \""+tc.zone+"\"\n  }\n"))
			ps, ds := ParsePolicies([]byte(src), "p.hcl", LoadOptions{Config: testConfig(t), Now: testNow})
			require.False(t, ds.HasErrors(), ds.Error())
			require.Len(t, ps, 1)
			if tc.want == nil {
				require.Empty(t, ds, ds.Error())
				return
			}
			require.Len(t, ds, 1, ds.Error())
			require.Equal(t, "Window opens in a clock change", ds[0].Summary)
			require.Equal(t, "p.hcl:"+locs[0], Location(ds[0]), "points at the cron")
			for _, w := range tc.want {
				require.Contains(t, ds[0].Detail, w)
			}
		})
	}
}
