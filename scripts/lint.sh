#!/usr/bin/env bash
# The lint stage (CI runs it before the tests): formatting and lints of both
# languages, the TypeScript types, and the workflow files.
#   npm run lint
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
[ -x node_modules/.bin/napi ] || npm install --no-audit --no-fund

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (every crate and target, warnings are errors)"
cargo clippy --target "$target" --workspace --all-targets --features immukv-core/sim -- -D warnings

echo "== biome (format and lint of ts/, tests, bench, examples)"
node_modules/.bin/biome ci .

echo "== tsc --noEmit (the TypeScript layer against the committed binding types)"
node_modules/.bin/tsc -p tsconfig.json --noEmit

echo "== actionlint (.github/workflows)"
bash scripts/lint-workflows.sh
