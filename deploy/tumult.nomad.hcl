# tumult as a highly available Nomad job: two replicas share the Consul
# ledger and elect one leader; only the leader schedules and injects, every
# replica serves the API and runs the guardian.
#
#   nomad var put nomad/jobs/tumult tokens="oncall:$(openssl rand -hex 24)
#   alertmanager:$(openssl rand -hex 24)" consul_token=… nomad_token=…
#   nomad job run deploy/tumult.nomad.hcl
job "tumult" {
  type        = "service"
  datacenters = ["dc1"]

  # tumult must never target itself: it carries no tumult.enable meta, and
  # it knows its own allocation from NOMAD_ALLOC_ID.
  meta {
    role = "infra"
  }

  group "tumult" {
    count = 2

    # One replica per host, so losing a host leaves a leader-in-waiting.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      port "http" {
        static = 8742
      }
    }

    service {
      name = "tumult"
      port = "http"
      check {
        type     = "http"
        path     = "/v1/health"
        interval = "5s"
        timeout  = "2s"
      }
    }

    update {
      max_parallel = 1 # roll one replica at a time: the other keeps the lock
      min_healthy_time = "10s"
    }

    # A replica that dies (kill -9, OOM) is started again in place at once
    # and for good: a new start restores what the shared ledger holds.
    restart {
      attempts = 10
      interval = "5m"
      delay    = "1s"
      mode     = "delay"
    }

    task "agent" {
      driver = "docker"

      config {
        image = "tumult:latest" # build with deploy/Dockerfile
        args  = ["agent", "-config", "/local/tumult.hcl"]
        ports = ["http"]
        # The Docker driver of tumult talks to the host's engine.
        volumes = ["/var/run/docker.sock:/var/run/docker.sock"]
      }

      # SIGTERM makes tumult stop scheduling and restore what it runs;
      # give it the time to do so.
      kill_signal  = "SIGTERM"
      kill_timeout = "90s"

      template {
        destination = "secrets/tokens"
        perms       = "0400"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/tumult" }}{{ .tokens }}{{ end }}
        EOT
      }

      template {
        destination = "secrets/env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/tumult" }}
          CONSUL_HTTP_TOKEN={{ .consul_token }}
          NOMAD_TOKEN={{ .nomad_token }}
          {{ end }}
        EOT
      }

      template {
        destination = "local/tumult.hcl"
        data        = <<-EOT
          policy_dir = "/local/policies"
          log_json   = true

          http {
            address     = "0.0.0.0:{{ env "NOMAD_PORT_http" }}"
            tokens_file = "/secrets/tokens"
          }

          docker "local" {
            host = "unix:///var/run/docker.sock"
          }

          nomad "prod" {
            address = "http://{{ env "attr.unique.network.ip-address" }}:4646"
          }

          consul {
            address = "{{ env "attr.unique.network.ip-address" }}:8500"
            prefix  = "tumult/"
          }

          alertmanager "main" {
            address = "http://alertmanager.service.consul:9093"
          }

          prometheus "main" {
            address = "http://prometheus.service.consul:9090"
          }

          safety {
            protect = { "role" = "infra" }
          }

          guardian {
            halt_on {
              alert {
                matchers = ["severity=~\"critical|page\""]
              }
            }
            announce = "main"
          }
        EOT
      }

      # Policies come from git through Nomad's artifact stanza (or a
      # template per file); tumult reloads them when they change.
      artifact {
        source      = "git::https://git.example.com/platform/chaos-policies.git"
        destination = "local/policies"
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
