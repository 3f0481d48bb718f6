policy "broken" {
  target "docker" {
    labels = { "app" = "api" }
  }

  fault "pause" {
    duration = "30"
  }

  window {
    cron     = "0 9 * * MON-FRI"
    duration = "8h"
    timezone = "Mars/Olympus"
  }

  every {
    mean = "10m"
    min  = "1h"
  }

  limits {
    max_disrupted = "150%"
  }
}
