#!/usr/bin/env bash
# The benchmark, in one command: bash bench/run.sh
# Starts the local test bed (a private dockerd and two registries on 127.0.0.1, scripts/env.sh),
# then times the committed dist/index.js against the plain docker CLI (bench/bench.mjs, plain
# Node, no build step) and writes bench/results/latest.{json,md} plus latest-logs.txt.
#
# Knobs (environment): BENCH_ROUNDS (5), BENCH_BIG_ROUNDS (2), BENCH_COLD_ROUNDS (10),
# BENCH_WARMUP (1), BENCH_SMALL_MIB (30), BENCH_BIG_MIB (300), BENCH_BIG_ALLTAGS (1),
# BENCH_CASES (1,2,3,4,5,6,7; 8, the build cache, on request), BENCH_CACHE_ROUNDS (3),
# BENCH_CACHE_DELAY_MS (20), BENCH_CACHE_SLOW_S (6), BENCH_CACHE_BUILDERS (classic,buildkit),
# BENCH_CACHE_LAYOUTS (single,multi), BENCH_BASE_MIB (100), BENCH_APP_KIB (1024), BENCH_KEEP_ENV=1 to leave the test bed running afterwards,
# BENCH_DIST (dist/index.js) to time another bundle, BENCH_OUT (bench/results).
# The test bed is a separate one (its own directory and ports) so that a benchmark never stops
# the one the tests use, and the other way round: PUBLISH_IMAGE_ENV, REG1_PORT, REG2_PORT,
# REG3_PORT, TOKEN_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

export PUBLISH_IMAGE_ENV=${PUBLISH_IMAGE_ENV:-/tmp/publish-image-bench-env}
export REG1_PORT=${REG1_PORT:-5111}
export REG2_PORT=${REG2_PORT:-5112}
# The token registry and its token server too, or they would take the test bed's 5103/5104.
export REG3_PORT=${REG3_PORT:-5113}
export TOKEN_PORT=${TOKEN_PORT:-5114}

if [ ! -f "${BENCH_DIST:-dist/index.js}" ]; then
  echo "bench: ${BENCH_DIST:-dist/index.js} does not exist; build it with 'npm run build'" >&2
  exit 1
fi

# GNU time for the action's peak RSS (the bench falls back to polling /proc without it).
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing: time"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time </dev/null >/dev/null || true
fi

# Every publish leaves its blobs in the registries (about 4.5 GB a run with the defaults): the
# benchmark's own test bed starts with empty registries and, unless kept, ends without them.
# A test bed given by PUBLISH_IMAGE_ENV is left as it is.
own_bed=0
[ "$PUBLISH_IMAGE_ENV" = /tmp/publish-image-bench-env ] && own_bed=1
wipe_registries() {
  if [ "$own_bed" = 1 ]; then rm -rf "$PUBLISH_IMAGE_ENV"/reg1/data "$PUBLISH_IMAGE_ENV"/reg2/data; fi
}
bash scripts/env.sh down >/dev/null 2>&1 || true
wipe_registries
bash scripts/env.sh up
if [ "${BENCH_KEEP_ENV:-0}" != 1 ]; then
  trap 'bash scripts/env.sh down >/dev/null 2>&1 || true; wipe_registries' EXIT
fi
# shellcheck disable=SC1091
source "$PUBLISH_IMAGE_ENV/env"

node bench/bench.mjs
