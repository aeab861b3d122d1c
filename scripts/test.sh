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
# One plain closing line that any CI reads: "N passed, N failed".
node -e 'const r=require("./.tmp/jest.json");console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`)' || true
exit $status
