# A production-style policy showing every block. It is disabled so that
# `make demo` does not run it; `tumult validate` and `tumult plan` still
# check and show it.

policy "checkout-crash" {
  description = "Crash one checkout-api container at a time on weekday mornings."
  enabled     = false # default true
  dry_run     = false # default false: decide, record, inject nothing

  target "docker" {
    endpoint = "local"                      # a docker block of the agent config
    labels   = { "app" = "checkout-api" }   # all must match
    name     = "^checkout-api-"             # optional RE2 on the container name
  }

  fault "kill" {
    signal        = "SIGKILL"
    restore_after = "2m" # if the member is not back by then, tumult starts it
  }

  window {
    cron     = "0 9 * * MON-FRI" # opens at 09:00 on weekdays …
    duration = "8h"              # … until 17:00 local time
    timezone = "Europe/Berlin"   # IANA name, default UTC
  }

  freeze {
    from   = "2026-12-20T00:00:00+01:00"
    to     = "2027-01-04T00:00:00+01:00"
    reason = "holiday change freeze"
  }

  every {
    mean = "45m" # random (Poisson) gaps with this mean
    min  = "10m" # never two faults closer than this
  }

  limits {
    max_disrupted = 1 # or a percentage of the fleet: "25%"
    min_healthy   = 2
    max_per_day   = 6 # per calendar day in the first window's time zone
  }

  steady_state {
    prometheus     = "main"
    query          = "sum(rate(http_requests_total{app=\"checkout\",code=~\"5..\"}[5m])) / sum(rate(http_requests_total{app=\"checkout\"}[5m]))"
    max            = 0.01
    recover_within = "3m"
  }

  halt_on {
    alert {
      alertmanager = "main"
      matchers     = ["service=\"checkout\"", "severity=~\"critical|page\""]
    }

    slo "checkout-availability" {
      prometheus  = "main"
      error_ratio = "slo:sli_error:ratio_rate$window{sloth_id=\"checkout-availability\"}"
      objective   = 0.999

      burn {
        long   = "1h"
        short  = "5m"
        factor = 14.4
      }
      burn {
        long   = "6h"
        short  = "30m"
        factor = 6
      }

      min_budget_left = 0.25 # no new fault while less than 25% of the budget is left
      period          = "30d"
    }

    # With a consul block in the agent config (see deploy/tumult.hcl):
    # consul_service { service = "checkout" }
  }
}
