#!/usr/bin/env bash
# Every test: the Rust core (vectors, protocol decisions, the deterministic
# simulation) with cargo test, then the package end to end with node --test
# against local SeaweedFS, moto and LocalStack (installed and started by
# scripts/s3.sh) and the in-memory store (scripts/test-node.sh).
#   IMMUKV_BUILD=debug npm test    faster rebuilds while developing
#   IMMUKV_SIM_SEEDS=20000 npm test   a longer simulation
#   IMMUKV_NODE=22 npm test        the node suites on Node 22 (scripts/runtimes.sh)
# CI also runs the node suites on the other Node majors, and the smoke suite
# on Bun and Deno (.ci/run).
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

bash scripts/test-node.sh "${IMMUKV_NODE:-}"
