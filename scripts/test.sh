#!/usr/bin/env bash
# Every test: the Rust core (vectors, protocol decisions) with cargo test, then
# the JS API end to end with node --test against local SeaweedFS and moto,
# which this script installs and starts (scripts/s3.sh).
#   IMMUKV_BUILD=debug npm test    faster rebuilds while developing
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu

[ -x node_modules/.bin/napi ] || npm install --no-audit --no-fund
bash scripts/s3.sh start

echo "== cargo test (Rust core)"
cargo test --target "$target" -p immukv-core

echo "== native build"
if [ "${IMMUKV_BUILD:-release}" = debug ]; then npm run build:debug; else npm run build; fi

echo "== node --test (JS API on SeaweedFS and moto)"
node --test --test-timeout=600000 --test-concurrency=1 __test__/*.test.mjs
