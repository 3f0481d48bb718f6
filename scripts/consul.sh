#!/usr/bin/env bash
# Prints the path of a Consul binary for the integration tests, building it
# from the Go module proxy when the cache does not hold one yet.
#
# Consul has no Debian package, and releases after v1.14 need submodules the
# Go module proxy does not serve, so tools/consul pins v1.14.11 and builds it
# from the proxy. The binary is cached outside the clone, keyed by version,
# because CI runs in a fresh clone: the first build takes 3.5 to 5 minutes on
# a 2-core machine and about 2 GiB of memory (a 160 MB binary); later calls
# return at once.
#
# Only the path goes to stdout; progress goes to stderr. Concurrent callers
# wait on a lock, and the binary is built under a temporary name and renamed,
# so an interrupted build never leaves a broken binary behind.
set -euo pipefail

version=v1.14.11
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/tumult/consul-$version
bin=$cache/consul

usable() { [[ -x $bin ]] && "$bin" version >/dev/null 2>&1; }

if usable; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
if command -v flock >/dev/null; then
  flock 9
fi
# Another caller may have built it while this one waited for the lock.
if usable; then
  echo "$bin"
  exit 0
fi

# Leftovers of builds that were killed; we hold the lock, none is running.
rm -rf "$cache"/build.*
tmpdir=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$tmpdir"' EXIT
tmp=$tmpdir/consul
echo "consul.sh: building consul $version into $bin (3.5 to 5 minutes on 2 cores)" >&2
start=$SECONDS
(
  cd "$root/tools/consul"
  GOFLAGS=-mod=mod nice -n 10 go build -trimpath -o "$tmp" github.com/hashicorp/consul
)
"$tmp" version >/dev/null
mv -f "$tmp" "$bin"
echo "consul.sh: built consul $version in $((SECONDS - start))s" >&2
echo "$bin"
