#!/usr/bin/env node
// Packs the packages as the release workflow's `npm publish` makes them:
//   node scripts/pack-release.mjs DEST [PLATFORM...]
// The main package gets the optionalDependencies that `napi prepublish` (its
// prepublishOnly script) writes into package.json when publishing: one
// platform package per napi target, at the package's version (same function,
// @napi-rs/cli's readNapiConfig). The repo's package.json does not list them:
// they are not on the registry before a release, and `npm ci` in a clone
// would fail on them. Each PLATFORM (e.g. linux-x64-gnu) is packed from
// npm/PLATFORM, with its built module: the one there, else the repo root's
// (where `npm run build` puts this machine's), copied into a staged package.
// Prints the tarballs' paths, one a line, the main package first.
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readNapiConfig } from '@napi-rs/cli'

const root = fileURLToPath(new URL('..', import.meta.url))
const [dest, ...platforms] = process.argv.slice(2)
if (!dest) {
  console.error('usage: node scripts/pack-release.mjs DEST [PLATFORM...]')
  process.exit(64)
}
const out = resolve(dest)

/** `npm pack DIR` into `into`; the tarball's path. */
function pack(dir, into) {
  const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', into, dir], { encoding: 'utf8' }))
  return join(into, filename)
}

/** The optionalDependencies `napi prepublish` publishes the main package with. */
async function releaseOptionalDependencies() {
  const { packageJson, packageName, targets } = await readNapiConfig(join(root, 'package.json'))
  return {
    ...packageJson.optionalDependencies,
    ...Object.fromEntries(targets.map((t) => [`${packageName}-${t.platformArchABI}`, packageJson.version])),
  }
}

const staging = mkdtempSync(join(tmpdir(), 'immukv-pack-'))
try {
  execFileSync('tar', ['xzf', pack(root, staging), '-C', staging])
  const manifestPath = join(staging, 'package', 'package.json')
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'))
  manifest.optionalDependencies = await releaseOptionalDependencies()
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)
  const tarballs = [pack(join(staging, 'package'), out)]
  for (const platform of platforms) {
    const dir = join(root, 'npm', platform)
    if (!existsSync(join(dir, 'package.json'))) throw new Error(`no package npm/${platform}`)
    if (readdirSync(dir).some((f) => f.endsWith('.node'))) {
      tarballs.push(pack(dir, out))
      continue
    }
    const module = readdirSync(root).find((f) => f.endsWith(`.${platform}.node`))
    if (!module) throw new Error(`no built module for ${platform} in npm/${platform} or the repo root: build it first`)
    const staged = join(staging, platform)
    cpSync(dir, staged, { recursive: true })
    cpSync(join(root, module), join(staged, module))
    tarballs.push(pack(staged, out))
  }
  console.log(tarballs.join('\n'))
} finally {
  rmSync(staging, { recursive: true, force: true })
}
