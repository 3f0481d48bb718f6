# Starve one worker of CPU and memory inside its own limits. Disabled so
# that `make demo` does not run it.

policy "worker-starved" {
  description = "Two busy threads at 90% and 256 MiB held inside one worker's own cgroup."
  enabled     = false

  target "docker" {
    labels = { "app" = "worker" }
  }

  fault "stress" {
    cpu_workers = 2
    cpu_load    = 90 # percent of one CPU per worker
    memory      = "256MiB"
    duration    = "5m"
  }

  window {
    cron     = "0 9 * * MON-FRI"
    duration = "8h"
  }

  every {
    mean = "3h"
  }
}
