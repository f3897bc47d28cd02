#!/usr/bin/env bash
# Installs what the test suite needs beyond Go, only where it is missing:
# Debian's boto3 1.26 and AWS CLI v2 plus faketime (conformance suite),
# Debian's chromium (the console's browser test), Debian's etcd-server (the
# README's replica recipe, run as written), the JS SDK from the
# conformance lockfile, and the console's build and test tools (esbuild,
# playwright-core) from its lockfile. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

missing=()
/usr/bin/python3 -c 'import boto3' 2>/dev/null || missing+=(python3-boto3)
[ -x /usr/bin/aws ] || missing+=(awscli)
command -v faketime >/dev/null || missing+=(faketime)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v etcd >/dev/null || missing+=(etcd-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

js=conformance/clients/js
if [ ! -d "$js/node_modules/@aws-sdk/client-amplifybackend" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
  echo "installing the JS SDK (npm ci)"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
fi

console=console
if [ ! -d "$console/node_modules/playwright-core" ] || [ "$console/package-lock.json" -nt "$console/node_modules/.package-lock.json" ]; then
  echo "installing the console's build and test tools (npm ci)"
  (cd "$console" && npm ci --no-audit --no-fund --loglevel=error)
fi
