#!/usr/bin/env bash
# The whole test suite: formatting, vet, and every Go test with the race
# detector (unit tests, the policy golden files, end-to-end tests that run the
# real binary against its embedded S3/IAM gateway, and the conformance suite
# that drives it with boto3, the AWS CLI and the JS SDK). Installs the
# clients it needs first.
set -euo pipefail
cd "$(dirname "$0")"

scripts/deps.sh
# The installs above are what the suites behind this switch need; with it on,
# a missing program fails them instead of skipping (internal/external).
export AMPLIFYBACKENDD_EXTERNAL=1

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
# staticcheck at a pinned version, from the Go module proxy like the rest.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -race -count=1 -timeout 15m ./...
# go test shows a passing package's output only with -v: the crash test
# keeps its schedule's seed here so every run names it.
echo "crash test: $(cat artifacts/e2e/crash-seed.txt)"
# The chaos test (e2e/chaos: three replicas on etcd, kill -9s, etcd member
# stops, a partition) ran above, bounded by its own waits; its figures:
echo "chaos test: $(cat artifacts/chaos/summary.txt)"

# The benchmark suite is not a test: run it once in its short mode only to
# check that it still works (docs/benchmarks.md has the full run).
go test -count=1 -run '^$' -bench Suite -benchtime 1x -timeout 10m ./bench

# Each fuzz target for a bounded time (FUZZTIME, default 10s); the seed
# corpora (f.Add and testdata/fuzz) already ran above as plain tests. The
# targets are found in the sources, so a new one cannot be left out; the
# list is printed so a run shows what it fuzzed.
fuzztime=${FUZZTIME:-10s}
targets=$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go' -not -path '*/node_modules/*')
targets=$(grep -HoE '^func Fuzz[A-Za-z0-9_]*' $targets | sed -E 's|^(\./)?(.*)/[^/]*:func |\2:|' | sort -u)
echo "fuzz targets ($fuzztime each):" $targets
[ -n "$targets" ] || { echo "no fuzz targets found"; exit 1; }
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" "./$1" 2>&1 | grep -v '^fuzz: elapsed'; }
for target in $targets; do
  pkg=${target%%:*} name=${target##*:}
  out=$(fuzz "$pkg" "$name"; echo "exit $?")
  echo "$out" | sed '$d'
  [ "${out##*exit }" = 0 ] && continue
  # Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a
  # failure (golang/go#75804, fixed in Go 1.27); it then writes no input. A
  # real finding always writes one, so only that case runs once more.
  if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
    echo "$name: the fuzz engine's deadline race (golang/go#75804), no input found; running it once more"
    fuzz "$pkg" "$name" || exit 1
  else
    exit 1
  fi
done
