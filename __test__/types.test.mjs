// index.d.ts describes the real API and compiles in a consumer project under
// tsc --strict --isolatedModules (the README's quick start included).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

const consumer = `
import { ImmuKVClient, ImmuKVError, KeyNotFoundError, ReadOnlyError } from 'immukv'
import type { Config, Entry, JSONValue, Digest, VerifyReport, ErrorCode } from 'immukv'

const config: Config = { s3Bucket: 'b', s3Region: 'us-east-1', s3Prefix: '', overrides: { credentials: async () => ({ accessKeyId: 'a', secretAccessKey: 's', expiration: new Date() }) } }
const plain = new ImmuKVClient(config)
type Key = 'a' | 'b'
const typed = new ImmuKVClient<Key, { n: number }>(config, (j) => ({ n: Number((j as { n: JSONValue }).n) }), (v) => ({ n: v.n }))

async function use(): Promise<void> {
  const e: Entry<string, JSONValue> = await plain.set('k', { x: [1, 'y', null] })
  const t: Entry<Key, { n: number }> = await typed.get('a')
  const n: number = t.value.n
  const [entries, cursor]: [Entry<Key, { n: number }>[], string | undefined] = await typed.history('b', undefined, 10)
  const log: Entry<Key, { n: number }>[] = await typed.logEntries(cursor, 5)
  const keys: Key[] = await typed.listKeys('a', 10)
  const pk: Key[] = await typed.listKeysWithPrefix('a')
  const ok: boolean = await typed.verify(t)
  const chain: boolean = await plain.verifyLogChain(10)
  const d: Digest | undefined = await plain.digest()
  const r: VerifyReport = await plain.verifyLog({ limit: 5, trusted: d, checkKeyObjects: false })
  const other = plain.withCodec<'x', Date>((j) => new Date(String(j)), (v) => v.toISOString())
  const when: Date = (await other.get('x')).value
  for await (const x of typed.entries(10)) { const s: number = x.sequence; void s }
  try { await plain.get('zz') } catch (err) {
    if (err instanceof KeyNotFoundError) { const c: 'KEY_NOT_FOUND' = err.code; void c }
    if (err instanceof ReadOnlyError) { const c: 'READ_ONLY' = err.code; void c }
    if (err instanceof ImmuKVError) { const c: ErrorCode = err.code; const m: boolean | undefined = err.mayHaveCommitted; void c; void m }
  }
  // @ts-expect-error keys are limited to the K type
  await typed.set('c', { n: 1 })
  // @ts-expect-error values must match V
  await typed.set('a', { n: 'one' })
  await plain.close()
  void [e, n, entries, log, keys, pk, ok, chain, r, when]
}
void use
`

test('index.d.ts compiles under tsc --strict --isolatedModules in a consumer project', () => {
  const dir = mkdtempSync(join(tmpdir(), 'immukv-types-'))
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(root, join(dir, 'node_modules', 'immukv'), 'dir')
  writeFileSync(join(dir, 'consumer.ts'), consumer)
  copyFileSync(join(root, 'examples', 'quickstart.ts'), join(dir, 'quickstart.ts'))
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, isolatedModules: true, noEmit: true, target: 'ES2022', module: 'commonjs', moduleResolution: 'node', types: [], lib: ['ES2022'], skipLibCheck: false, noUnusedLocals: false },
      files: ['consumer.ts', 'quickstart.ts', 'globals.d.ts'],
    }),
  )
  // The quick start uses console and process; declare them instead of pulling in @types/node.
  writeFileSync(join(dir, 'globals.d.ts'), 'declare const console: { log(...a: unknown[]): void; error(...a: unknown[]): void }\ndeclare const process: { env: Record<string, string | undefined>; exit(code?: number): never }\n')
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
