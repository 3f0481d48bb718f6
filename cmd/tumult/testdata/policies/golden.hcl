policy "office-hours" {
  description = "Weekday mornings in Berlin, with a holiday freeze."

  target "docker" {
    labels = { "app" = "api" }
  }

  fault "stop" {
    timeout = "5s"
  }

  window {
    cron     = "0 9 * * MON-FRI"
    duration = "8h"
    timezone = "Europe/Berlin"
  }

  freeze {
    from   = "2026-12-02T12:00:00+01:00"
    to     = "2026-12-03T12:00:00+01:00"
    reason = "release"
  }

  every {
    mean = "1h"
    min  = "20m"
  }

  limits {
    max_per_day = 4
  }
}

policy "night-owl" {
  target "nomad" {
    job = "batch"
  }

  fault "restart" {}

  window {
    cron     = "0 22 * * *"
    duration = "6h"
    timezone = "America/New_York"
  }

  every {
    mean = "90m"
  }
}

policy "off" {
  enabled = false

  target "docker" {
    name = "^x-"
  }

  fault "signal" {
    signal = "HUP"
  }

  window {
    cron     = "@daily"
    duration = "1h"
  }

  every {
    mean = "10m"
  }
}
