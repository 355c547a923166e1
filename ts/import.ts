// Bulk import from a JSON Lines file, resumable: what `immukv import` runs.
// One line is one entry, {"key": K, "value": V}, written in file order through
// one client's pipeline (ImmuKVClient.setMany). Progress is kept in a state
// file beside the input; after an interruption the same command reads it,
// then the log entries written since it was last saved, and goes on after
// the last line that is in the log: nothing is written twice.

import { createHash } from 'node:crypto'
import { createReadStream, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Entry, ImmuKVClient } from './client'
import type { JSONValue } from './codec'
import { immukvError } from './errors'

/** What the state file holds. */
export interface ImportState {
  format: 'immukv-import-1'
  /** The input's size and SHA-256: a state belongs to one version of one file. */
  size: number
  sha256: string
  /** The store it was imported into, as s3://bucket/prefix. */
  store: string
  /** Lines known to be in the log, from the first (0-based count). */
  lines: number
  /**
   * Lines after those known to be in the log too: after a failed set, the
   * sets already sent behind it may have committed.
   */
  done: number[]
  /**
   * The newest log entry known to hold a line of the unbroken run from the
   * first (the log head when none was written yet): every line not known to
   * be in the log is sent after it, so its entry, if any, is newer.
   */
  last: { sequence: number; versionId: string } | null
  /**
   * Sequences of entries newer than `last` that hold lines known to be in
   * the log (those after a failed line): a resumed import passes over them.
   */
  skip?: number[]
  complete: boolean
}

/** Marks line `n` as in the log: the count from the first grows past it, or it waits in `done`. */
export function markDone(state: ImportState, n: number): void {
  if (n < state.lines || state.done.includes(n)) return
  state.done.push(n)
  state.done.sort((a, b) => a - b)
  while (state.done[0] === state.lines) {
    state.done.shift()
    state.lines += 1
  }
}

/**
 * Line `n` is in the log, in entry `e`. `last` moves only to a line of the
 * unbroken run from the first: a failed line before `n` may be in the log
 * below `e` (its set said mayHaveCommitted), and a resumed import must still
 * find it there; `e` itself is then remembered, to be passed over.
 */
export function noteLine(state: ImportState, n: number, e: { sequence: number; versionId: string }): void {
  markDone(state, n)
  if (n < state.lines) {
    if (state.last === null || e.sequence > state.last.sequence) state.last = { sequence: e.sequence, versionId: e.versionId }
    const last = state.last.sequence
    state.skip = (state.skip ?? []).filter((s) => s > last)
  } else if (!(state.skip ?? []).includes(e.sequence)) {
    state.skip = [...(state.skip ?? []), e.sequence]
  }
}

/** The input, read once: its lines checked, counted and hashed before anything is sent. */
export interface ImportFile {
  path: string
  size: number
  sha256: string
  lines: number
}

/** A line that is not an entry: the import does not start. */
export class ImportFileError extends Error {}

function parseLine(text: string, n: number): [string, JSONValue] {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new ImportFileError(`line ${n}: not JSON (${(err as Error).message})`)
  }
  const d = doc as { key?: unknown; value?: unknown }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || typeof d.key !== 'string' || !('value' in d))
    throw new ImportFileError(`line ${n}: not an entry: each line is {"key": "...", "value": ...}`)
  return [d.key, d.value as JSONValue]
}

async function* lines(path: string): AsyncGenerator<string> {
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY })
  for await (const line of rl) if (line.trim() !== '') yield line
}

/** Reads the whole input once: every line must be an entry. */
export async function inspect(path: string): Promise<ImportFile> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  let n = 0
  for await (const line of lines(path)) parseLine(line, ++n)
  return { path, size, sha256: hash.digest('hex'), lines: n }
}

/** The entries of the input, from line `from` (0-based, blank lines not counted). */
export async function* entries(path: string, from: number): AsyncGenerator<[string, JSONValue]> {
  let n = 0
  for await (const line of lines(path)) {
    if (n >= from) yield parseLine(line, n + 1)
    n += 1
  }
}

export function readState(file: string): ImportState | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const s = JSON.parse(text) as ImportState
  if (s?.format !== 'immukv-import-1') throw new ImportFileError(`${file} is not an import state file`)
  return s
}

/** Written whole, then renamed over the old one: a crash leaves one or the other. */
export function writeState(file: string, state: ImportState): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2))
  renameSync(`${file}.tmp`, file)
}

/** A value's JSON with object members sorted: two values that mean the same give the same text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`
  return JSON.stringify(v)
}

/**
 * Finds the lines in the log that the state does not know of yet (written
 * after it was last saved: the process was killed, say). The entries
 * appended after `state.last` are read, oldest first; each one with the key
 * and value of a line not yet known to be in the log, among the next
 * `window` lines, is taken for that line (lines are sent in order, and only
 * the sets in flight behind a failed one can commit out of order). Entries of
 * other writers in between are passed over; one of another writer with
 * exactly the next lines' key and value would be taken for the import's.
 */
export async function catchUp(client: ImmuKVClient, path: string, state: ImportState, window: number, signal: AbortSignal): Promise<void> {
  const since: Entry[] = []
  const after = state.last?.sequence ?? -1
  const skip = new Set(state.skip ?? [])
  for await (const e of client.entries(1000, { signal })) {
    if (e.sequence <= after) break
    if (!skip.has(e.sequence)) since.push(e)
  }
  since.reverse()
  // The next lines not known to be in the log, read as the matching goes.
  const ahead: { n: number; key: string; value: string }[] = []
  const source = entries(path, state.lines)
  let n = state.lines
  const refill = async (): Promise<void> => {
    while (ahead.length < window) {
      const next = await source.next()
      if (next.done) return
      if (!state.done.includes(n)) ahead.push({ n, key: next.value[0], value: canonical(next.value[1]) })
      n += 1
    }
  }
  await refill()
  for (const e of since) {
    const value = canonical(e.value)
    const at = ahead.findIndex((l) => l.key === e.key && l.value === value)
    if (at < 0) continue
    noteLine(state, ahead[at].n, e)
    ahead.splice(at, 1)
    await refill()
  }
  await source.return(undefined)
}

/** The error of an input whose state file belongs to another file or store. */
export function stateMismatch(file: string, why: string): Error {
  return immukvError({
    code: 'INVALID_ARGUMENT',
    message: `${file} ${why}: it is the progress of another import. Remove it (or pass --state FILE) to import this file from its first line`,
  })
}
