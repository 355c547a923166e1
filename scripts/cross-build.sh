#!/usr/bin/env bash
# Build the napi module for Linux targets from this x86_64 Linux machine:
#   scripts/cross-build.sh [--out-dir DIR] [--debug] [--host] TARGET...
#   TARGET: x86_64-unknown-linux-gnu  aarch64-unknown-linux-gnu
#           x86_64-unknown-linux-musl aarch64-unknown-linux-musl   (or: all)
#
# glibc targets are linked against glibc $GLIBC_FLOOR (default 2.17, the floor of
# the napi-rs ecosystem) with zig through cargo-zigbuild (`napi build -x` and the
# target spelled `x86_64-unknown-linux-gnu.2.17`); musl targets use the same
# route. Each module lands where `napi artifacts` would put it:
#   npm/<platform>/<binaryName>.<platform>.node   (e.g. npm/linux-arm64-gnu/immukv.linux-arm64-gnu.node)
# or, with --out-dir DIR, flat in DIR (the layout `napi artifacts -d DIR` reads).
# Nothing else is written to the repo: the JS loader and .d.ts that napi
# generates go to a temp dir and are thrown away (the project's own build,
# `npm run build`, owns those files), unless --host is given: then the module
# is also copied to the repo root and the generated index.js and index.d.ts
# replace the committed ones (CI builds its host module this way, and checks
# that they did not change).
#
# Tools are installed on first use, from PyPI into $TOOLS_DIR (default .tools/,
# git-ignored by its own .gitignore): zig (`ziglang`) and cargo-zigbuild. Rust
# std for each target comes from `rustup target add`.
#
# Environment:
#   TOOLS_DIR                  where zig and cargo-zigbuild live (default <repo>/.tools)
#   GLIBC_FLOOR                glibc version to link gnu targets against (default 2.17)
#   ZIGLANG_VERSION            PyPI ziglang version (default 0.14.1, as the napi-rs template CI)
#   CARGO_ZIGBUILD_VERSION     PyPI cargo-zigbuild version (default 0.24.1)
#   CARGO_TARGET_DIR           honoured (cargo's own variable)
#   CARGO_PROFILE_RELEASE_*    honoured (cargo's own variables), e.g. OPT_LEVEL=z
#   BUILD_LOCK                 if set, each build runs under `flock $BUILD_LOCK`
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${TOOLS_DIR:-$root/.tools}
glibc=${GLIBC_FLOOR:-2.17}
zig_version=${ZIGLANG_VERSION:-0.14.1}
zigbuild_version=${CARGO_ZIGBUILD_VERSION:-0.24.1}

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

out_dir=""
host=""
profile=(--release)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out-dir) out_dir=$2; shift 2 ;;
    --out-dir=*) out_dir=${1#*=}; shift ;;
    --debug) profile=(); shift ;;
    --host) host=1; shift ;;
    -h|--help) usage 0 ;;
    all) targets+=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu
                   x86_64-unknown-linux-musl aarch64-unknown-linux-musl); shift ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || usage
# Relative to where the script was called from, not the repo root.
[ -z "$out_dir" ] || out_dir=$(mkdir -p "$out_dir" && cd "$out_dir" && pwd)

# "<arch>-unknown-linux-<abi>" -> "linux-<node arch>-<abi>" (napi-rs platform names)
platform_of() {
  local arch=${1%%-*} abi=${1##*-}
  case "$arch" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "unsupported arch in $1" >&2; return 1 ;;
  esac
  echo "linux-$arch-$abi"
}
for t in "${targets[@]}"; do
  case "$t" in
    x86_64-unknown-linux-gnu|aarch64-unknown-linux-gnu|x86_64-unknown-linux-musl|aarch64-unknown-linux-musl) ;;
    *) echo "cross-build.sh builds Linux targets only, not $t (darwin and windows are built by .github/workflows/release.yml on their own runners)" >&2; exit 2 ;;
  esac
done

# --- tools -------------------------------------------------------------------
mkdir -p "$tools/bin"
[ -f "$tools/.gitignore" ] || printf '*\n' > "$tools/.gitignore"
venv="$tools/venv"
if ! "$venv/bin/python" -c "import ziglang" 2>/dev/null \
   || [ "$("$venv/bin/python" -m ziglang version 2>/dev/null)" != "$zig_version" ] \
   || [ "$("$venv/bin/cargo-zigbuild" --version 2>/dev/null)" != "cargo-zigbuild $zigbuild_version" ]; then
  echo "== installing ziglang==$zig_version cargo-zigbuild==$zigbuild_version into $venv"
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "ziglang==$zig_version" "cargo-zigbuild==$zigbuild_version"
fi
zig_bin=$("$venv/bin/python" -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
ln -sf "$zig_bin" "$tools/bin/zig"
ln -sf "$venv/bin/cargo-zigbuild" "$tools/bin/cargo-zigbuild"
# Only zig and cargo-zigbuild go on PATH (not the venv's python).
export PATH="$tools/bin:$PATH"
export CARGO_ZIGBUILD_ZIG_PATH="$tools/bin/zig"

installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

cd "$root"
[ -x node_modules/.bin/napi ] || npm install --no-audit --no-fund   # as scripts/test.sh
napi=node_modules/.bin/napi
echo "== $($napi --version | head -1) / $(cargo --version) / zig $(zig version) / $(cargo-zigbuild --version)"

# --- builds ------------------------------------------------------------------
lock=()
[ -z "${BUILD_LOCK:-}" ] || lock=(flock "$BUILD_LOCK")
summary=()
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  platform=$(platform_of "$t")
  case "$t" in
    *-gnu) napi_target="$t.$glibc" ;;   # cargo-zigbuild: link against this glibc
    *) napi_target="$t" ;;
  esac
  dest=${out_dir:-$root/npm/$platform}
  mkdir -p "$dest"
  tmp="$work/$platform"
  mkdir -p "$tmp"
  echo "== $napi_target -> $dest"
  start=$(date +%s)
  "${lock[@]}" "$napi" build --platform "${profile[@]}" -x --target "$napi_target" \
    --output-dir "$tmp" --js index.js --dts index.d.ts --no-const-enum
  secs=$(( $(date +%s) - start ))
  shopt -s nullglob
  built=("$tmp"/*."$platform".node)
  shopt -u nullglob
  [ ${#built[@]} -eq 1 ] || { echo "expected one *.$platform.node in $tmp, found: $(ls "$tmp")" >&2; exit 1; }
  name=$(basename "${built[0]}")
  cp "${built[0]}" "$dest/$name"
  if [ -n "$host" ]; then
    cp "${built[0]}" "$root/$name"
    cp "$tmp/index.js" "$tmp/index.d.ts" "$root/"
  fi
  if [ -z "$out_dir" ] && [ ! -f "$dest/package.json" ]; then
    echo "note: $dest has no package.json: add $t to napi.targets in package.json and run 'npx napi create-npm-dirs' to publish it"
  fi
  summary+=("$(printf '%-28s %5ss %9s bytes  %s' "$t" "$secs" "$(stat -c %s "$dest/$name")" "$dest/$name")")
done
echo "== built"
printf '%s\n' "${summary[@]}"
