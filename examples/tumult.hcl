# Agent config for `make demo`: local Docker, an embedded ledger, and the
# policies in ./policies. Relative paths are relative to this file.
data_dir   = ".demo-data"
policy_dir = "policies"
log_level  = "info"
log_json   = false
dry_run    = false
seed       = 0

http {
  address = "127.0.0.1:8742"
  # tokens_file = "tokens"   # lines "name:token"; without it the API is open on loopback only
}

docker "local" {
  host = "unix:///var/run/docker.sock"
}

# A Nomad cluster for examples/policies/nomad.hcl (disabled in the demo).
# The driver connects only when a policy targets it.
nomad "prod" {
  address   = "http://127.0.0.1:4646"
  token_env = "NOMAD_TOKEN"
}

# Sources the example policies refer to. A source is only read when an
# enabled policy or the guardian uses it, so the demo runs without them.
alertmanager "main" {
  address       = "http://127.0.0.1:9093"
  poll_interval = "1s"
}

prometheus "main" {
  address = "http://127.0.0.1:9090"
}

safety {
  opt_in_label = "tumult.enable"
  protect      = { "role" = "infra" }
}

guardian {
  stale_after = "15s"
  resume      = "manual"
  clear_for   = "10m"
}
