# "300 ms between the checkout agents and their broker on weekday
# afternoons." Disabled so that `make demo` does not run it; `tumult
# validate` and `tumult plan` still check and show it.

policy "checkout-broker-latency" {
  description = "The checkout agents see 300 ms (±50 ms) and 1% loss towards the broker."
  enabled     = false

  target "docker" {
    labels = { "app" = "checkout-agent" }
  }

  fault "network" {
    delay       = "300ms"
    jitter      = "50ms"
    correlation = 25 # percent: how much each packet's jitter follows the last
    loss        = 1  # percent
    duration    = "10m"

    to { # only traffic towards the broker; without to: all traffic
      labels = { "app" = "broker" } # their addresses, resolved at injection
      ports  = [5672]
    }
  }

  window {
    cron     = "0 13 * * MON-FRI"
    duration = "4h"
    timezone = "Europe/Berlin"
  }

  every {
    mean = "1h"
    min  = "20m"
  }

  limits {
    max_disrupted = "25%"
    min_healthy   = 2
  }
}
