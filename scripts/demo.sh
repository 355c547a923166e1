#!/usr/bin/env bash
# The README's quick start on S3 (examples/quickstart-s3.ts), compiled as a
# user's project would and run against a local SeaweedFS started here. (The
# in-memory quick start, examples/quickstart.ts, needs no server at all.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -x node_modules/.bin/napi ] || npm install --no-audit --no-fund
{ ls immukv.*.node && [ -f dist/index.js ]; } >/dev/null 2>&1 || npm run build
bash scripts/s3.sh start weed >&2
bash scripts/s3.sh bucket weed immukv-demo >/dev/null
demo="$root/.s3/demo"
mkdir -p "$demo/node_modules"
ln -sfn "$root" "$demo/node_modules/immukv"
cp examples/quickstart-s3.ts "$demo/quickstart-s3.ts"
node_modules/.bin/tsc --strict --isolatedModules --target ES2022 --module commonjs --moduleResolution node \
  --types node --typeRoots "$root/node_modules/@types" --outDir "$demo" "$demo/quickstart-s3.ts"
IMMUKV_BUCKET=immukv-demo IMMUKV_ENDPOINT=http://127.0.0.1:19026 node "$demo/quickstart-s3.js"
