#!/usr/bin/env bash
# `make test-containers`: tests/containers against the stack of docker-compose.yml, in a compose
# project of its own (zerog-ct-<pid>) with every host port picked by Docker, so it disturbs
# nothing else on the engine. docker-compose.local.yml is added where the registry images are
# missing (ZEROG_BASE=local|public forces it). Whatever happens (failure, Ctrl-C, SIGTERM), the
# project's containers, network and volumes are removed, and the run fails if any is left.
set -euo pipefail
cd "$(dirname "$0")/../.."
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-zerog-ct-$$}
mode=${ZEROG_BASE:-}
if [ -z "$mode" ]; then
  if docker image inspect "$(sed -n 's/^ *image: \(postgres:.*\)/\1/p' docker-compose.yml)" \
      >/dev/null 2>&1; then mode=public; else mode=local; fi
fi
export COMPOSE_FILE=docker-compose.yml
[ "$mode" = public ] || COMPOSE_FILE=docker-compose.yml:docker-compose.local.yml

leftovers() {
  local label="label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
  docker ps -aq --filter "$label"
  docker network ls -q --filter "$label"
  docker volume ls -q --filter "$label"
}
down() {
  docker-compose down --volumes --remove-orphans --timeout 30 >/dev/null 2>&1 || true
  local left
  left=$(leftovers)
  if [ -n "$left" ]; then
    echo "test-containers: left behind by $COMPOSE_PROJECT_NAME: $left" >&2
    exit 1
  fi
  echo "test-containers: $COMPOSE_PROJECT_NAME removed, nothing left behind"
}
trap down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "test-containers: project $COMPOSE_PROJECT_NAME, files $COMPOSE_FILE"
ZEROG_CONTAINER_TESTS=1 "${PYTEST:-.venv/bin/pytest}" -q -p no:randomly \
  -o timeout=1200 tests/containers "$@"
