#!/usr/bin/env bash
# The node --test suites (the package end to end on SeaweedFS, moto, LocalStack
# and the in-memory store), then a search of every error and log line they
# produced for the secrets they use. Needs the built package and the servers
# (scripts/test.sh does both).
#   bash scripts/test-node.sh            on the node on PATH
#   bash scripts/test-node.sh 22         on Node 22 (scripts/runtimes.sh installs it)
#   bash scripts/test-node.sh 24 --no-load
#                                        without the load suites (thousands of
#                                        entries, process fleets: LOAD in
#                                        __test__/support/helpers.mjs), which
#                                        test the Rust core, not the runtime
set -euo pipefail
cd "$(dirname "$0")/.."
major=""
for arg in "$@"; do
  case "$arg" in
    --no-load) export IMMUKV_LOAD_TESTS=0 ;;
    *) major="$arg" ;;
  esac
done
if [ -n "$major" ]; then
  bin=$(bash scripts/runtimes.sh node "$major")
  export PATH="$bin:$PATH"
fi
version=$(node --version)
echo "== node --test on Node $version (the package on SeaweedFS, moto, LocalStack and in memory)"
# Every error the suites see is logged here (helpers.mjs), then searched for
# the secrets the suites use.
mkdir -p .s3
export IMMUKV_ERROR_LOG="$PWD/.s3/errors-$version.log"
log=".s3/node-test-$version.log"
: > "$IMMUKV_ERROR_LOG"
node --test --test-timeout=600000 --test-concurrency=1 __test__/*.test.mjs 2>&1 | tee "$log"

echo "== secret scan of every error and log line the suites produced on Node $version"
errors=$(grep -c -- '^---$' "$IMMUKV_ERROR_LOG" || true)
[ "$errors" -gt 50 ] || { echo "only $errors errors logged: the scan would prove nothing"; exit 1; }
for secret in adminsecret readersecret not-the-right-secret-7f3a9 session-secret-key-123 FwoGZXIvYXdzEXAMPLESESSIONTOKEN; do
  if grep -q -- "$secret" "$IMMUKV_ERROR_LOG" "$log"; then
    echo "FAIL: a secret ($secret) appears in an error or log line"; exit 1
  fi
done
echo "secret scan: $errors errors and all test output searched, no secret found"
