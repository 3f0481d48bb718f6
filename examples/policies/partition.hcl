# "Cut the agents off from the vector store for 2 minutes." Disabled so
# that `make demo` does not run it.

policy "agents-lose-vector-store" {
  description = "One agent cannot reach the vector store (nor it the agent) for 2 minutes."
  enabled     = false

  target "docker" {
    labels = { "app" = "agent" }
  }

  fault "partition" {
    duration = "2m"

    to { # required for a partition: cidrs and/or labels
      labels = { "app" = "vector-store" }
      cidrs  = ["10.20.0.0/24"] # e.g. the managed instance outside Docker
    }
  }

  window {
    cron     = "0 10 * * TUE,THU"
    duration = "6h"
  }

  every {
    mean = "2h"
  }
}
