# A Nomad policy: restart one allocation of the payments API at night,
# in New York time. Disabled: the demo has no Nomad cluster.

policy "payments-restart" {
  description = "Restart one payments-api allocation at a time, nightly."
  enabled     = false

  target "nomad" {
    # cluster = "prod"     # a nomad block of the agent config; optional when there is one
    namespace = "default"
    job       = "payments-api"
    group     = "api"
    task      = "server" # restart only this task
  }

  fault "restart" {
    timeout = "30s"
  }

  window {
    cron     = "0 22 * * *" # 22:00 → 04:00, crossing midnight
    duration = "6h"
    timezone = "America/New_York"
  }

  every {
    mean = "1h"
  }

  limits {
    max_disrupted = "25%"
    min_healthy   = 3
  }
}
