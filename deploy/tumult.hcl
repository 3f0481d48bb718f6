# An agent config with every block, for a highly available tumult on Consul.
# Relative paths are relative to this file.

data_dir   = "/var/lib/tumult"        # the embedded ledger lives here when there is no consul block
policy_dir = "/etc/tumult/policies"   # every *.hcl file in it, non-recursive
log_level  = "info"                   # trace | debug | info | warn | error
log_json   = true
dry_run    = false                    # decide and record, inject nothing
seed       = 0                        # 0 = random; else deterministic choices

http {
  address     = "0.0.0.0:8742"
  tokens_file = "/etc/tumult/tokens"  # lines "name:token"; the name is the actor in audit records
}

docker "local" {
  host = "unix:///var/run/docker.sock"
}

docker "edge" {
  host = "tcp://10.0.0.5:2376"
  tls {
    ca_file   = "/etc/tumult/docker/ca.pem"
    cert_file = "/etc/tumult/docker/cert.pem"
    key_file  = "/etc/tumult/docker/key.pem"
  }
}

nomad "prod" {
  address   = "http://127.0.0.1:4646"
  region    = "global"
  token_env = "NOMAD_TOKEN"
}

consul {                               # shared ledger + leader election
  address   = "127.0.0.1:8500"
  prefix    = "tumult/"
  token_env = "CONSUL_HTTP_TOKEN"
  # The defaults: a killed leader is replaced, and its faults restored,
  # about liveness_ttl + lock_delay after the kill (3.5-4s).
  # session_ttl  = "10s"
  # liveness_ttl = "1.5s"
  # lock_delay   = "2s"                 # at least liveness_ttl + 500ms
}

alertmanager "main" {
  address       = "http://127.0.0.1:9093"
  poll_interval = "1s"
}

prometheus "main" {
  address = "http://127.0.0.1:9090"
}

safety {
  opt_in_label = "tumult.enable"
  protect      = { "role" = "infra", "tier" = "database" }
}

guardian {
  halt_on {
    alert {
      alertmanager = "main"
      matchers     = ["severity=~\"critical|page\""]
    }
    slo "platform-availability" {
      prometheus  = "main"
      error_ratio = "slo:sli_error:ratio_rate$window{sloth_id=\"platform-availability\"}"
      objective   = 0.999
    }
    consul_service {
      service = "ingress"
    }
  }
  stale_after = "15s"
  resume      = "manual"
  clear_for   = "10m"
  announce    = "main"
}
