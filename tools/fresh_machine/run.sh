#!/usr/bin/env bash
# The README's promise on a fresh machine: in a bare Debian 12 container (minbase, no Python),
# run README.md's prerequisite block exactly as written, then `make test` on a clone of HEAD
# with ../shared beside it. Fails if a test fails, or skips for anything but a missing Docker
# engine. Usage: tools/fresh_machine/run.sh [--no-cc]
#   --no-cc  remove the C compiler after the README block: install must go on without the C
#            keccak and the suite must pass with safe-pysha3 hashing the merkle trees.
# Needs root (it installs docker.io and mmdebstrap from Debian if missing, starts dockerd).
# Everything it creates is named zerog-fresh*; nothing else on the Docker engine is touched.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SHARED="${FRESH_SHARED:-$ROOT/../shared}"
NO_CC=0
for arg in "$@"; do
  case "$arg" in
    --no-cc) NO_CC=1 ;;
    *) echo "usage: $0 [--no-cc]" >&2; exit 2 ;;
  esac
done
# The container ends by itself after this long, even if this script is killed with SIGKILL.
DEADLINE_SECONDS=5400
SOURCES=/etc/apt/sources.list.d/debian.sources
[ -f "$SOURCES" ] || SOURCES=/etc/apt/sources.list
# This machine's CA bundle: the registries are reached through it (pip, npm); apt uses http.
HOST_CA=/etc/ssl/certs/ca-certificates.crt

WORK="$(mktemp -d /tmp/zerog-fresh.XXXXXX)"
NAME="zerog-fresh-$$"
cleanup() {
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# Long steps run in the background and are waited for: bash runs a trap only after the
# foreground command ends, but interrupts `wait` at once, so a kill cleans up right away.
bg() { "$@" & wait $!; }
say() { printf '\n== fresh-machine: %s (%ss)\n' "$*" "$SECONDS"; }

# --- Docker and mmdebstrap ----------------------------------------------------------------------
need_apt=()
{ command -v docker && command -v dockerd; } >/dev/null || need_apt+=(docker.io)
command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]} from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd"
  dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not answer in 60 s: /tmp/dockerd.log" >&2; exit 1; }
fi
# Containers of runs that were killed outright (their script's pid is gone) are removed here.
for old in $(docker ps -aq --filter label=zerog-fresh.pid); do
  pid="$(docker inspect -f '{{index .Config.Labels "zerog-fresh.pid"}}' "$old" 2>/dev/null || true)"
  [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && docker rm -f "$old" >/dev/null 2>&1 || true
done

# --- The bare image, cached by what it is made from --------------------------------------------
MMDEBSTRAP=(mmdebstrap --variant=minbase --aptopt='Acquire::Check-Valid-Until "false"'
  --aptopt='Acquire::Check-Date "false"' bookworm)
KEY="$( { echo "${MMDEBSTRAP[*]}"; cat "$SOURCES"; } | sha256sum | cut -c1-16)"
IMAGE="zerog-fresh/debian:bookworm-minbase-$KEY"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "image $IMAGE is cached"
else
  say "building $IMAGE (mmdebstrap minbase)"
  bg "${MMDEBSTRAP[@]}" "$WORK/rootfs.tar" "$SOURCES" 2>"$WORK/mmdebstrap.log" \
    || { tail -20 "$WORK/mmdebstrap.log" >&2; exit 1; }
  bg docker import "$WORK/rootfs.tar" "$IMAGE" >/dev/null
  rm -f "$WORK/rootfs.tar"
fi
if docker run --rm "$IMAGE" sh -c 'command -v python3' >/dev/null; then
  echo "$IMAGE has a python3: it is not bare" >&2; exit 1
fi

# --- The container, the repository and ../shared -----------------------------------------------
say "starting $NAME"
REV="$(git -C "$ROOT" rev-parse --short HEAD)"
git -C "$ROOT" bundle create -q "$WORK/zerog.bundle" HEAD
sed -n '/<!-- prerequisites:begin/,/<!-- prerequisites:end -->/p' "$ROOT/README.md" \
  | sed -e '1d' -e '$d' | sed -e '/^```/d' >"$WORK/prerequisites.sh"
grep -q 'apt-get install' "$WORK/prerequisites.sh" \
  || { echo "README.md has no prerequisites block between its markers" >&2; exit 1; }
docker run -d --rm --name "$NAME" --label "zerog-fresh.pid=$$" --network host --shm-size 1g \
  -e DEBIAN_FRONTEND=noninteractive -e PIP_CERT=/fresh/ca.crt \
  -e NODE_EXTRA_CA_CERTS=/fresh/ca.crt -e PIP_DISABLE_PIP_VERSION_CHECK=1 \
  "$IMAGE" sleep "$DEADLINE_SECONDS" >/dev/null
docker exec "$NAME" mkdir -p /fresh /root/work
docker cp -q "$HOST_CA" "$NAME:/fresh/ca.crt"
docker cp -q "$WORK/zerog.bundle" "$NAME:/fresh/zerog.bundle"
docker cp -q "$WORK/prerequisites.sh" "$NAME:/fresh/prerequisites.sh"
if [ -d "$SHARED" ]; then
  docker cp -q "$SHARED" "$NAME:/root/work/shared"
  docker exec "$NAME" chmod -R a-w /root/work/shared  # CI lays shared/ without write bits
else
  echo "warning: no $SHARED: the tests that read ../shared will skip" >&2
fi

run() { bg docker exec -w /root/work "$NAME" bash -euo pipefail -c "$1"; }

say "README prerequisites, as written"
sed 's/^/  | /' "$WORK/prerequisites.sh"
run 'bash -euxo pipefail /fresh/prerequisites.sh' >"$WORK/prerequisites.log" 2>&1 \
  || { tail -30 "$WORK/prerequisites.log" >&2; exit 1; }
run 'echo "  node $(node --version), npm $(npm --version), $(python3 --version)"'
if [ "$NO_CC" = 1 ]; then
  say "removing the C compiler (--no-cc)"
  run 'apt-get remove -y -qq gcc gcc-12 cpp cpp-12 >/dev/null && ! command -v cc'
fi

say "make test in a clone of HEAD ($REV)"
run 'git -c advice.detachedHead=false clone -q /fresh/zerog.bundle zerog'
status=0
# -rs lists every skip with its reason, read below.
{ docker exec -w /root/work "$NAME" bash -c 'cd zerog && PYTEST_ADDOPTS=-rs make test' 2>&1 \
  | tee "$WORK/test.log"; } &
wait $! || status=$?
say "make test exited $status"

# --- The verdict ---------------------------------------------------------------------------------
summary="$(grep -E '^=*.*[0-9]+ (passed|failed|error)' "$WORK/test.log" | tail -1 | tr -d '=' | xargs || true)"
toolchain="$(grep -m1 '^toolchain: python' "$WORK/test.log" || true)"
echo "toolchain in the container: ${toolchain:-not reported}"
echo "tests: ${summary:-no summary}"
allowed='docker|container tests'
[ "$NO_CC" = 1 ] && allowed="$allowed|no C compiler"
# Without ../shared beside the clone the vector tests skip here exactly as on the host.
[ -d "$SHARED" ] || allowed="$allowed|shared/? is not beside the repository|not present \(bare clone\)"
other_skips="$(grep -E '^SKIPPED \[' "$WORK/test.log" | grep -viE "$allowed" || true)"
fail=0
[ "$status" = 0 ] || { echo "FAIL: make test exited $status"; fail=1; }
if [ -n "$other_skips" ]; then
  echo "FAIL: tests skipped for something other than a Docker engine (or --no-cc's compiler):"
  echo "$other_skips"
  fail=1
fi
# Debian 12's node is 18: install must have fetched Node 20 and npm 11 for the suite.
case "$toolchain" in
  *"from tools/node"*) ;;
  *) echo "FAIL: make install did not use the Node 20 it fetches into tools/node"; fail=1 ;;
esac
if [ "$NO_CC" = 1 ] && ! grep -q 'no C compiler' "$WORK/test.log"; then
  echo "FAIL: install did not say that the C keccak was skipped"; fail=1
fi
count() { grep -oE "[0-9]+ $1" <<<"$summary" | cut -d' ' -f1 | head -1 || true; }
passed="$(count passed)"; failed="$(count failed)"; errors="$(count error)"; skipped="$(count skipped)"
[ "$fail" = 0 ] || cp "$WORK/test.log" /tmp/zerog-fresh-test.log
[ "$fail" = 0 ] || echo "the container's make test log: /tmp/zerog-fresh-test.log"
echo "fresh-machine ran ${SECONDS}s; pytest: ${summary:-no summary}"
# One plain closing line: failures and errors together, so CI reads both.
echo "fresh-machine: ${passed:-0} passed, $(( ${failed:-0} + ${errors:-0} )) failed, ${skipped:-0} skipped"
exit "$fail"
