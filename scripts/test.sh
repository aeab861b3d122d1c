#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs (Debian packages, npm
# modules), checks lint and that dist/ is a fresh build of src/, starts a private dockerd and
# three registries on 127.0.0.1 (two htpasswd, one token auth with its token server), and runs
# the unit and end-to-end tests on the committed bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

echo "== lint"
npx eslint .
npx prettier --check .

echo "== dist/ is a fresh build of src/"
fresh=$(mktemp -d)
cp -r dist "$fresh/committed"
npm run -s build >/dev/null
if ! diff -r "$fresh/committed" dist >/dev/null; then
  diff -rq "$fresh/committed" dist || true
  rm -rf dist && cp -r "$fresh/committed" dist
  echo "dist/ differs from a fresh build of src/: run 'npm run build' and commit dist/" >&2
  exit 1
fi
rm -rf "$fresh"

echo "== test bed"
bash scripts/env.sh up
trap 'bash scripts/env.sh down' EXIT
# shellcheck disable=SC1091
source "${PUBLISH_IMAGE_ENV:-/tmp/publish-image-env}/env"

echo "== unit and end-to-end tests"
mkdir -p .tmp
status=0
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --selectProjects unit e2e --runInBand \
  --json --outputFile=.tmp/jest.json "$@" || status=$?

# The flows that build run again with BuildKit (Debian's docker 20.10 CLI, DOCKER_BUILDKIT=1):
# hosted runners build with BuildKit, and everything the action does must work with both builders.
echo "== the build flows again, with BuildKit"
rm -f .tmp/jest-buildkit.json
E2E_BUILDER=buildkit node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --selectProjects e2e --runInBand \
  --json --outputFile=.tmp/jest-buildkit.json \
  __tests__/e2e/publish.test.ts __tests__/e2e/multi.test.ts __tests__/e2e/provenance.test.ts \
  __tests__/e2e/preview.test.ts __tests__/e2e/messages.test.ts __tests__/e2e/reuse.test.ts \
  __tests__/e2e/warm-daemon.test.ts "$@" || status=$?

# One plain closing line that any CI reads: "N passed, N failed".
node -e '
const runs = [".tmp/jest.json", ".tmp/jest-buildkit.json"].filter((f) => require("fs").existsSync(f)).map((f) => require("./" + f));
const sum = (k) => runs.reduce((n, r) => n + r[k], 0);
console.log(`${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed`);' || true
exit $status
