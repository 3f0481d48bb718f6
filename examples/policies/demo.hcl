# Policies for `make demo`: the window is always open and faults come every
# few seconds, so a newcomer sees faults injected and restored within a
# minute. The demo fleet is labelled app=tumult-demo and tumult.enable=true.

policy "demo-pause" {
  description = "Freeze one demo container for 8 seconds at a time."

  target "docker" {
    labels = { "app" = "tumult-demo" }
  }

  fault "pause" {
    duration = "8s"
  }

  window {
    cron     = "@daily" # opens at midnight for 24h: always open
    duration = "24h"
  }

  every {
    mean = "15s"
    min  = "5s"
  }

  limits {
    max_disrupted = 2 # counts members down for any reason, kills included
    min_healthy   = 2
  }
}

policy "demo-kill" {
  description = "Kill one demo container; tumult starts it again after 10s."

  target "docker" {
    labels = { "app" = "tumult-demo" }
    name   = "^tumult-demo-"
  }

  fault "kill" {
    signal        = "SIGKILL"
    restore_after = "10s"
  }

  window {
    cron     = "@daily"
    duration = "24h"
  }

  every {
    mean = "20s"
    min  = "10s"
  }

  limits {
    max_disrupted = "34%"
    min_healthy   = 2
    max_per_day   = 500
  }
}
