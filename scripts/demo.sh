#!/usr/bin/env bash
# End-to-end demo on a fresh machine: starts a private dockerd, a registry with a password and a
# token-auth registry (as Docker Hub and GHCR work) on 127.0.0.1, then runs the action
# (dist/index.js, main and post step) exactly as a GitHub runner would for a release tag v1.2.3,
# pushing to both, and shows what landed in the registries.
#
# The log is shown as the runner shows it (scripts/runner-log.mjs): masked values as ***,
# workflow commands as readable lines. Knobs: PUBLISH_IMAGE_DEMO_ENV (test bed directory,
# /tmp/publish-image-demo), PUBLISH_IMAGE_DEMO_REG1_PORT / _REG2_PORT / _REG3_PORT /
# _TOKEN_PORT (5201 / 5202 / 5203 / 5204), and
# PUBLISH_IMAGE_DEMO_BED=<env file> to use a test bed that is already up (left running).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ -n "${PUBLISH_IMAGE_DEMO_BED:-}" ]; then
  # shellcheck disable=SC1090
  source "$PUBLISH_IMAGE_DEMO_BED"
  stop_bed=:
else
  # A test bed of its own, so the demo never disturbs a test run on the same machine.
  export PUBLISH_IMAGE_ENV=${PUBLISH_IMAGE_DEMO_ENV:-/tmp/publish-image-demo}
  export REG1_PORT=${PUBLISH_IMAGE_DEMO_REG1_PORT:-5201} REG2_PORT=${PUBLISH_IMAGE_DEMO_REG2_PORT:-5202}
  # The test bed also starts a token-auth registry and its token server: keep them off the tests' ports.
  export REG3_PORT=${PUBLISH_IMAGE_DEMO_REG3_PORT:-5203} TOKEN_PORT=${PUBLISH_IMAGE_DEMO_TOKEN_PORT:-5204}
  bash scripts/env.sh up
  # shellcheck disable=SC1091
  source "$PUBLISH_IMAGE_ENV/env"
  stop_bed='bash scripts/env.sh down >/dev/null 2>&1 || true'
fi

work=$(mktemp -d /tmp/publish-image-demo-run.XXXXXX)
trap 'rm -rf "$work"; eval "$stop_bed"' EXIT
mkdir -p "$work/app" "$work/runner-temp" "$work/home"
echo "hello from publish-image $(date -u +%FT%TZ)" >"$work/app/hello.txt"
# A build secret, as a private package registry's token would be: the RUN step reads it, the
# image keeps only its length. BuildKit runs the build, as on a hosted runner: Debian's docker
# 20.10 CLI runs it itself with DOCKER_BUILDKIT=1 (the newer CLI first on PATH has no buildx).
build_token=${PUBLISH_IMAGE_DEMO_BUILD_TOKEN:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
mkdir -p "$work/bin" && ln -s /usr/bin/docker "$work/bin/docker"
cat >"$work/app/Dockerfile" <<'DOCKERFILE'
FROM local/busybox:latest
RUN --mount=type=secret,id=npm_token busybox wc -c </run/secrets/npm_token >/npm-token-length
COPY hello.txt /hello.txt
DOCKERFILE
cat >"$work/event.json" <<JSON
{ "ref": "refs/tags/v1.2.3",
  "repository": { "name": "demo", "full_name": "acme/demo", "html_url": "https://github.com/acme/demo",
                  "description": "publish-image demo", "default_branch": "main", "license": { "spdx_id": "MIT" } } }
JSON
: >"$work/output"; : >"$work/state"; : >"$work/summary.md"
echo "(temporary files of this demo: $work, removed at the end)"

# A release to both registries, each with its own login.
images="$REG1/acme/demo
$REG3/$REG3_USER/demo"
auth="- registry: $REG1
  username: $REG1_USER
  password: $REG1_PASS
- registry: $REG3
  username: $REG3_USER
  password: $REG3_PASS"

step() { # the runner's environment for one step of a workflow run, its log as the runner shows it
  {
    # The runner masks every secret of the workflow from the start, and echoes the step's inputs.
    printf '::add-mask::%s\n' "$REG1_PASS" "$REG3_PASS" "$build_token"
    printf 'Run publish-image (%s step)\n  with:\n' "$1"
    printf '    images: |\n%s\n' "$(sed 's/^/      /' <<<"$images")"
    printf '    registry-auth: |\n%s\n' "$(sed 's/^/      /' <<<"$auth")"
    printf '    context: %s\n' "$work/app"
    printf '    secrets: npm_token=%s\n' "$build_token"
    run_step "${@:2}"
  } | node "$root/scripts/runner-log.mjs"
}
run_step() {
  env -i PATH="$work/bin:$PATH" DOCKER_BUILDKIT=1 HOME="$work/home" DOCKER_HOST="$DOCKER_HOST" RUNNER_TEMP="$work/runner-temp" \
    GITHUB_ACTIONS=true GITHUB_EVENT_NAME=push GITHUB_EVENT_PATH="$work/event.json" GITHUB_REF=refs/tags/v1.2.3 \
    GITHUB_SHA=0123456789abcdef0123456789abcdef01234567 GITHUB_REPOSITORY=acme/demo GITHUB_ACTOR=octocat \
    GITHUB_SERVER_URL=https://github.com GITHUB_OUTPUT="$work/output" GITHUB_STATE="$work/state" \
    GITHUB_STEP_SUMMARY="$work/summary.md" \
    INPUT_IMAGES="$images" "INPUT_REGISTRY-AUTH=$auth" \
    INPUT_CONTEXT="$work/app" "INPUT_SECRETS=npm_token=$build_token" INPUT_FLAVOR=latest=auto INPUT_PUSH=auto INPUT_LOGOUT=true "$@" \
    node "$root/dist/index.js"
}

show_outputs() { # GITHUB_OUTPUT's name<<delimiter blocks as name: value
  while IFS= read -r line; do
    case "$line" in
      *'<<'*)
        name=${line%%<<*} delim=${line#*<<} first=1
        while IFS= read -r value && [ "$value" != "$delim" ]; do
          if [ $first = 1 ]; then printf '%s: %s\n' "$name" "$value"; first=0; else printf '%*s  %s\n' ${#name} '' "$value"; fi
        done ;;
    esac
  done <"$1"
}

# The state the main step saved for the post step (GITHUB_STATE's name<<delimiter blocks).
state=()
read_state() {
  state=()
  while IFS= read -r line; do
    case "$line" in *'<<'*) name=${line%%<<*}; IFS= read -r value; state+=("STATE_$name=$value"); IFS= read -r _ ;; esac
  done <"$work/state"
}
# The first value: the main step saves the directory, then '' once it has removed it.
config_dir() { for s in "${state[@]}"; do case "$s" in STATE_configDir=?*) echo "${s#STATE_configDir=}"; return ;; esac; done; }

echo "== main step (release tag v1.2.3)"
step main
read_state
dir=$(config_dir)
# The main step removes its config when it is done; the post step is the safety net for a main
# step that was cancelled before its end (its state then still names the directory).
echo "== the step's own Docker config (not ~/.docker), where the login lived: $dir"
if [ -e "$dir" ]; then echo "   $dir is still there after the main step" >&2; exit 1; fi
echo "   $dir is gone: the main step removed it when it finished"
echo "== post step (nothing left to remove)"
step post "${state[@]}"

echo "== step outputs (GITHUB_OUTPUT)"
show_outputs "$work/output"
echo "== job summary (GITHUB_STEP_SUMMARY)"
cat "$work/summary.md"
echo "== the registries now hold"
# curl reads the credentials from stdin (-K -), never from its command line.
curl -sf -K - "http://$REG1/v2/acme/demo/tags/list" <<<"user = \"$REG1_USER:$REG1_PASS\""
# The token registry names its token server (realm) and service in its 401 challenge, as Docker
# Hub's does; a pull token for the repository then reads its tags.
challenge=$(curl -s -D - -o /dev/null "http://$REG3/v2/" | tr -d '\r' | grep -i '^www-authenticate:')
realm=$(sed -n 's/.*realm="\([^"]*\)".*/\1/p' <<<"$challenge")
service=$(sed -n 's/.*service="\([^"]*\)".*/\1/p' <<<"$challenge")
token=$(curl -sf -K - "$realm?service=$service&scope=repository:$REG3_USER/demo:pull" \
  <<<"user = \"$REG3_USER:$REG3_PASS\"" | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s).token))')
curl -sf -K - "http://$REG3/v2/$REG3_USER/demo/tags/list" <<<"header = \"Authorization: Bearer $token\""
echo "== credentials left behind under RUNNER_TEMP and HOME (expect none)"
grep -rlF -f <(printf "%s\n%s\n%s\n" "$REG1_PASS" "$REG3_PASS" "$build_token") "$work" 2>/dev/null || echo "none"
