#!/usr/bin/env bash
# make demo: a small labelled fleet on local Docker and tumult running
# against it with the example policies. Ctrl-C stops tumult (which restores
# every running fault) and removes the fleet; the demo then exits 0.
#
# Ctrl-C makes the terminal send SIGINT to its whole foreground process
# group: make, this script and tumult. make then kills itself with SIGINT
# once its child ends, so `make demo` would always end "Interrupt", exit
# 130. Job control (set -m) runs tumult in a process group of its own that
# holds the terminal, so Ctrl-C reaches tumult alone: it restores, exits 0,
# and this script cleans up and exits 0 too.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${DEMO_FLEET:-4}
IMAGE=tumult-fleet:demo
PREFIX=tumult-demo

if ! docker info >/dev/null 2>&1; then
  echo "demo: no Docker engine answers (docker info failed). Start Docker and try again." >&2
  exit 1
fi

echo "demo: building the fleet image $IMAGE (a static Go binary on scratch)"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -o "$ctx/fleet" ./integration/fleet
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY fleet /fleet
HEALTHCHECK --interval=1s --timeout=1s --start-period=1s --retries=2 CMD ["/fleet", "-check", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/fleet"]
DOCKERFILE
docker build -q -t "$IMAGE" "$ctx" >/dev/null 2>&1 || docker build -t "$IMAGE" "$ctx"

cleanup() {
  echo
  if [[ -n ${agent_pid:-} ]] && kill -0 "$agent_pid" 2>/dev/null; then
    echo "demo: stopping tumult (it restores every running fault first)"
    kill -INT "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  echo "demo: removing the demo fleet"
  docker rm -f $(docker ps -aq --filter "label=app=$PREFIX") >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

docker rm -f $(docker ps -aq --filter "label=app=$PREFIX") >/dev/null 2>&1 || true
for i in $(seq 1 "$N"); do
  docker run -d --name "$PREFIX-$i" \
    --label app=$PREFIX --label tumult.enable=true \
    -e FLEET_APP=$PREFIX "$IMAGE" >/dev/null
done
# A protected member: tumult must never touch it.
docker run -d --name "$PREFIX-protected" \
  --label app=$PREFIX --label tumult.enable=true --label role=infra \
  -e FLEET_APP=$PREFIX "$IMAGE" >/dev/null
echo "demo: started $N containers $PREFIX-1..$N (opted in) and $PREFIX-protected (role=infra, never touched)"
echo "demo: waiting for the fleet to be healthy"
for _ in $(seq 1 30); do
  healthy=$(docker ps --filter "label=app=$PREFIX" --filter health=healthy -q | wc -l)
  [[ $healthy -ge $((N + 1)) ]] && break
  sleep 1
done

cat <<MSG

demo: starting tumult with examples/tumult.hcl and examples/policies/.
      A fault every 15-20 s on average; watch them injected and restored below.
      In another terminal:   bin/tumult status
                             bin/tumult pause -reason "look around" -for 5m
                             bin/tumult halt -reason "stop everything"
      Ctrl-C here stops tumult, restores everything and removes the fleet.

      Control state lives in examples/.demo-data and survives runs: a halt or
      pause left by an earlier demo carries over. tumult then says so at start
      (a WARN line "carried over from an earlier run" with who, why and how to
      resume); arm it again with  bin/tumult resume -reason "demo"
      (or  make clean  to start from nothing).

MSG
# In its own process group in the foreground (see the top of this file).
set -m
bin/tumult agent -config examples/tumult.hcl &
agent_pid=$!
rc=0
fg %% >/dev/null || rc=$?
set +m
# tumult exits 0 when stopped by Ctrl-C; anything else is its own failure.
exit "$rc"
