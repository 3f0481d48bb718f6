#!/usr/bin/env bash
# make demo: a small labelled fleet on local Docker and tumult running
# against it with the example policies. Ctrl-C stops tumult (which restores
# every running fault) and removes the fleet; the demo then exits 0.
#
# The script never leaves tumult running: every way it can be told to stop
# (Ctrl-C, SIGTERM, the terminal closing) is passed on to tumult as SIGINT
# and waited for, and only then is the fleet removed. A second Ctrl-C does
# not cut tumult's restore short.
#
# Ctrl-C makes the terminal send SIGINT to its whole foreground process
# group, and make kills itself with SIGINT once its child ends (`make demo`
# would end "Interrupt", exit 130). So when the script runs on a terminal
# (stdin, stdout and stderr), job control runs tumult and the script's
# watcher in a process group of their own that holds the terminal: Ctrl-C
# reaches them alone and the demo exits 0. When its output is piped
# (`make demo 2>&1 | tee log`) the terminal cannot be handed over; Ctrl-C
# then reaches make and this script too, the script passes it on, and make
# says "Interrupt" after the clean-up.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${DEMO_FLEET:-4}
# The tumult binary to run (make demo builds bin/tumult; tests pass their own).
TUMULT_BIN=${TUMULT_BIN:-bin/tumult}
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

# say prints a line of the clean-up. Its reader may be gone (tee killed by
# the same Ctrl-C, a closed terminal): a failed write must not stop the
# clean-up, nor kill the script with SIGPIPE.
say() { { echo "$@"; } 2>/dev/null || true; }

# remove_fleet removes the demo's containers in a session of its own: the
# hangup or second Ctrl-C that may come while it runs (the window closing
# after Ctrl-C) must not kill the listing or the removal half-way.
remove_fleet() {
  setsid -w bash -c 'ids=$(docker ps -aq --filter "label=app=$1"); [[ -z $ids ]] || docker rm -f $ids' _ "$PREFIX" >/dev/null 2>&1 || true
}

cleanup() {
  trap '' PIPE
  say
  if [[ -n ${agent_pid:-} ]] && kill -0 "$agent_pid" 2>/dev/null; then
    say "demo: stopping tumult (it restores every running fault first)"
    stop_agent
    wait_agent || true
  fi
  say "demo: removing the demo fleet"
  remove_fleet
  rm -rf "$ctx"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

stop_agent() { [[ -z ${agent_pid:-} ]] || kill -INT "$agent_pid" 2>/dev/null || true; }

# wait_agent waits until tumult has exited and returns its status; a
# signal the script traps meanwhile (and passes on) does not end the wait.
wait_agent() {
  local rc
  while :; do
    if wait "$agent_pid" 2>/dev/null; then rc=0; else rc=$?; fi
    kill -0 "$agent_pid" 2>/dev/null || return "$rc"
  done
}

# has_tty says whether the controlling terminal is still there.
has_tty() { { : >/dev/tty; } 2>/dev/null; }

# watch_tty stops tumult when the terminal goes away (a closed window,
# tmux kill-session). The kernel tells only the session leader, and when
# that is make (the window's command was `make demo`) make waits for this
# script and passes nothing on. Polls once a second while tumult runs.
watch_tty() {
  while kill -0 "$agent_pid" 2>/dev/null; do
    if ! has_tty; then
      stop_agent
      return
    fi
    sleep 1
  done
}

# run_agent runs tumult, passes every stop on to it, and waits for it.
run_agent() {
  trap stop_agent INT TERM HUP
  "$TUMULT_BIN" agent -config examples/tumult.hcl &
  agent_pid=$!
  if has_tty; then
    watch_tty &
  fi
  wait_agent
}

remove_fleet
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
rc=0
if [[ -t 0 && -t 1 && -t 2 ]]; then
  # A process group of its own in the foreground (see the top of this file).
  set -m
  run_agent &
  fg %% >/dev/null || rc=$?
  set +m
else
  run_agent || rc=$?
fi
# tumult exits 0 when stopped by Ctrl-C; anything else is its own failure.
exit "$rc"
