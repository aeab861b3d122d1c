#!/usr/bin/env bash
# Local test bed: a private dockerd, two htpasswd-protected registries and one token-auth
# registry (with our token server, scripts/token-server.mjs) on 127.0.0.1.
#   scripts/env.sh up     install what is missing, start everything, write $ENV_DIR/env
#   scripts/env.sh down   stop everything started by `up`
#   scripts/env.sh clean  stop it and remove ENV_DIR (dockerd's images, registry data: up to ~1 GB)
# Everything lives under ENV_DIR so nothing touches the machine's own docker.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENV_DIR=${PUBLISH_IMAGE_ENV:-/tmp/publish-image-env}
REG1_PORT=${REG1_PORT:-5101}
REG2_PORT=${REG2_PORT:-5102}
REG3_PORT=${REG3_PORT:-5103}
TOKEN_PORT=${TOKEN_PORT:-$((REG3_PORT + 1))}
# reg1 lets clients delete manifests, reg2 refuses (405) as many self-hosted registries do,
# so both paths of the pull request cleanup are tested.
REG1_DELETE=${REG1_DELETE:-true}
REG2_DELETE=${REG2_DELETE:-false}
# The token registry deletes too, so the cleanup runs through the `delete` scope of its tokens.
REG3_DELETE=${REG3_DELETE:-true}

need_packages() {
  local missing=()
  command -v ssh-keygen >/dev/null || missing+=(openssh-client) # keys for the ssh input's tests
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  command -v busybox >/dev/null || missing+=(busybox-static)
  command -v curl >/dev/null || missing+=(curl)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v skopeo >/dev/null || missing+=(skopeo) # e2e reads pushed images with it
  command -v ip >/dev/null || missing+=(iproute2)    # the bridge BuildKit's RUN steps need
  # Debian's docker CLI 20.10 runs BuildKit itself with DOCKER_BUILDKIT=1 (a newer CLI first on
  # PATH may have no buildx): the tests build with both builders.
  { [ -x /usr/bin/docker ] && command -v dockerd >/dev/null; } || missing+=(docker.io)
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
  fi
}

wait_for() { # wait_for <what> <command...>
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out waiting for $what" >&2
  return 1
}

start_registry() { # start_registry <name> <port> <user> <delete: true|false>
  local name=$1 port=$2 user=$3 delete=${4:-true} dir="$ENV_DIR/$1" pass
  mkdir -p "$dir/data"
  pass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  # htpasswd reads the password on stdin (-i) so it never shows in argv.
  printf '%s' "$pass" | htpasswd -iBn "$user" >"$dir/htpasswd"
  cat >"$dir/config.yml" <<YML
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage:
  filesystem: { rootdirectory: $dir/data }
  delete: { enabled: $delete }
http: { addr: 127.0.0.1:$port }
auth:
  htpasswd: { realm: $name, path: $dir/htpasswd }
YML
  setsid docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  wait_for "registry $name" curl -sf -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" -u "$user:$pass"
  local upper=${name^^}
  {
    echo "export ${upper}=127.0.0.1:$port"
    echo "export ${upper}_USER=$user"
    echo "export ${upper}_PASS=$pass"
    echo "export ${upper}_DELETE=$delete"
  } >>"$ENV_DIR/env"
}

start_token_registry() { # start_token_registry <name> <port> <token port> <user> <delete: true|false>
  local name=$1 port=$2 tport=$3 user=$4 delete=${5:-true} dir="$ENV_DIR/$1" pass service="publish-image-$1"
  mkdir -p "$dir/data"
  pass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  # The token server signs with this key; the registry trusts tokens whose x5c chain ends here.
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=publish-image token server" \
    -keyout "$dir/token-key.pem" -out "$dir/token-cert.pem" 2>/dev/null
  # Only the password's sha256 is stored; it reaches sha256sum on stdin, never in argv.
  printf '{"%s":"%s"}\n' "$user" "$(printf '%s' "$pass" | sha256sum | cut -d' ' -f1)" >"$dir/users.json"
  chmod 600 "$dir/token-key.pem" "$dir/users.json"
  : >"$dir/token.log"
  cat >"$dir/config.yml" <<YML
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage:
  filesystem: { rootdirectory: $dir/data }
  delete: { enabled: $delete }
http: { addr: 127.0.0.1:$port }
auth:
  token:
    realm: http://127.0.0.1:$tport/token
    service: $service
    issuer: publish-image-token-server
    rootcertbundle: $dir/token-cert.pem
YML
  TOKEN_PORT=$tport TOKEN_KEY="$dir/token-key.pem" TOKEN_CERT="$dir/token-cert.pem" \
    TOKEN_USERS="$dir/users.json" TOKEN_LOG="$dir/token.log" TOKEN_SERVICE=$service \
    TOKEN_ISSUER=publish-image-token-server TOKEN_TTL=${TOKEN_TTL:-300} \
    setsid node "$SCRIPT_DIR/token-server.mjs" >"$dir/token-server.log" 2>&1 </dev/null &
  echo $! >"$dir/token-pid"
  setsid docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  wait_for "token server $name" curl -sf -o /dev/null "http://127.0.0.1:$tport/health"
  wait_for "registry $name" curl -s -o /dev/null "http://127.0.0.1:$port/v2/"
  local upper=${name^^}
  {
    echo "export ${upper}=127.0.0.1:$port"
    echo "export ${upper}_USER=$user"
    echo "export ${upper}_PASS=$pass"
    echo "export ${upper}_TOKEN_URL=http://127.0.0.1:$tport"
    echo "export ${upper}_TOKEN_LOG=$dir/token.log"
    echo "export ${upper}_DELETE=$delete"
  } >>"$ENV_DIR/env"
}

# BuildKit's RUN steps need a bridge network (with --bridge=none they fail with "network bridge
# not found"), as a runner's daemon has; one of our own, named after the test bed's port so two
# test beds on one machine do not share it. No NAT (--iptables=false): containers reach nothing.
BRIDGE=${PUBLISH_IMAGE_BRIDGE:-pibr$REG1_PORT}
BRIDGE_NET=${PUBLISH_IMAGE_BRIDGE_NET:-172.31.$((REG1_PORT % 200 + 20))}
bridge_up() {
  ip link show "$BRIDGE" >/dev/null 2>&1 && return 0
  ip link add "$BRIDGE" type bridge
  ip addr add "$BRIDGE_NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

up() {
  need_packages
  down >/dev/null 2>&1 || true
  mkdir -p "$ENV_DIR/docker"
  : >"$ENV_DIR/env"
  local sock="$ENV_DIR/docker/docker.sock"
  bridge_up
  setsid dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge="$BRIDGE" \
    --data-root "$ENV_DIR/docker/data" --exec-root "$ENV_DIR/docker/exec" \
    --pidfile "$ENV_DIR/docker/dockerd.pid" -H "unix://$sock" >"$ENV_DIR/docker/log" 2>&1 </dev/null &
  echo "export DOCKER_HOST=unix://$sock" >>"$ENV_DIR/env"
  export DOCKER_HOST="unix://$sock"
  wait_for dockerd docker version
  start_registry reg1 "$REG1_PORT" alice "$REG1_DELETE"
  start_registry reg2 "$REG2_PORT" bob "$REG2_DELETE"
  start_token_registry reg3 "$REG3_PORT" "$TOKEN_PORT" carol "$REG3_DELETE"
  # A tiny local base image so Dockerfiles with RUN build without any network.
  if ! docker image inspect local/busybox:latest >/dev/null 2>&1; then
    local root="$ENV_DIR/busybox-root"
    rm -rf "$root" && mkdir -p "$root/bin"
    cp "$(command -v busybox)" "$root/bin/busybox"
    for app in sh ls cat echo mkdir true uname; do ln -sf busybox "$root/bin/$app"; done
    tar -C "$root" -c . | docker import - local/busybox:latest >/dev/null
  fi
  echo "export PUBLISH_IMAGE_ENV=$ENV_DIR" >>"$ENV_DIR/env"
  echo "test bed up: source $ENV_DIR/env"
}

down() {
  for pidfile in "$ENV_DIR"/reg*/pid "$ENV_DIR"/reg*/token-pid "$ENV_DIR/docker/dockerd.pid"; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  # dockerd stops its containerd; give it a moment so the next `up` finds the socket free.
  for _ in $(seq 1 50); do pgrep -f "$ENV_DIR/docker" >/dev/null || break; sleep 0.2; done
  ip link del "$BRIDGE" 2>/dev/null || true
}

clean() {
  down
  # dockerd leaves its own mounts under the data root; they go before the folder does.
  grep -o " $ENV_DIR/[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$ENV_DIR"
  echo "test bed removed: $ENV_DIR"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  clean) clean ;;
  *) echo "usage: $0 up|down|clean" >&2; exit 2 ;;
esac
