#!/usr/bin/env bash
# A release rehearsal: what `npm install immukv` gives a user, proven here.
# Packs the main package and this machine's platform package as `npm publish`
# would (scripts/pack-release.mjs), installs them into an empty project with no
# Rust toolchain on PATH, and uses the package from CommonJS, from ESM, from TypeScript (--strict,
# moduleResolution node16 and bundler), through its CLI, and bundled by
# esbuild with the documented one-line fix; each against the local SeaweedFS.
#   scripts/rehearse-release.sh        (after npm run build, or .ci/run's build)
# The platform package must hold a built module: npm/linux-x64-gnu/*.node, or
# the repo root's immukv.linux-x64-gnu.node is copied there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
platform=linux-x64-gnu
pkgdir="$root/npm/$platform"
endpoint=http://127.0.0.1:19026
cd "$root"

[ -f dist/index.js ] || { echo "dist/ is not built: npm run build" >&2; exit 1; }
if ! ls "$pkgdir"/*.node >/dev/null 2>&1; then
  cp "immukv.$platform.node" "$pkgdir/"
fi
bash scripts/check-binary.sh "$pkgdir"/*.node

work=$(mktemp -d /tmp/immukv-rehearsal.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "== npm pack (the main package with the optionalDependencies napi prepublish gives it, and $platform)"
mapfile -t tarballs < <(node "$root/scripts/pack-release.mjs" "$work" "$platform")
main_tgz=$(basename "${tarballs[0]}")
plat_tgz=$(basename "${tarballs[1]}")
for t in "$work"/*.tgz; do echo "   $(stat -c %s "$t") bytes  $(basename "$t")"; done
echo "   main package files:"
tar -tzf "$work/$main_tgz" | sed 's/^/     /'
if tar -tzf "$work/$main_tgz" | grep -qE '\.node$|^package/(ts|src|core|__test__)/'; then
  echo "the main package ships sources or a binary" >&2; exit 1
fi

# No Rust toolchain for the user: cargo and rustc are not on PATH.
user_path=$(tr ':' '\n' <<<"$PATH" | grep -v -e cargo -e rustup | paste -sd: -)
if PATH=$user_path command -v cargo >/dev/null; then echo "cargo still on PATH" >&2; exit 1; fi
tsc="$root/node_modules/typescript/bin/tsc"
esbuild="$root/node_modules/.bin/esbuild"

app="$work/app"
mkdir -p "$app"
cd "$app"
plat_name=$(node -p "require('$pkgdir/package.json').name")
cat > package.json <<EOF
{"name": "rehearsal-app", "version": "0.0.0", "private": true,
 "overrides": {"$plat_name": "file:../$plat_tgz"}}
EOF
echo "== npm install ../$main_tgz (its platform package from ../$plat_tgz)"
PATH=$user_path npm install --silent --no-audit --no-fund "../$main_tgz"
[ -d "node_modules/$plat_name" ] || { echo "npm did not install $plat_name" >&2; exit 1; }

bucket="rehearsal-$(date +%s)"
bash "$root/scripts/s3.sh" bucket weed "$bucket" >/dev/null
export REHEARSAL_BUCKET=$bucket REHEARSAL_ENDPOINT=$endpoint
config='{ s3Bucket: process.env.REHEARSAL_BUCKET, s3Region: "us-east-1", s3Prefix: "", overrides: { endpointUrl: process.env.REHEARSAL_ENDPOINT, credentials: { accessKeyId: "adminkey", secretAccessKey: "adminsecret" } } }'

cat > cjs.cjs <<EOF
const { ImmuKVClient, KeyNotFoundError } = require('immukv')
;(async () => {
  const c = new ImmuKVClient($config)
  const e = await c.set('cjs', { from: 'require' })
  if ((await c.get('cjs')).hash !== e.hash) throw new Error('get')
  if (!(await c.verifyLog()).ok) throw new Error('verifyLog')
  await c.get('missing').catch((err) => { if (!(err instanceof KeyNotFoundError)) throw err })
  await c.close()
  console.log('   CommonJS: set/get/verifyLog ok')
})().catch((e) => { console.error(e); process.exit(1) })
EOF
cat > esm.mjs <<EOF
import { ImmuKVClient } from 'immukv'
const c = new ImmuKVClient($config)
const e = await c.set('esm', { from: 'import' })
if ((await c.get('esm', { verify: true })).hash !== e.hash) throw new Error('get')
if (!(await c.verifyLog()).ok) throw new Error('verifyLog')
await c.close()
console.log('   ESM: set/get/verifyLog ok')
EOF
cat > consumer.ts <<'EOF'
import { ImmuKVClient, ImmuKVError, type Entry } from 'immukv'
const c = ImmuKVClient.inMemory<string, { n: number }>('rehearsal')
async function main(): Promise<void> {
  const e: Entry<string, { n: number }> = await c.set('k', { n: 1 })
  const n: number = (await c.get('k')).value.n
  try {
    await c.get('nope')
  } catch (err) {
    if (!(err instanceof ImmuKVError) || err.code !== 'KEY_NOT_FOUND') throw err
  }
  console.log(`   TypeScript: ${e.sequence} ${n}`)
}
void main()
EOF
echo "== run as a user would (no Rust on PATH)"
PATH=$user_path node cjs.cjs
PATH=$user_path node esm.mjs
for res in node16 bundler; do
  module=$([ $res = node16 ] && echo node16 || echo esnext)
  PATH=$user_path node "$tsc" --strict --noEmit --skipLibCheck false --module "$module" --moduleResolution "$res" \
    --target ES2022 --types node --typeRoots "$root/node_modules/@types" consumer.ts
  echo "   TypeScript --strict, moduleResolution $res: compiles"
done
PATH=$user_path node "$tsc" --strict --module node16 --moduleResolution node16 --target ES2022 \
  --types node --typeRoots "$root/node_modules/@types" --outDir out consumer.ts
PATH=$user_path node out/consumer.js

echo "== the CLI (npx immukv)"
PATH=$user_path npx --no-install immukv --version
PATH=$user_path AWS_ACCESS_KEY_ID=adminkey AWS_SECRET_ACCESS_KEY=adminsecret AWS_REGION=us-east-1 \
  AWS_ENDPOINT_URL=$endpoint IMMUKV_BUCKET=$bucket npx --no-install immukv verify
echo "== esbuild, with the package kept external (README: Bundlers)"
cp esm.mjs app.mjs
"$esbuild" app.mjs --bundle --platform=node --format=esm --external:immukv --outfile=bundle.mjs --log-level=warning
PATH=$user_path node bundle.mjs
echo "rehearsal passed"
