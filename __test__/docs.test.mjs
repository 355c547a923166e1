// The docs say what the code does: the README's config defaults are the
// core's, its error codes and failure kinds are the ones the code has, and
// the TypeScript list of codes is the Rust core's.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { ERROR_CODES } from './support/helpers.mjs'

const require = createRequire(import.meta.url)
const native = require('../index.js') // the generated binding (not importable by users)
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

/** Rows of the markdown table that follows `heading`. */
function table(heading) {
  const start = readme.indexOf(heading)
  assert.ok(start >= 0, `README has ${heading}`)
  const rows = []
  for (const line of readme.slice(start).split('\n').slice(1)) {
    if (line.startsWith('|'))
      rows.push(
        line
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim()),
      )
    else if (rows.length) break
  }
  return rows.slice(2) // header and separator
}

test("the README's config defaults are the core's", () => {
  const documented = Object.fromEntries(table('### Config').map(([field, dflt]) => [field.replaceAll('`', ''), dflt]))
  const defaults = native.configDefaults()
  assert.ok(Object.keys(defaults).length >= 7)
  for (const [name, value] of Object.entries(defaults)) {
    assert.equal(documented[name], String(value), `README default of ${name}`)
  }
})

test("the README's error codes are every code, and the TypeScript list is the core's", () => {
  assert.deepEqual([...ERROR_CODES], native.errorCodes())
  const documented = table('### Errors').flatMap(([codes]) => codes.split(',').map((c) => c.trim().replaceAll('`', '')))
  assert.deepEqual([...documented].sort(), [...ERROR_CODES].sort())
})

test("the README's failure kinds are the ones verifyLog reports", () => {
  const documented = table('### Verification').flatMap(([kinds]) => kinds.split(',').map((k) => k.trim().replaceAll('`', '')))
  const kinds = readFileSync(new URL('../core/src/verify.rs', import.meta.url), 'utf8')
    .match(/FailureKind::\w+ => "([a-z_]+)",/g)
    .map((m) => m.replace(/.*=> "/, '').slice(0, -2))
  assert.deepEqual([...documented].sort(), [...kinds].sort())
})
