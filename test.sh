#!/usr/bin/env bash
# The whole test suite: formatting, vet, and every Go test with the race
# detector (unit tests, the policy golden files, end-to-end tests that run the
# real binary against its embedded S3/IAM gateway, and the conformance suite
# that drives it with boto3, the AWS CLI and the JS SDK). Installs the
# clients it needs first.
set -euo pipefail
cd "$(dirname "$0")"

scripts/deps.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -race -count=1 -timeout 15m ./...
