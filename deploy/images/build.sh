#!/usr/bin/env bash
# `make images`: the service image (zerog:dev) and the devnet image (zerog-devnet:dev).
#
# With a registry, the Dockerfile's public base images are used as they are. Where none answers
# (the base images are neither present nor pullable), this makes local ones from Debian packages
# and npm (base.sh) and a wheelhouse of the pinned Python dependencies built on the host, and
# builds offline from PyPI's point of view (PIP_NO_INDEX=1). ZEROG_BASE=local|public forces
# either. The build context is the files the Dockerfile copies (what git tracks or would track,
# plus the wheelhouse), streamed as a tar: the classic builder here has no BuildKit and so
# ignores deploy/Dockerfile.dockerignore.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
wheelhouse=deploy/images/wheelhouse
public_arg() {  # the Dockerfile's default for build argument $1
  sed -n "s/^ARG $1=//p" deploy/Dockerfile
}
python_image=$(public_arg PYTHON_IMAGE)
node_image=$(public_arg NODE_IMAGE)

reachable() {  # present here, or pulled now
  docker image inspect "$1" >/dev/null 2>&1 || timeout 120 docker pull -q "$1" >/dev/null 2>&1
}
mode=${ZEROG_BASE:-}
if [ -z "$mode" ]; then
  if reachable "$python_image" && reachable "$node_image"; then mode=public; else mode=local; fi
fi
args=()
if [ "$mode" = local ]; then
  echo "images: no registry answers; local base images and a wheelhouse"
  deploy/images/base.sh
  # The runtime dependencies pyproject.toml names, pinned by the lock, plus the build backend
  # that `pip install .` needs in an isolated environment.
  deps=$(mktemp)
  trap 'rm -f "$deps"' EXIT
  "$PYTHON" -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
print('\n'.join(p['project']['dependencies'] + p['build-system']['requires']))" > "$deps"
  "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$wheelhouse" \
    -c requirements.lock -r "$deps"
  args=(--network host
    --build-arg PYTHON_IMAGE=zerog-local/python:3.11-bookworm
    --build-arg NODE_IMAGE=zerog-local/node:20-bookworm
    --build-arg PIP_NO_INDEX=1)
fi

context=$(mktemp /tmp/zerog-context.XXXXXX.tar)
trap 'rm -f "$context" "${deps:-}"' EXIT
{
  git ls-files -co --exclude-standard -- deploy/Dockerfile pyproject.toml requirements.lock \
    package.json package-lock.json libs gen services devnet tools/health_probe.py "$wheelhouse"
  find "$wheelhouse" -name '*.whl'
} | sort -u | tar -cf "$context" -T -

for target in service:zerog:dev devnet:zerog-devnet:dev; do
  echo "images: ${target#*:} (target ${target%%:*})"
  DOCKER_BUILDKIT=0 docker build "${args[@]}" -f deploy/Dockerfile \
    --target "${target%%:*}" -t "${target#*:}" - < "$context"
done
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^zerog(-devnet)?:dev '
