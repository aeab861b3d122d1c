#!/usr/bin/env bash
# End-to-end demo on a fresh machine: starts a private dockerd and a registry with a password
# on 127.0.0.1, then runs the action (dist/index.js, main and post step) exactly as a GitHub
# runner would for a release tag v1.2.3, and shows what landed in the registry.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# A test bed of its own, so the demo never disturbs a test run on the same machine.
export PUBLISH_IMAGE_ENV=${PUBLISH_IMAGE_DEMO_ENV:-/tmp/publish-image-demo} REG1_PORT=5201 REG2_PORT=5202
bash scripts/env.sh up
trap 'bash scripts/env.sh down >/dev/null 2>&1 || true' EXIT
# shellcheck disable=SC1091
source "${PUBLISH_IMAGE_ENV:-/tmp/publish-image-env}/env"

work=$(mktemp -d)
mkdir -p "$work/app" "$work/runner-temp" "$work/home"
echo "hello from publish-image $(date -u +%FT%TZ)" >"$work/app/hello.txt"
printf 'FROM scratch\nCOPY hello.txt /hello.txt\n' >"$work/app/Dockerfile"
cat >"$work/event.json" <<JSON
{ "ref": "refs/tags/v1.2.3",
  "repository": { "name": "demo", "full_name": "acme/demo", "html_url": "https://github.com/acme/demo",
                  "description": "publish-image demo", "default_branch": "main", "license": { "spdx_id": "MIT" } } }
JSON
: >"$work/output"; : >"$work/state"; : >"$work/summary.md"

step() { # the runner's environment for one step of a workflow run
  env -i PATH="$PATH" HOME="$work/home" DOCKER_HOST="$DOCKER_HOST" RUNNER_TEMP="$work/runner-temp" \
    GITHUB_ACTIONS=true GITHUB_EVENT_NAME=push GITHUB_EVENT_PATH="$work/event.json" GITHUB_REF=refs/tags/v1.2.3 \
    GITHUB_SHA=0123456789abcdef0123456789abcdef01234567 GITHUB_REPOSITORY=acme/demo \
    GITHUB_SERVER_URL=https://github.com GITHUB_OUTPUT="$work/output" GITHUB_STATE="$work/state" \
    GITHUB_STEP_SUMMARY="$work/summary.md" \
    INPUT_IMAGES="$REG1/acme/demo" INPUT_REGISTRY="$REG1" INPUT_USERNAME="$REG1_USER" INPUT_PASSWORD="$REG1_PASS" \
    INPUT_CONTEXT="$work/app" INPUT_FLAVOR=latest=auto INPUT_PUSH=auto INPUT_LOGOUT=true "$@" \
    node "$root/dist/index.js"
}

echo "== main step (release tag v1.2.3)"
step
echo "== post step"
state=()
while IFS= read -r line; do
  case "$line" in *'<<'*) name=${line%%<<*}; IFS= read -r value; state+=("STATE_$name=$value"); IFS= read -r _ ;; esac
done <"$work/state"
step "${state[@]}"

echo "== step outputs (GITHUB_OUTPUT)"
cat "$work/output"
echo "== job summary (GITHUB_STEP_SUMMARY)"
cat "$work/summary.md"
echo "== the registry now holds"
curl -sf -u "$REG1_USER:$REG1_PASS" "http://$REG1/v2/acme/demo/tags/list"
echo
echo "== credentials left behind under RUNNER_TEMP and HOME (expect none)"
grep -rlF -f <(printf "%s" "$REG1_PASS") "$work" 2>/dev/null || echo "none"
