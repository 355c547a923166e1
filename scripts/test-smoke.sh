#!/usr/bin/env bash
# The smoke suite (__test__/runtimes/smoke.mjs: the package loaded by import
# and require, the API on SeaweedFS, the in-memory store, the CLI) on a
# JavaScript runtime other than the node on PATH:
#   bash scripts/test-smoke.sh bun | deno | node MAJOR
# The runtime comes from scripts/runtimes.sh; the package must be built and
# SeaweedFS started (scripts/s3.sh start weed).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(bash scripts/runtimes.sh "$@")
export PATH="$bin:$PATH"
case "$1" in
  bun) exec bun __test__/runtimes/smoke.mjs ;;
  # The native module needs FFI; the suite reads the environment, the
  # package's files, runs the CLI and talks to S3: -A rather than a long list.
  deno) exec deno run -A __test__/runtimes/smoke.mjs ;;
  node) exec node __test__/runtimes/smoke.mjs ;;
esac
