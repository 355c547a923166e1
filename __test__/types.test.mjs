// The published types (dist/*.d.ts, built from ts/ against the generated
// binding types) compile in a consumer project under tsc --strict, with every
// module resolution a TypeScript user may have, the README's quick start
// and Vitest example included; the classes are usable as types in each.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

const consumer = `
import { ImmuKVClient, ImmuKVError, KeyNotFoundError, ReadOnlyError, AbortedError, ERROR_CODES } from 'immukv'
import type { Config, Entry, JSONValue, Digest, VerifyReport, ErrorCode, Stats, VerifyProgress } from 'immukv'

const config: Config = { s3Bucket: 'b', s3Prefix: '', overrides: { credentials: async () => ({ accessKeyId: 'a', secretAccessKey: 's', expiration: new Date() }) } }
const plain = new ImmuKVClient(config)
type Key = 'a' | 'b'
const typed = new ImmuKVClient<Key, { n: number }>(config, (j) => ({ n: Number((j as { n: JSONValue }).n) }), (v) => ({ n: v.n }))
const memory = ImmuKVClient.inMemory<string, JSONValue>('tests', { s3Prefix: 'x/' })

async function use(): Promise<void> {
  const ac = new AbortController()
  const e: Entry<string, JSONValue> = await plain.set('k', { x: [1, 'y', null] }, { signal: ac.signal })
  const t: Entry<Key, { n: number }> = await typed.get('a', { verify: true })
  const n: number = t.value.n
  const [entries, cursor]: [Entry<Key, { n: number }>[], string | undefined] = await typed.history('b', undefined, 10, { signal: ac.signal })
  const log: Entry<Key, { n: number }>[] = await typed.logEntries(cursor, 5)
  const keys: Key[] = await typed.listKeys('a', 10)
  const pk: Key[] = await typed.listKeysWithPrefix('a')
  const ok: boolean = typed.verify(t)
  const chain: boolean = await plain.verifyLogChain(10)
  const d: Digest | undefined = await plain.digest()
  const r: VerifyReport = await plain.verifyLog({ limit: 5, trusted: d, checkKeyObjects: false, onProgress: (p: VerifyProgress) => void p.done })
  const s: Stats = memory.stats()
  const other = plain.withCodec<'x', Date>((j) => new Date(String(j)), (v) => v.toISOString())
  const when: Date = (await other.get('x', { trusted: d })).value
  for await (const x of typed.entries(10)) { const q: number = x.sequence; void q }
  try { await plain.get('zz') } catch (err) {
    if (err instanceof KeyNotFoundError) { const c: 'KEY_NOT_FOUND' = err.code; void c }
    if (err instanceof ReadOnlyError) { const c: 'READ_ONLY' = err.code; void c }
    if (err instanceof AbortedError) { const c: 'ABORTED' = err.code; void c }
    if (err instanceof ImmuKVError) { const c: ErrorCode = err.code; const m: boolean | undefined = err.mayHaveCommitted; void c; void m }
  }
  const codes: readonly ErrorCode[] = ERROR_CODES
  // @ts-expect-error keys are limited to the K type
  await typed.set('c', { n: 1 })
  // @ts-expect-error values must match V
  await typed.set('a', { n: 'one' })
  // @ts-expect-error verify is synchronous
  await typed.verify(t).then(() => 1)
  await plain.close()
  void [e, n, entries, log, keys, pk, ok, chain, r, s, when, codes]
}
void use

// The classes are types as well as values (ESM projects included).
let held: ImmuKVClient<Key, { n: number }> = typed
held = ImmuKVClient.inMemory<Key, { n: number }>()
const isMissing = (err: unknown): err is KeyNotFoundError => err instanceof KeyNotFoundError
function describe(err: ImmuKVError | ReadOnlyError | AbortedError): ErrorCode {
  return err.code
}
void [held, isMissing, describe]
`

const VARIANTS = [
  { name: 'commonjs, moduleResolution node', module: 'commonjs', moduleResolution: 'node', type: 'commonjs' },
  { name: 'node16, CommonJS project', module: 'node16', moduleResolution: 'node16', type: 'commonjs' },
  { name: 'node16, ESM project', module: 'node16', moduleResolution: 'node16', type: 'module' },
  { name: 'nodenext, ESM project', module: 'nodenext', moduleResolution: 'nodenext', type: 'module' },
  { name: 'bundler', module: 'esnext', moduleResolution: 'bundler', type: 'module' },
]

for (const v of VARIANTS) {
  test(`types compile under tsc --strict --isolatedModules (${v.name})`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'immukv-types-'))
    mkdirSync(join(dir, 'node_modules'))
    symlinkSync(root, join(dir, 'node_modules', 'immukv'), 'dir')
    // The README's Vitest example (vitest is ESM only): in ESM projects.
    const files = ['consumer.ts', 'quickstart.ts']
    if (v.type === 'module') {
      symlinkSync(join(root, 'node_modules', 'vitest'), join(dir, 'node_modules', 'vitest'), 'dir')
      copyFileSync(join(root, 'examples', 'vitest', 'audit.test.ts'), join(dir, 'audit.test.ts'))
      files.push('audit.test.ts')
    }
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: v.type }))
    writeFileSync(join(dir, 'consumer.ts'), consumer)
    copyFileSync(join(root, 'examples', 'quickstart.ts'), join(dir, 'quickstart.ts'))
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          isolatedModules: true,
          noEmit: true,
          target: 'ES2022',
          module: v.module,
          moduleResolution: v.moduleResolution,
          types: ['node'],
          typeRoots: [join(root, 'node_modules', '@types')],
          lib: ['ES2022', 'DOM'],
          skipLibCheck: false,
        },
        files,
      }),
    )
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
    let out = ''
    try {
      out = execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
    } catch (err) {
      out = `${err.stdout}${err.stderr}`
      assert.fail(`tsc failed:\n${out}`)
    }
    assert.equal(out.trim(), '')
  })
}
