#!/usr/bin/env bash
# Local base images from Debian packages and the npm registry, for machines where no image
# registry answers (nothing here pulls an image):
#   zerog-local/debian:bookworm       mmdebstrap minbase + ca-certificates, `docker import`ed
#   zerog-local/python:3.11-bookworm  Debian's python3 + venv        (PYTHON_IMAGE)
#   zerog-local/node:20-bookworm      node@20 and npm from npm        (NODE_IMAGE)
#   zerog-local/postgres:15-bookworm  Debian's postgresql-15          (docker-compose.local.yml)
#   zerog-local/prometheus:bookworm   Debian's prometheus             (docker-compose.local.yml)
# An image that already exists is kept; FORCE=1 rebuilds them all. Needs root (mmdebstrap),
# a Docker engine, npm, and network to Debian and npm (the builds use --network host).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
NODE_VERSION=${NODE_VERSION:-20.20.2}
NPM_VERSION=${NPM_VERSION:-10.9.9}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
DEBIAN=zerog-local/debian:bookworm
work=$(mktemp -d /tmp/zerog-base.XXXXXX)
trap 'rm -rf "$work"' EXIT

have() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }
build() {  # build TAG DOCKERFILE [FILE...]: a context of just those files
  local tag=$1 dockerfile=$2 context
  shift 2
  context=$(mktemp -d "$work/context.XXXXXX")
  cp "$dockerfile" "$context/Dockerfile"
  [ $# -eq 0 ] || cp -r "$@" "$context/"
  echo "base: building $tag"
  DOCKER_BUILDKIT=0 docker build -q --network host --build-arg "DEBIAN_IMAGE=$DEBIAN" \
    -t "$tag" "$context" >/dev/null
}

if ! have "$DEBIAN"; then
  echo "base: mmdebstrap bookworm (minbase) -> $DEBIAN"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "$work/rootfs.tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' "$work/rootfs.tar" "$DEBIAN" >/dev/null
  rm -f "$work/rootfs.tar"
fi

have zerog-local/python:3.11-bookworm \
  || build zerog-local/python:3.11-bookworm "$here/python.Dockerfile"

if ! have zerog-local/node:20-bookworm; then
  echo "base: npm node@$NODE_VERSION npm@$NPM_VERSION"
  mkdir -p "$work/node"
  (cd "$work/node" && npm install --no-save --no-audit --no-fund --loglevel=error \
    --prefix . "node@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  cp -L "$work/node/node_modules/.bin/node" "$work/node/node"
  test "$("$work/node/node" --version)" = "v$NODE_VERSION"
  cp "$CA_BUNDLE" "$work/node/host-ca.crt"
  build zerog-local/node:20-bookworm "$here/node.Dockerfile" \
    "$work/node/node" "$work/node/node_modules/npm" "$work/node/host-ca.crt"
fi

have zerog-local/postgres:15-bookworm \
  || build zerog-local/postgres:15-bookworm "$here/postgres.Dockerfile" "$here/postgres-entrypoint.sh"
have zerog-local/prometheus:bookworm \
  || build zerog-local/prometheus:bookworm "$here/prometheus.Dockerfile"
