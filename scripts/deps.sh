#!/usr/bin/env bash
# Installs what the integration tests need (Prometheus, Alertmanager, headless
# Chromium), from Debian's packages, when it is missing. Idempotent; safe to
# run on every `make test`.
set -euo pipefail

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || need+=(prometheus-alertmanager)
# Headless Chromium drives the console's browser tests (chromedp).
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The packages start services of their own; tests start their own copies.
  for s in prometheus prometheus-alertmanager; do
    (systemctl stop "$s" || service "$s" stop || true) >/dev/null 2>&1
  done
fi
if ! docker info >/dev/null 2>&1; then
  echo "deps: no Docker engine answers (docker info failed); integration tests need one" >&2
  [[ ${CI:-} == true ]] && exit 1
fi
exit 0
