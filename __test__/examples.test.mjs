// The README's testing and bundling recipes, run as a user's project would:
// the Jest and Vitest examples (examples/jest, examples/vitest) on the
// in-memory store, and an esbuild bundle with the package kept external.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = (p) => join(root, 'node_modules', p)

/**
 * A project that depends on immukv, installed as npm would: a copy of the
 * package's files in node_modules (a link would make test runners treat it
 * as the project's own source).
 */
function project(type = 'commonjs', { binary = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'immukv-example-'))
  const pkg = join(dir, 'node_modules', 'immukv')
  mkdirSync(pkg, { recursive: true })
  const binaries = binary ? readdirSync(root).filter((f) => f.endsWith('.node')) : []
  for (const f of ['package.json', 'index.js', 'index.d.ts', 'dist', ...binaries]) {
    cpSync(join(root, f), join(pkg, f), { recursive: true })
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'example', private: true, type }))
  return dir
}

function run(args, cwd) {
  try {
    return execFileSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true', NO_COLOR: '1' }, stdio: 'pipe' })
  } catch (err) {
    assert.fail(`${args.join(' ')} failed:\n${err.stdout}\n${err.stderr}`)
  }
}

test('the Jest example passes (jest 30, in-memory store)', () => {
  const dir = project()
  cpSync(join(root, 'examples', 'jest'), dir, { recursive: true })
  run([bin('jest/bin/jest.js'), '--rootDir', dir, '--ci'], dir)
})

test('the Vitest example passes (vitest 4, in-memory store)', () => {
  const dir = project('module')
  cpSync(join(root, 'examples', 'vitest'), dir, { recursive: true })
  const out = run([bin('vitest/vitest.mjs'), 'run', '--root', dir], dir)
  assert.match(out, /2 passed/)
})

test('esbuild: bundled with the package external (the one-line fix) the app runs', () => {
  const dir = project('module')
  writeFileSync(
    join(dir, 'app.mjs'),
    `import { ImmuKVClient } from 'immukv'
     const c = ImmuKVClient.inMemory()
     const e = await c.set('k', { bundled: true })
     console.log(JSON.stringify({ ok: (await c.get('k')).hash === e.hash && (await c.verifyLog()).ok }))`,
  )
  const esbuild = join(root, 'node_modules', 'esbuild', 'bin', 'esbuild')
  // Without the fix esbuild stops at the native module.
  let failed = ''
  try {
    execFileSync(esbuild, ['app.mjs', '--bundle', '--platform=node', '--format=esm', '--outfile=plain.mjs'], { cwd: dir, stdio: 'pipe' })
  } catch (err) {
    failed = String(err.stderr)
  }
  assert.match(failed, /\.node/, 'esbuild cannot bundle the .node file by default')
  execFileSync(esbuild, ['app.mjs', '--bundle', '--platform=node', '--format=esm', '--external:immukv', '--outfile=bundle.mjs'], { cwd: dir, stdio: 'pipe' })
  const out = run(['bundle.mjs'], dir)
  assert.deepEqual(JSON.parse(out), { ok: true })
})

test('without its platform package, loading immukv says which package is missing and how to install it', () => {
  const dir = project('commonjs', { binary: false })
  const expected = `immukv-${process.platform}-${process.arch}${process.platform === 'linux' ? '-gnu' : ''}`
  const check = (message) => {
    assert.match(message, /no native binary for this platform/)
    assert.ok(message.includes(`npm install ${expected}`), message)
    assert.match(message, /--omit=optional/)
  }
  writeFileSync(join(dir, 'main.js'), "try { require('immukv') } catch (e) { console.log(JSON.stringify({ message: e.message, cause: !!e.cause })) }\n")
  const out = JSON.parse(run(['main.js'], dir))
  check(out.message)
  assert.equal(out.cause, true, 'the loader error is kept as cause')
  // ESM: the import fails the program with the same message.
  writeFileSync(join(dir, 'main.mjs'), "import { ImmuKVClient } from 'immukv'\nconsole.log(typeof ImmuKVClient)\n")
  const esm = spawnSync(process.execPath, ['main.mjs'], { cwd: dir, encoding: 'utf8' })
  assert.notEqual(esm.status, 0)
  check(esm.stderr)
})
