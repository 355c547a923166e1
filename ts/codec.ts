// Values between the caller's types and JSON text. JSON.stringify would
// silently change some values (NaN becomes null, a function vanishes); they
// are refused instead. What JSON.stringify cannot tell (lone surrogates,
// depth, size) the Rust core refuses, with the same INVALID_VALUE code.

import { types } from 'node:util'
import { ImmuKVError, immukvError } from './errors'

/** Any value JSON can carry. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue }

export type Decoder<V> = (json: JSONValue) => V
export type Encoder<V> = (value: V) => JSONValue

function invalid(message: string, cause?: unknown): ImmuKVError {
  return immukvError({ code: 'INVALID_VALUE', message }, cause === undefined ? undefined : { cause })
}

/**
 * What an object JSON.stringify would silently change is, or undefined: a
 * Map or Set (written `{}`), a boxed NaN or Infinity (written `null`), a
 * boxed symbol. Called only on objects that are not plain objects or arrays.
 * util.types: also true of objects from another realm.
 */
function changedObject(x: object): string | undefined {
  if (types.isMap(x) || types.isWeakMap(x)) return 'a Map: JSON would store {} (convert it, e.g. with Object.fromEntries)'
  if (types.isSet(x) || types.isWeakSet(x)) return 'a Set: JSON would store {} (convert it to an array)'
  if (types.isNumberObject(x) && !Number.isFinite(x.valueOf())) return `${x.valueOf()} (a Number object): JSON cannot carry NaN or Infinity`
  if (types.isSymbolObject(x)) return 'a Symbol object: JSON cannot carry it'
  return undefined
}

/** changedObject, past the common case of a plain object (one prototype comparison). */
function changed(x: object): string | undefined {
  const proto = Object.getPrototypeOf(x)
  return proto === Object.prototype || proto === null ? undefined : changedObject(x)
}

/**
 * Where in `root` the first thing JSON cannot carry is, as a message (the
 * slow path, once `scan` found something). Iterative: no depth can overflow
 * the stack here.
 */
function problem(root: unknown): string | undefined {
  const seen = new Set<object>()
  const stack: Array<[unknown, string]> = [[root, 'value']]
  while (stack.length > 0) {
    const [x, where] = stack.pop() as [unknown, string]
    switch (typeof x) {
      case 'number':
        if (!Number.isFinite(x)) return `${where} is ${x}: JSON cannot carry NaN or Infinity`
        break
      case 'bigint':
        return `${where} is a BigInt: JSON cannot carry it (encode it as a string)`
      case 'function':
      case 'symbol':
        return `${where} is a ${typeof x}: JSON cannot carry it`
      case 'undefined': // only array elements are pushed undefined
        return `${where} is undefined: JSON would store null (use null)`
      case 'object': {
        if (x === null || seen.has(x)) break
        seen.add(x)
        if (Array.isArray(x)) {
          for (let i = x.length - 1; i >= 0; i--) {
            if (!(i in x)) return `${where}[${i}] is a hole (a sparse array): JSON would store null`
            stack.push([x[i], `${where}[${i}]`])
          }
        } else {
          const odd = changedObject(x)
          if (odd !== undefined) return `${where} is ${odd}`
          const o = x as Record<string, unknown>
          const keys = Object.keys(o)
          for (let i = keys.length - 1; i >= 0; i--) {
            const v = o[keys[i]]
            if (v !== undefined) stack.push([v, `property ${JSON.stringify(keys[i])}`]) // undefined properties are dropped, as JSON does
          }
        }
        break
      }
    }
  }
  return undefined
}

/** JSON.stringify with a replacer: checks what toJSON methods return. */
function stringifyChecked(value: unknown): string | undefined {
  return JSON.stringify(value, function (this: unknown, k: string, x: unknown) {
    const inArray = Array.isArray(this)
    const where = k === '' ? 'value' : inArray ? `element ${k}` : `property ${JSON.stringify(k)}`
    switch (typeof x) {
      case 'undefined':
        // Dropped from an object, as documented; null in an array.
        if (inArray) throw invalid(`${where} is undefined: JSON would store null (use null)`)
        break
      case 'object': {
        const odd = x === null ? undefined : changed(x)
        if (odd !== undefined) throw invalid(`${where} is ${odd}`)
        break
      }
      case 'number':
        if (!Number.isFinite(x)) throw invalid(`${where} is ${x}: JSON cannot carry NaN or Infinity`)
        break
      case 'bigint':
        throw invalid(`${where} is a BigInt: JSON cannot carry it (encode it as a string)`)
      case 'function':
      case 'symbol':
        throw invalid(`${where} is a ${typeof x}: JSON cannot carry it`)
    }
    return x
  })
}

const BAD = 1
const CALLS_TO_JSON = 2

/**
 * A fast check of a value JSON.stringify has just written: BAD when it held
 * something JSON.stringify dropped or changed without a word (NaN, Infinity,
 * a function, a symbol, an undefined array element or hole, a Map, ...),
 * CALLS_TO_JSON when an object has a toJSON method
 * (what it returns must be checked instead), 0 when the text is faithful.
 * No paths and no bookkeeping: megabyte values are common; `problem` says
 * where, once something is wrong. Cycles cannot occur here: JSON.stringify
 * refused them already.
 */
function scan(root: object): number {
  const stack: object[] = [root]
  const check = (e: unknown): number => {
    switch (typeof e) {
      case 'object':
        if (e !== null) stack.push(e)
        return 0
      case 'number':
        return e - e === 0 ? 0 : BAD // NaN and ±Infinity
      case 'string':
      case 'boolean':
      case 'undefined':
        return 0
      default:
        return BAD
    }
  }
  while (stack.length > 0) {
    const x = stack.pop() as Record<string, unknown>
    if (typeof x.toJSON === 'function') return CALLS_TO_JSON
    if (Array.isArray(x)) {
      // undefined (or a hole) would be null; an undefined property is dropped, as documented.
      for (let i = 0; i < x.length; i++) {
        const e = x[i]
        if (e === undefined || check(e) !== 0) return BAD
      }
    } else {
      if (changed(x) !== undefined) return BAD
      const keys = Object.keys(x)
      for (let i = 0; i < keys.length; i++) if (check(x[keys[i]]) !== 0) return BAD
    }
  }
  return 0
}

/** JSON text of `encoder(value)`, refusing what JSON would silently change. */
export function encodeValue<V>(encoder: Encoder<V>, value: V): string {
  let encoded: unknown
  try {
    encoded = encoder(value)
  } catch (err) {
    throw invalid(`encoder failed: ${err instanceof Error ? err.message : String(err)}`, err)
  }
  if (encoded === undefined) throw invalid('value is undefined: JSON cannot carry it')
  try {
    const text = JSON.stringify(encoded) // refuses cycles and BigInt itself
    if (typeof encoded === 'number' && !Number.isFinite(encoded)) throw invalid(`value is ${encoded}: JSON cannot carry NaN or Infinity`)
    if (typeof encoded === 'function' || typeof encoded === 'symbol') throw invalid(`value is a ${typeof encoded}: JSON cannot carry it`)
    if (typeof encoded !== 'object' || encoded === null) return text
    const found = scan(encoded)
    if (found === BAD) throw invalid(String(problem(encoded)))
    if (found !== CALLS_TO_JSON) return text
    const checked = stringifyChecked(encoded)
    // A top-level toJSON returning undefined leaves nothing to store.
    if (checked === undefined) throw invalid('value is undefined (its toJSON returned undefined): JSON cannot carry it')
    return checked
  } catch (err) {
    if (err instanceof ImmuKVError) throw err
    const why = err instanceof RangeError ? 'it is nested too deeply' : err instanceof Error ? err.message : String(err)
    throw invalid(`value cannot be stored as JSON: ${why}`, err)
  }
}

const WORDS: ReadonlyArray<readonly [string, JSONValue]> = [
  ['true', true],
  ['false', false],
  ['null', null],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
]
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y

/** Defines `o[key] = v` as JSON.parse does: an own property, `__proto__` included. */
function define(o: Record<string, JSONValue>, key: string, v: JSONValue): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value: v, writable: true, enumerable: true, configurable: true })
  else o[key] = v
}

/**
 * JSON.parse, plus the tokens NaN, Infinity and -Infinity where a value goes:
 * the earlier Python client writes non-finite floats that way (Python's json
 * dialect), and readers here get them as the numbers NaN, Infinity and
 * -Infinity. Used only for values the core flagged as holding such tokens;
 * everything else goes through JSON.parse. Strings are read by JSON.parse and
 * numbers by Number, so each means what JSON.parse makes of it; members are
 * own properties (`__proto__` too) and a repeated name keeps its last value,
 * as with JSON.parse. Iterative: stored values may nest a thousand deep.
 */
export function parseNonFinite(text: string): JSONValue {
  let i = 0
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} in JSON at position ${i}`)
  }
  const ws = (): void => {
    for (let c = text.charCodeAt(i); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d; c = text.charCodeAt(++i));
  }
  const string = (): string => {
    const start = i++
    for (let c = text.charCodeAt(i); c !== 0x22; c = text.charCodeAt(i)) {
      if (Number.isNaN(c)) fail('Unterminated string')
      i += c === 0x5c ? 2 : 1
    }
    i++
    return JSON.parse(text.slice(start, i)) as string
  }
  const memberName = (): string => {
    ws()
    if (text.charCodeAt(i) !== 0x22) fail('Expected a member name')
    const name = string()
    ws()
    if (text[i++] !== ':') fail("Expected ':'")
    return name
  }
  const scalar = (): JSONValue => {
    if (text.charCodeAt(i) === 0x22) return string()
    for (const [word, v] of WORDS) {
      if (text.startsWith(word, i)) {
        i += word.length
        return v
      }
    }
    NUMBER.lastIndex = i
    const m = NUMBER.exec(text)
    if (m === null) return fail('Unexpected token')
    i += m[0].length
    return Number(m[0])
  }
  type Open = { array: JSONValue[]; object?: undefined } | { object: Record<string, JSONValue>; name: string; array?: undefined }
  const stack: Open[] = []
  for (;;) {
    ws()
    let value: JSONValue
    const c = text[i]
    if (c === '[' || c === '{') {
      i++
      ws()
      if (text[i] === (c === '[' ? ']' : '}')) {
        i++
        value = c === '[' ? [] : {}
      } else {
        stack.push(c === '[' ? { array: [] } : { object: {}, name: memberName() })
        continue
      }
    } else value = scalar()
    // A value is complete: place it, and close every container that ends here.
    for (;;) {
      const top = stack.at(-1)
      if (top === undefined) {
        ws()
        if (i !== text.length) fail('Unexpected text after the value')
        return value
      }
      if (top.array) top.array.push(value)
      else define(top.object, top.name, value)
      ws()
      const d = text[i++]
      if (d === ',') {
        if (top.object) top.name = memberName()
        break
      }
      if (d !== (top.array ? ']' : '}')) fail("Expected ',' or the end of a container")
      stack.pop()
      value = top.array ?? top.object
    }
  }
}

/**
 * A stored value as JavaScript holds it: JSON.parse, or parseNonFinite when
 * the core flagged the text as holding NaN or Infinity (written by the
 * earlier Python client).
 */
export function parseStored(json: string, nonFinite = false): JSONValue {
  return nonFinite ? parseNonFinite(json) : (JSON.parse(json) as JSONValue)
}

/** The caller's value from stored JSON text (`nonFinite`: see parseStored). */
export function decodeValue<V>(decoder: Decoder<V>, json: string, nonFinite = false): V {
  let parsed: JSONValue
  try {
    parsed = parseStored(json, nonFinite)
  } catch (err) {
    // The core checked the JSON; JavaScript may still fail to hold it (a RangeError).
    const why = err instanceof Error ? err.message : String(err)
    throw immukvError({ code: 'CORRUPT_ENTRY', message: `the stored value cannot be read by JavaScript: ${why}` }, { cause: err })
  }
  try {
    return decoder(parsed)
  } catch (err) {
    throw immukvError(
      { code: 'DECODER_ERROR', message: `the decoder failed on a stored value: ${err instanceof Error ? err.message : String(err)}` },
      { cause: err },
    )
  }
}

const NONFINITE = `\u0000immukv-nonfinite-${Math.random().toString(36).slice(2)}:`

/**
 * What JavaScript makes of a JSON value, as text that tells every value
 * apart (JSON.stringify alone writes Infinity, from a Python writer's
 * 10**400, as null).
 */
export function jsView(value: unknown): string | undefined {
  try {
    return JSON.stringify(value, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? NONFINITE + String(x) : x))
  } catch {
    return undefined
  }
}
