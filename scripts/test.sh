#!/usr/bin/env bash
# Every test: the Rust core (vectors, protocol decisions, the deterministic
# simulation) with cargo test, then the package end to end with node --test
# against local SeaweedFS and moto (installed and started by scripts/s3.sh)
# and the in-memory store.
#   IMMUKV_BUILD=debug npm test    faster rebuilds while developing
#   IMMUKV_SIM_SEEDS=20000 npm test   a longer simulation
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu

[ -x node_modules/.bin/napi ] || npm install --no-audit --no-fund
bash scripts/s3.sh start

echo "== cargo test (Rust core, with the deterministic simulation)"
cargo test --target "$target" -p immukv-core --features sim

echo "== build (native module and TypeScript layer)"
if [ -n "${IMMUKV_PREBUILT:-}" ]; then
  echo "already built (IMMUKV_PREBUILT)"
elif [ "${IMMUKV_BUILD:-release}" = debug ]; then
  npm run build:debug
else
  npm run build
fi

echo "== node --test (the package on SeaweedFS, moto and in memory)"
# Every error the suites see is logged here (helpers.mjs), then searched for
# the secrets the suites use.
mkdir -p .s3
export IMMUKV_ERROR_LOG="$PWD/.s3/errors.log"
: > "$IMMUKV_ERROR_LOG"
node --test --test-timeout=600000 --test-concurrency=1 __test__/*.test.mjs 2>&1 | tee .s3/node-test.log

echo "== secret scan of every error and log line the suites produced"
errors=$(grep -c -- '^---$' "$IMMUKV_ERROR_LOG" || true)
[ "$errors" -gt 50 ] || { echo "only $errors errors logged: the scan would prove nothing"; exit 1; }
for secret in adminsecret readersecret not-the-right-secret-7f3a9 session-secret-key-123 FwoGZXIvYXdzEXAMPLESESSIONTOKEN; do
  if grep -q -- "$secret" "$IMMUKV_ERROR_LOG" .s3/node-test.log; then
    echo "FAIL: a secret ($secret) appears in an error or log line"; exit 1
  fi
done
echo "secret scan: $errors errors and all test output searched, no secret found"
