#!/usr/bin/env node
// immukv: the command-line tool. Reads, writes and audits an ImmuKV store on
// an S3 bucket; see docs/CLI.md. Built for people at a terminal (readable
// output, a progress bar) and for cron jobs and CI (--json, exit codes).

import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { addAbortSignal } from 'node:stream'
import { parseArgs } from 'node:util'
import { Format, type Options as BarOptions, type Params as BarParams, SingleBar } from 'cli-progress'
import type { JSONValue } from './codec'
import {
  AbortedError,
  type Config,
  type Digest,
  type Entry,
  ImmuKVClient,
  ImmuKVError,
  KeyNotFoundError,
  type ObjectLock,
  type PolicyDocument,
  type RetentionHorizon,
  type StoreCheck,
  type StoreFinding,
  type VerifyFailure,
  type VerifyReport,
} from './index'
import {
  type ImportFile,
  ImportFileError,
  type ImportState,
  catchUp,
  entries as importEntries,
  inspect,
  noteLine,
  readState,
  stateMismatch,
  writeState,
} from './import'
import { native } from './native'

/** Exit codes: the contract with scripts, documented in `help` and docs/CLI.md. */
const EXIT = {
  ok: 0,
  /** verify found the log tampered with (or, with --check-retention, versions not retained); doctor found something that blocks use. */
  tampered: 1,
  /** Could not read or write: storage, credentials, access, a corrupt entry. */
  failed: 2,
  /** Not found: the key (get, history), or any log under the prefix (verify, digest, log). */
  notFound: 3,
  /** verify could neither prove nor refute the trusted digest: its entry expired under the bucket's retention. */
  unproven: 4,
  /** The command line is wrong (EX_USAGE of sysexits.h). */
  usage: 64,
  /** Interrupted by Ctrl-C (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const

/** What each exit code means, for the help texts; a command may say it in its own words. */
const EXIT_MEANINGS: Record<number, string> = {
  [EXIT.ok]: 'success',
  [EXIT.failed]: 'could not read or write (storage, network, credentials, access denied, corrupt entry)',
  [EXIT.notFound]: 'not found: the key, or no log under the prefix',
  [EXIT.unproven]: 'verify: the trusted digest is older than the retention horizon (neither proven nor refuted)',
  [EXIT.usage]: 'usage error (unknown command or option, missing bucket or key, bad value)',
  [EXIT.interrupted]: 'interrupted (Ctrl-C)',
}

/** Library codes that mean the input was wrong, not the store: retrying cannot help. */
const INPUT_ERROR_CODES = new Set(['INVALID_CONFIG', 'INVALID_KEY', 'INVALID_VALUE', 'INVALID_ARGUMENT'])

// ---------------------------------------------------------------------------
// Options and commands: one table each, from which parsing and every help text
// are made. A new command is one entry in COMMANDS.

interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  /** The value's name in help texts: `--limit N`. */
  arg?: string
  /** Environment variables read when the flag is absent, in order. */
  env?: string[]
  help: string
}
type OptionSpecs = Record<string, OptionSpec>
type Values = Record<string, string | boolean | undefined>

/** Where the store is: every command takes these. */
const CONNECTION_OPTIONS: OptionSpecs = {
  bucket: { type: 'string', arg: 'NAME', env: ['IMMUKV_BUCKET'], help: 'the bucket (required)' },
  's3-prefix': { type: 'string', arg: 'P', env: ['IMMUKV_PREFIX'], help: 'the store\'s path prefix in the bucket (default "")' },
  region: { type: 'string', arg: 'R', env: ['AWS_REGION', 'AWS_DEFAULT_REGION'], help: "else the AWS profile's region" },
  endpoint: { type: 'string', arg: 'URL', env: ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'], help: 'an S3-compatible server' },
  profile: {
    type: 'string',
    arg: 'NAME',
    env: ['AWS_PROFILE'],
    help: "credentials come from AWS's default chain (environment, profile,\nweb identity, container, instance role); --profile uses that profile",
  },
}

/** How the command runs and prints: every command takes these. */
const OUTPUT_OPTIONS: OptionSpecs = {
  json: { type: 'boolean', help: 'one JSON document on stdout (errors too: {"error": {code, message}})' },
  timeout: {
    type: 'string',
    arg: 'MS',
    help: `the time one call may take, retries included (default ${defaultTimeoutMs()} ms;\nverify is not bounded: each of its requests has its own limit)`,
  },
  help: { type: 'boolean', short: 'h', help: 'this text' },
  version: { type: 'boolean', short: 'V', help: 'the version' },
}

const GLOBAL_OPTIONS: OptionSpecs = { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS }

/** A failure of the command itself, before or after the library: a code and an exit status of the CLI's own. */
class CliError extends Error {
  readonly code: string
  readonly exit: number
  constructor(message: string, code: string, exit: number) {
    super(message)
    this.code = code
    this.exit = exit
  }
}

/** The command line is wrong: exit 64. */
class UsageError extends CliError {
  constructor(message: string, code = 'USAGE') {
    super(message, code, EXIT.usage)
  }
}

/** What a command is handed. */
interface Context {
  args: string[]
  values: Values
  json: boolean
  client: ImmuKVClient
  /** Where the store is, and which flag or variable said so. */
  conn: Connection
  /** Fired by Ctrl-C: every command passes it to its calls. */
  signal: AbortSignal
}

interface Command {
  /** One line for the list of commands. */
  summary: string
  /** The positionals as the usage line shows them: `<key> [value]`. */
  args?: string
  /** Paragraphs of the command's own help. */
  description: string
  options: OptionSpecs
  /** Positional arguments: at least, at most. */
  arity: [number, number]
  /** Names of the positionals, for "missing <key>" messages. */
  argNames: string[]
  /** Exit codes the command uses, in its own words where they differ from EXIT_MEANINGS. */
  exits: Record<number, string | undefined>
  /**
   * Only `set` and `import` write; every other command opens the store read-only, but
   * `doctor`, whose PUT probe S3 must refuse (not with --read-only).
   */
  writes: boolean | ((values: Values) => boolean)
  run(ctx: Context): Promise<number>
}

/** --object-lock MODE:DAYS: the library's objectLock. */
const OBJECT_LOCK = (what: string): OptionSpec => ({ type: 'string', arg: 'MODE:DAYS', help: `COMPLIANCE:30 or GOVERNANCE:7: ${what}` })
const KMS_KEY_ID: OptionSpec = { type: 'string', arg: 'KEY', help: 'the KMS key writes use (SSE-KMS): id, ARN or alias' }
const READ_ONLY = (what: string): OptionSpec => ({ type: 'boolean', help: what })

const ALLOW_EMPTY: OptionSpec = { type: 'boolean', help: 'an empty store (no log under the prefix) is not an error: exit 0, not 3' }
const LIMIT = (what: string): OptionSpec => ({ type: 'string', arg: 'N', help: what })

const COMMANDS: Record<string, Command> = {
  get: {
    summary: 'the latest value of a key, or its value at a point of the log',
    args: '<key>',
    description:
      'Prints the latest entry of <key>: its value (JSON), sequence, time, log version and hash.\n' +
      'With --at-sequence or --at, the entry the key had at that point of the log instead.',
    options: {
      verify: { type: 'boolean', help: 'also prove the entry is in the log (one more read)' },
      'at-sequence': { type: 'string', arg: 'N', help: 'the entry the key had once the entry with sequence N was in the log' },
      at: {
        type: 'string',
        arg: 'TIME',
        help: "the key's newest entry stamped at or before TIME (ISO 8601, e.g. 2025-01-31T09:00:00Z;\nthe writers' clocks)",
      },
    },
    arity: [1, 1],
    argNames: ['key'],
    exits: { 0: undefined, 2: undefined, 3: 'the key is not in the store (had no entry yet at that point)' },
    writes: false,
    run: runGet,
  },
  set: {
    summary: 'store a JSON value',
    args: '<key> [value]',
    description:
      'Appends <key> = value to the log. The value is JSON, read from stdin when absent or "-".\nA value starting with "-" goes after "--": immukv set temperature -- -5',
    options: {
      string: { type: 'boolean', help: 'store the text as a JSON string (stdin: one trailing newline dropped)' },
      'object-lock': OBJECT_LOCK("retain the entry's versions (S3 Object Lock) in MODE for DAYS;\nthe bucket must have Object Lock"),
    },
    arity: [1, 2],
    argNames: ['key', 'value'],
    exits: { 0: undefined, 2: 'could not write; with --json, mayHaveCommitted says whether the entry may be in the log' },
    writes: true,
    run: runSet,
  },
  history: {
    summary: "a key's entries, newest first",
    args: '<key>',
    description:
      "Prints the key's entries, newest first, as they are read (page by page, each within --timeout).\nWith --limit, the way to the next page goes to stderr: next page: --before CURSOR.",
    options: { limit: LIMIT('at most N entries'), before: { type: 'string', arg: 'CURSOR', help: 'start after this cursor (printed as "next page")' } },
    arity: [1, 1],
    argNames: ['key'],
    exits: { 0: undefined, 2: undefined, 3: 'the key was never set' },
    writes: false,
    run: runHistory,
  },
  log: {
    summary: 'log entries of every key, newest first; --follow: new ones as they come',
    description:
      'Prints the log, newest first, as it is read (page by page, each within --timeout).\n' +
      'With --limit, the way to the next page goes to stderr: next page: --before VERSION_ID.\n' +
      'With --follow, prints the entries appended from now on (or from --from-sequence N), oldest\n' +
      'first, each verified against the one before it, as they arrive, until Ctrl-C; with --json one\n' +
      'JSON document a line.',
    options: {
      limit: LIMIT('at most N entries'),
      before: { type: 'string', arg: 'VERSION_ID', help: 'start before this log version (printed as "next page")' },
      'allow-empty': { ...ALLOW_EMPTY, help: 'an empty store (no log under the prefix) is not an error: exit 0 (--follow:\nwait for its first entry), not 3' },
      follow: { type: 'boolean', help: 'print new entries as they are appended, until Ctrl-C' },
      'from-sequence': { type: 'string', arg: 'N', help: '--follow from the entry with sequence N (to resume: the last one handled + 1)' },
      'poll-interval': { type: 'string', arg: 'MS', help: '--follow: milliseconds between two looks at the log (default 1000)' },
    },
    arity: [0, 0],
    argNames: [],
    exits: {
      0: undefined,
      1: '--follow: the chain is broken (CORRUPT_ENTRY): a version is not the entry that follows the one before',
      2: undefined,
      3: 'no log under the prefix (see --allow-empty)',
    },
    writes: false,
    run: runLog,
  },
  keys: {
    summary: 'keys in S3 order',
    description: 'Prints the keys, one a line, in S3 order (UTF-8 bytes), as they are listed.',
    options: {
      prefix: { type: 'string', arg: 'P', help: 'only keys starting with P' },
      after: { type: 'string', arg: 'KEY', help: 'start after this key (printed as "next page")' },
      limit: LIMIT('at most N keys'),
    },
    arity: [0, 0],
    argNames: [],
    exits: { 0: undefined, 2: undefined },
    writes: false,
    run: runKeys,
  },
  digest: {
    summary: 'the log head: save it, for verify --trusted',
    description:
      'Prints the log head {"sequence", "versionId", "hash"} as one line of JSON. Save it where the\nwriters cannot change it: verify --trusted proves later that the log still holds it, unchanged.',
    options: { 'allow-empty': { ...ALLOW_EMPTY, help: 'an empty store prints null and exits 0, not 3' } },
    arity: [0, 0],
    argNames: [],
    exits: { 0: undefined, 2: undefined, 3: 'no log under the prefix (see --allow-empty)' },
    writes: false,
    run: runDigest,
  },
  verify: {
    summary: 'check the log and the key objects',
    description: 'Checks the log (hashes, links, sequences, previous versions) and every key object against it.\nA progress bar shows on a terminal.',
    options: {
      trusted: {
        type: 'string',
        arg: 'FILE',
        help: 'a digest saved by "immukv digest" ("-": stdin): the log must still hold it,\nunchanged; a FILE holding null (an empty store\'s digest) trusts nothing yet',
      },
      'no-key-objects': { type: 'boolean', help: 'check the log only' },
      limit: LIMIT('check the newest N entries (back to the trusted digest when given)'),
      'allow-empty': ALLOW_EMPTY,
      'check-retention': {
        type: 'boolean',
        help: "also check each version's S3 Object Lock retention: none, over, or weaker or\nshorter than required is a failure, exit 1 (one more request per version)",
      },
      'object-lock': OBJECT_LOCK("the retention each version must have, from when it was written\n(default: the bucket's default rule)"),
    },
    arity: [0, 0],
    argNames: [],
    exits: {
      0: 'the log is intact',
      1: 'tampering found',
      2: undefined,
      3: 'no log under the prefix (see --allow-empty)',
      4: 'the trusted digest is older than the retention horizon: its entry expired, neither proven nor refuted',
    },
    writes: false,
    run: runVerify,
  },
  doctor: {
    summary: 'is this bucket fit for a store? each problem with its fix',
    description:
      'Checks the bucket and the credentials for use as a store: versioning, Object Lock, lifecycle\n' +
      'rules, default encryption, each permission the store needs, and the log under the prefix.\n' +
      'It changes nothing: it reads, and sends one PUT beside the store whose If-Match no object\n' +
      'meets, so that S3 refuses it (a 412 says the PUT is permitted; not with --read-only).',
    options: {
      'read-only': READ_ONLY('check what a reader needs (no PUT is sent)'),
      'object-lock': OBJECT_LOCK('the retention writers will ask for (the bucket must have Object Lock)'),
      'kms-key-id': KMS_KEY_ID,
    },
    arity: [0, 0],
    argNames: [],
    exits: {
      0: 'nothing blocks using the store',
      1: 'something blocks it (the BLOCKING lines say how to fix it)',
      2: 'could not look (network, credentials, not an S3 server)',
    },
    writes: (values) => values['read-only'] !== true,
    run: runDoctor,
  },
  policy: {
    summary: 'the least-privilege IAM policy for the bucket and prefix',
    description:
      'Prints the IAM policy document (JSON) for the bucket and prefix: exactly the actions this\n' + 'client sends, and no Delete action. Makes no request.',
    options: {
      'read-only': READ_ONLY('the policy of a reader: no PutObject'),
      'object-lock': OBJECT_LOCK('writers ask for retention (adds s3:PutObjectRetention)'),
      'kms-key-id': KMS_KEY_ID,
    },
    arity: [0, 0],
    argNames: [],
    exits: { 0: 'the policy was printed' },
    writes: false,
    run: runPolicy,
  },
}

COMMANDS.import = {
  summary: 'set every entry of a JSON Lines file, resumably',
  args: '<file>',
  description:
    'Sets each line of <file>, {"key": "...", "value": ...}, in file order, through one pipeline (every line\n' +
    'is checked before anything is sent). A progress bar shows on a terminal. Progress is kept in a state\n' +
    'file (<file>.immukv-import): after an interruption, the same command goes on after the lines already\n' +
    'in the log (it also reads the log entries written since the state was saved): no line is written twice.\n' +
    '--pipeline-depth N overlaps up to N log appends: only for a store no earlier ImmuKV client writes or\n' +
    'reads (README, "Pipelined writes").',
  options: {
    state: { type: 'string', arg: 'FILE', help: 'where progress is kept (default <file>.immukv-import)' },
    'pipeline-depth': { type: 'string', arg: 'N', help: 'log appends in flight before key objects are written, 1-64 (default 1)' },
  },
  arity: [1, 1],
  argNames: ['file'],
  exits: {
    0: 'every line is in the log',
    2: 'could not read or write: run the same command again to resume',
    64: 'a line is not an entry, or the state file is of another import',
    130: 'interrupted: run the same command again to resume',
  },
  writes: true,
  run: runImport,
}

/** `help` is a command too, but runs without a store. */
const HELP_COMMAND = { summary: "this text, or a command's: immukv help verify" }

/** Every option any command knows, for finding the command before its own options are known. */
function allOptions(): OptionSpecs {
  return Object.assign({}, GLOBAL_OPTIONS, ...Object.values(COMMANDS).map((c) => c.options))
}

/** parseArgs's view of a table: type and short name only. */
function parseSpecs(specs: OptionSpecs): Record<string, { type: 'string' | 'boolean'; short?: string }> {
  return Object.fromEntries(Object.entries(specs).map(([name, { type, short }]) => [name, short === undefined ? { type } : { type, short }]))
}

// ---------------------------------------------------------------------------
// Help texts, made from the tables

function flagText(name: string, o: OptionSpec): string {
  return `${o.short ? `-${o.short}, ` : ''}--${name}${o.arg ? ` ${o.arg}` : ''}`
}

/** The column where the help of options starts, the same in every section of a text. */
function helpColumn(...sections: OptionSpecs[]): number {
  return Math.max(...sections.flatMap((specs) => Object.entries(specs).map(([name, o]) => flagText(name, o).length))) + 2
}

function optionLines(specs: OptionSpecs, column: number): string[] {
  return Object.entries(specs).flatMap(([name, o]) => {
    const help = o.env ? `${o.env.join(', ')}: ${o.help}` : o.help
    return help.split('\n').map((line, i) => `  ${(i === 0 ? flagText(name, o) : '').padEnd(column)}${line}`)
  })
}

function exitLines(exits: Record<number, string | undefined>): string[] {
  const all: Record<number, string | undefined> = { ...exits, [EXIT.usage]: undefined, [EXIT.interrupted]: undefined }
  return Object.entries(all).map(([code, meaning]) => `  ${code.padEnd(4)} ${meaning ?? EXIT_MEANINGS[Number(code)]}`)
}

function globalHelp(): string {
  const names = [...Object.keys(COMMANDS), 'help']
  const width = Math.max(...names.map((n) => n.length)) + 3
  const summary = (n: string) => (n === 'help' ? HELP_COMMAND.summary : COMMANDS[n].summary)
  const column = helpColumn(CONNECTION_OPTIONS, OUTPUT_OPTIONS)
  return [
    'immukv: an immutable, tamper-evident key-value store on an S3 bucket',
    '',
    'Usage: immukv <command> [arguments] [options]',
    "       immukv <command> --help      the command's arguments and options",
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}${summary(n)}`),
    '',
    'Connection (each flag, else its environment variables):',
    ...optionLines(CONNECTION_OPTIONS, column),
    '',
    'Every command except "set" and "import" leaves the bucket as it is ("doctor" sends one PUT',
    'that S3 must refuse, to check the permission).',
    '',
    'Output:',
    ...optionLines(OUTPUT_OPTIONS, column),
    '',
    'Exit codes:',
    ...exitLines({
      [EXIT.ok]: 'success; for verify, the log is intact',
      [EXIT.tampered]: 'verify found tampering; doctor found something that blocks use',
      [EXIT.failed]: undefined,
      [EXIT.notFound]: undefined,
      [EXIT.unproven]: undefined,
    }),
    '',
  ].join('\n')
}

function commandHelp(name: string): string {
  const c = COMMANDS[name]
  const flags = Object.entries(c.options).map(([n, o]) => `[${flagText(n, o)}]`)
  const column = helpColumn(c.options, CONNECTION_OPTIONS, OUTPUT_OPTIONS)
  return [
    `Usage: immukv ${[name, c.args, ...flags].filter(Boolean).join(' ')} [options]`,
    '',
    c.description,
    ...(Object.keys(c.options).length > 0 ? ['', 'Options:', ...optionLines(c.options, column)] : []),
    '',
    'Connection (each flag, else its environment variables):',
    ...optionLines(CONNECTION_OPTIONS, column),
    '',
    'Output:',
    ...optionLines(OUTPUT_OPTIONS, column),
    '',
    'Exit codes:',
    ...exitLines(c.exits),
    '',
  ].join('\n')
}

// ---------------------------------------------------------------------------
// The command line

/**
 * A first, lenient pass: which command, and whether --json was asked for
 * (errors of the strict pass must already honour it). Never throws.
 */
function peekCommand(argv: string[]): { name?: string; json: boolean } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: parseSpecs(allOptions()), strict: false, allowPositionals: true })
    return { name: positionals[0], json: values.json === true }
  } catch {
    return { json: false }
  }
}

/** The strict pass: the command's own options and the global ones, nothing else. */
function parseCommandLine(argv: string[], name: string, command: Command): { args: string[]; values: Values } {
  try {
    const options = parseSpecs({ ...GLOBAL_OPTIONS, ...command.options })
    const { positionals, values } = parseArgs({ args: argv, options, strict: true, allowPositionals: true })
    return { args: positionals.slice(1), values } // [0] is the command
  } catch (err) {
    throw new UsageError(explainParseError(err as Error, name))
  }
}

function checkArity(args: string[], name: string, command: Command): void {
  const [min, max] = command.arity
  if (args.length < min) throw new UsageError(`${name}: missing <${command.argNames[args.length]}>`)
  if (args.length > max) throw new UsageError(`${name}: unexpected argument ${JSON.stringify(args[max])}`)
}

function explainParseError(err: Error, command: string): string {
  // parseArgs's messages end in advice about "--" meant for its own users; keep the first sentence.
  const message = err.message.split('. ')[0].replace(/\.$/, '')
  // --prefix is the key prefix of `keys`; the store's prefix has a name of its own.
  if (/'--prefix'/.test(message) && command !== 'keys') return `${command}: ${message} (the store's prefix in the bucket is --s3-prefix)`
  // `immukv set t -5`: a negative number reads as an option.
  if (/option '-[0-9.]/.test(message)) return `${command}: ${message} (a value starting with "-" goes after "--": immukv ${command} KEY -- -5)`
  return `${command}: ${message}`
}

/** A positive whole number: `--limit` (the core takes a u32), `--timeout`. */
function parseCount(flag: string, text: string | boolean | undefined, max: number, unit = ''): number | undefined {
  if (text === undefined) return undefined
  const n = typeof text === 'string' && /^[0-9]+$/.test(text) ? Number(text) : NaN
  if (!(n >= 1 && n <= max)) throw new UsageError(`--${flag} must be a whole number${unit} from 1, got ${JSON.stringify(text)}`)
  return n
}

/** A log sequence: a whole number from 0 (`--at-sequence`, `--from-sequence`). */
function parseSequence(flag: string, text: string | boolean | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = typeof text === 'string' && /^[0-9]+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${flag} must be a sequence, a whole number from 0, got ${JSON.stringify(text)}`)
  return n
}

/** An ISO 8601 time: a date (its midnight, UTC), or a date and time (without an offset, local time). */
function parseTime(flag: string, text: string | boolean | undefined): Date | undefined {
  if (text === undefined) return undefined
  const iso = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i
  const t = typeof text === 'string' && iso.test(text) ? new Date(text) : new Date(NaN)
  if (Number.isNaN(t.getTime()) || t.getTime() < 0)
    throw new UsageError(`--${flag} must be an ISO 8601 time from 1970 on, such as 2025-01-31T09:00:00Z, got ${JSON.stringify(text)}`)
  return t
}

function stringOption(values: Values, name: string): string | undefined {
  const v = values[name]
  return typeof v === 'string' ? v : undefined
}

// ---------------------------------------------------------------------------
// The connection

/** A connection setting and who gave it: its flag, one of its variables, or nobody. */
interface Setting {
  value?: string
  /** `--bucket` or `IMMUKV_BUCKET`; undefined when unset. */
  from?: string
}

/** Where the store is, and for messages, the name of each setting as the user knows it. */
interface Connection {
  bucket: string
  prefix: string
  settings: Record<keyof typeof CONNECTION_OPTIONS, Setting>
}

/**
 * A setting from its flag, then its variables. Empty values count as unset,
 * except for the prefix, whose empty value is a choice (the bucket's root).
 */
function setting(name: string, values: Values, env: NodeJS.ProcessEnv): Setting {
  const isSet = (v: string | undefined): v is string => v !== undefined && (v !== '' || name === 's3-prefix')
  const flag = stringOption(values, name)
  if (isSet(flag)) return { value: flag, from: `--${name}` }
  for (const variable of CONNECTION_OPTIONS[name].env ?? []) {
    const v = env[variable]
    if (isSet(v)) return { value: v, from: variable }
  }
  return {}
}

/**
 * The name of a setting in a message: its flag and the variable that gave
 * it, else its first one (`--endpoint / AWS_ENDPOINT_URL`).
 */
function settingName(conn: Connection | undefined, name: string): string {
  const from = conn?.settings[name]?.from
  const variable = from !== undefined && !from.startsWith('--') ? from : (CONNECTION_OPTIONS[name].env ?? [])[0]
  return `--${name} / ${variable}`
}

function connect(values: Values, env: NodeJS.ProcessEnv): Connection {
  const settings = Object.fromEntries(Object.keys(CONNECTION_OPTIONS).map((name) => [name, setting(name, values, env)]))
  const bucket = settings.bucket.value
  if (bucket === undefined) throw new UsageError('no bucket: pass --bucket NAME or set IMMUKV_BUCKET')
  return { bucket, prefix: settings['s3-prefix'].value ?? '', settings }
}

/** The client's config from the connection. */
function clientConfig(conn: Connection, values: Values, readOnly: boolean): Config {
  const config: Config = {
    s3Bucket: conn.bucket,
    // Undefined lets the core look further: AWS_REGION, AWS_DEFAULT_REGION, the profile.
    s3Region: conn.settings.region.value,
    s3Prefix: conn.prefix,
    readOnly,
  }
  const endpointUrl = conn.settings.endpoint.value
  if (endpointUrl !== undefined) config.overrides = { endpointUrl }
  const timeout = timeoutOption(values)
  if (timeout !== undefined) config.operationTimeoutMs = timeout
  const depth = parseCount('pipeline-depth', values['pipeline-depth'], 64)
  if (depth !== undefined) config.pipelineDepth = depth
  // Options of some commands only.
  const objectLock = objectLockOption(values)
  if (objectLock !== undefined) config.objectLock = objectLock
  const kmsKeyId = stringOption(values, 'kms-key-id')
  if (kmsKeyId !== undefined) config.kmsKeyId = kmsKeyId
  return config
}

/** --object-lock MODE:DAYS (COMPLIANCE:30); the core checks the days' range. */
function objectLockOption(values: Values): ObjectLock | undefined {
  const text = stringOption(values, 'object-lock')
  if (text === undefined) return undefined
  const m = /^(governance|compliance):([0-9]+)$/i.exec(text)
  if (m === null) throw new UsageError(`--object-lock must be MODE:DAYS, MODE being GOVERNANCE or COMPLIANCE (e.g. COMPLIANCE:30), got ${JSON.stringify(text)}`)
  return { mode: m[1].toUpperCase() as ObjectLock['mode'], days: Number(m[2]) }
}

/** --timeout MS: the budget of one call (the client's operationTimeoutMs). */
function timeoutOption(values: Values): number | undefined {
  return parseCount('timeout', values.timeout, Number.MAX_SAFE_INTEGER, ' of milliseconds')
}

/** The core's default budget of one call, which --timeout replaces. */
function defaultTimeoutMs(): number {
  return native.configDefaults().operationTimeoutMs
}

/** The store as s3://bucket/prefix. */
function storeUrl(conn: Connection): string {
  return `s3://${conn.bucket}/${conn.prefix}`
}

/**
 * --profile: the core's credential chain reads AWS_PROFILE when the client is
 * made. Keys in the environment come first in that chain, so they are set
 * aside: naming a profile on the command line means that profile, as it does
 * for the AWS CLI. A profile that is in neither file is said at once.
 */
function selectProfile(conn: Connection): void {
  const { value: profile, from } = conn.settings.profile
  if (profile === undefined || from !== '--profile') return
  if (!profileExists(profile)) throw new UsageError(missingProfile(conn), 'INVALID_CONFIG')
  process.env.AWS_PROFILE = profile
  delete process.env.AWS_ACCESS_KEY_ID
  delete process.env.AWS_SECRET_ACCESS_KEY
  delete process.env.AWS_SESSION_TOKEN
}

/** The shared config and credentials files, where the AWS SDK reads profiles. */
function profileFiles(): { config: string; credentials: string } {
  return {
    config: process.env.AWS_CONFIG_FILE || join(homedir(), '.aws', 'config'),
    credentials: process.env.AWS_SHARED_CREDENTIALS_FILE || join(homedir(), '.aws', 'credentials'),
  }
}

/** Whether a section names the profile: `[profile NAME]` (or `[default]`) in config, `[NAME]` in credentials. */
function profileExists(name: string): boolean {
  const files = profileFiles()
  const sections = (file: string): string[] => {
    try {
      return [...readFileSync(file, 'utf8').matchAll(/^[ \t]*\[([^\]\r\n]*)\][ \t]*\r?$/gm)].map((m) => m[1].trim().replace(/\s+/g, ' '))
    } catch {
      return []
    }
  }
  return sections(files.config).some((s) => s === `profile ${name}` || s === name) || sections(files.credentials).includes(name)
}

function missingProfile(conn: Connection): string {
  const { value, from } = conn.settings.profile
  const files = profileFiles()
  return `profile ${JSON.stringify(value)} (${from}) not found: it is in neither ${files.config} nor ${files.credentials}`
}

// ---------------------------------------------------------------------------
// Output
//
// stdout holds data, stderr messages. Once the reader of either has gone
// (`immukv verify | head -n 1`, `| true`), what would go there is dropped:
// the exit status is still the command's verdict (pipefail reads it).

const output = {
  stdoutClosed: false,
  stderrClosed: false,
  /** A write to stdout that failed for another reason than a reader gone (a full disk). */
  stdoutError: undefined as Error | undefined,
}

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  output.stdoutClosed = true
  if (err.code !== 'EPIPE') output.stdoutError = err
})
process.stderr.on('error', () => {
  output.stderrClosed = true
})

function writeOut(text: string): void {
  if (!output.stdoutClosed) process.stdout.write(text.endsWith('\n') ? text : text + '\n')
}

/** Text as it is, for a document written piece by piece. */
function writeRaw(text: string): void {
  if (!output.stdoutClosed) process.stdout.write(text)
}

function writeErr(text: string): void {
  if (!output.stderrClosed) process.stderr.write(text.endsWith('\n') ? text : text + '\n')
}

/** The one JSON document of --json. */
function writeJson(doc: unknown): void {
  writeOut(storedJson(doc, 2))
}

/**
 * JSON.stringify, except that the non-finite numbers the earlier Python
 * client stores (NaN, Infinity, -Infinity) are written as the bare tokens the
 * log holds, not as null, which would misstate the value. Such output is
 * what Python's json and jq parse; JSON.parse does not (docs/CLI.md).
 */
function storedJson(value: unknown, indent?: number): string {
  let found = false
  // A marker no value can hold by chance: a NUL and a fresh random tag.
  const mark = `\u0000immukv-${Math.random().toString(36).slice(2)}:`
  const text = JSON.stringify(
    value,
    (_key, v) => {
      if (typeof v !== 'number' || Number.isFinite(v)) return v
      found = true
      return mark + String(v)
    },
    indent,
  )
  if (!found) return text
  const quoted = JSON.stringify(mark)
    .slice(1, -1)
    .replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')
  return text.replace(new RegExp(`"${quoted}(NaN|-?Infinity)"`, 'g'), '$1')
}

/**
 * Characters that must not reach a terminal as they are: controls (C0, DEL,
 * C1: a CR rewrites the line, ESC starts a sequence), line and paragraph
 * separators, and bidirectional overrides (text that reads other than it is).
 */
const UNSAFE = /[\p{Cc}\p{Bidi_Control}\u2028\u2029]/gu
const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

function escapeChar(c: string): string {
  return SHORT_ESCAPES[c] ?? `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`
}

/**
 * A stored name (key, path, version id, hash) on one line of human output:
 * backslash escapes for unsafe characters, and for `\` itself, so that what
 * is shown reads back unambiguously (keys never hold either).
 */
function shown(name: string): string {
  return name.replace(/\\/g, '\\\\').replace(UNSAFE, escapeChar)
}

/** Prose (a failure's detail, an error message): unsafe characters escaped, the rest as it is. */
function safeText(text: string): string {
  return text.replace(UNSAFE, escapeChar)
}

/** JSON for a terminal: the same JSON value, with the unsafe characters JSON.stringify leaves raw escaped too. */
function safeJson(value: unknown): string {
  return storedJson(value).replace(UNSAFE, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`)
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString()
}

/** One entry on one line: sequence, time, key = value, version. */
function entryLine(e: Entry): string {
  return `#${e.sequence}  ${isoTime(e.timestampMs)}  ${shown(e.key)} = ${safeJson(e.value)}  version ${shown(e.versionId)}`
}

/** An entry as a labelled block, for `get`. */
function entryBlock(e: Entry): string[] {
  return [
    `key       ${shown(e.key)}`,
    `value     ${safeJson(e.value)}`,
    `sequence  ${e.sequence}`,
    `time      ${isoTime(e.timestampMs)}`,
    `version   ${shown(e.versionId)}`,
    `hash      ${shown(e.hash)}`,
  ]
}

/** A failure without a path is about a log version: its path is the log's, named so that one can look. */
function failureLine(f: VerifyFailure, logPath: string): string {
  const where = [`sequence ${f.sequence ?? '-'}`, `version ${f.versionId === undefined ? '-' : shown(f.versionId)}`, `path ${shown(f.path ?? logPath)}`]
  return `${f.kind}  ${where.join('  ')}  ${safeText(f.detail)}`
}

// ---------------------------------------------------------------------------
// Errors, in the CLI's words

/**
 * The library's messages name its options (`s3Region`,
 * `overrides.endpointUrl`) for programs that use it; a user of the CLI knows
 * its flags and variables. Each rule rewrites one phrase of a library
 * message, in order; the library's own text stays available with IMMUKV_LOG.
 */
const LIBRARY_TERMS: [RegExp, (conn: Connection | undefined, ...groups: string[]) => string][] = [
  [
    /set s3Region, or AWS_REGION \/ AWS_DEFAULT_REGION, or a region in the AWS profile \(AWS_PROFILE, else "default"\)/,
    () => 'pass --region R or set AWS_REGION (or AWS_DEFAULT_REGION), or give the AWS profile a region (--profile / AWS_PROFILE, else "default")',
  ],
  [/s3Region must be a non-empty region name, e\.g\. (\S+) .*$/, (c, example) => `${settingName(c, 'region')} must be a region name, e.g. ${example}`],
  [/\bs3Bucket\b/g, (c) => settingName(c, 'bucket')],
  [/\bs3Prefix\b/g, (c) => settingName(c, 's3-prefix')],
  [/\boverrides\.endpointUrl\b/g, (c) => settingName(c, 'endpoint')],
  // The credential chain's own report follows the core's sentence: the SDK's text, for IMMUKV_LOG.
  [/^[\s\S]*?(no AWS credentials found;)/, (_c, start) => start],
  [/Set one of these, or pass overrides\.credentials[\s\S]*$/, () => 'Set one of these, or name a profile with --profile NAME.'],
  [/\boverrides\.credentials\b/g, () => 'the credentials'],
  // "<call> did not finish within ...": the call by the command's name.
  [/^logEntries did not finish/, () => 'reading the log did not finish'],
  [/^listKeys did not finish/, () => 'listing keys did not finish'],
  [/^verified get did not finish/, () => 'get --verify did not finish'],
  [/within operationTimeoutMs \((\d+) ms\)/g, (_c, ms) => `within ${ms} ms (--timeout MS sets the limit)`],
  [/\boperationTimeoutMs\b/g, () => '--timeout'],
  [/\bbeforeVersionId\b/g, () => '--before'],
  [/\batSequence\b/g, () => '--at-sequence'],
  [/\bfromSequence\b/g, () => '--from-sequence'],
  [/^watch did not finish/, () => 'starting to follow the log did not finish'],
  [/the limit \(maxValueBytes\) is/g, () => 'the limit is'],
  [/ \(readOnly: true\)/g, () => ''],
  [/leave objectLock out of the config/g, () => 'leave out --object-lock'],
  [/set objectLock in the config/g, () => 'pass --object-lock MODE:DAYS'],
  [/verifyLog\(\{ checkRetention: true \}\)/g, () => 'immukv verify --check-retention'],
  [/\bobjectLock\b/g, () => '--object-lock'],
  [/\bkmsKeyId\b/g, () => '--kms-key-id'],
]

function inCliTerms(text: string, conn: Connection | undefined): string {
  return LIBRARY_TERMS.reduce(
    (t, [re, rewrite]) => t.replace(re, (_m, ...groups: unknown[]) => rewrite(conn, ...groups.filter((g) => typeof g === 'string'))),
    text,
  )
}

/** Where requests go, for "cannot reach ...": the endpoint given, else AWS's. */
function endpointName(conn: Connection | undefined): string {
  const endpoint = conn?.settings.endpoint.value
  if (endpoint !== undefined) return endpoint
  const region = conn?.settings.region.value
  return region === undefined ? 'AWS S3' : `AWS S3 (region ${region})`
}

/**
 * A request that never got an answer: the SDK says "dispatch failure" and
 * how the connection failed; the user needs to know which server it was.
 */
function connectionFailure(message: string, conn: Connection | undefined): string | undefined {
  const m = /^(\S+ s3:\/\/.*?) failed: dispatch failure: [\s\S]*?client error \((\w+)\): ([\s\S]*)$/.exec(message)
  if (m === null) return undefined
  const [, request, stage, why] = m
  const reason = why.replace(/^tcp connect error: /, '').replace(/ \(os error \d+\)$/, '')
  // "Connection refused" reads "connection refused" after a colon; "TLS ..." stays.
  const lower = /^[A-Z][a-z]/.test(reason) ? reason.charAt(0).toLowerCase() + reason.slice(1) : reason
  const what = stage === 'Connect' ? `cannot reach ${endpointName(conn)}` : `no answer from ${endpointName(conn)}`
  return `${what}: ${lower} (${request})`
}

interface Described {
  code: string
  message: string
  exit: number
  mayHaveCommitted?: boolean
  /** The library's own text and causes: shown with IMMUKV_LOG only. */
  debug: string[]
}

function describeError(err: unknown, conn: Connection | undefined): Described {
  if (err instanceof CliError) return { code: err.code, message: err.message, exit: err.exit, debug: [] }
  if (err instanceof ImmuKVError) {
    let exit: number = EXIT.failed
    if (err.code === 'KEY_NOT_FOUND') exit = EXIT.notFound
    else if (err.code === 'ABORTED') exit = EXIT.interrupted
    else if (INPUT_ERROR_CODES.has(err.code)) exit = EXIT.usage
    let message = connectionFailure(err.message, conn) ?? inCliTerms(err.message, conn)
    // AWS_PROFILE naming a profile that is nowhere: what the chain reports is beside the point.
    const profile = conn?.settings.profile
    const aboutProfile = err.code === 'CREDENTIALS_ERROR' || (err.code === 'INVALID_CONFIG' && /^no region/.test(err.message))
    if (aboutProfile && profile?.value !== undefined && !profileExists(profile.value)) message = missingProfile(conn!)
    // What is left of an SDK dump past the first line is for IMMUKV_LOG.
    message = message.split('\n')[0]
    if (err.code === 'NO_SUCH_BUCKET') message += ` (check ${settingName(conn, 'bucket')}, and the endpoint or region)`
    const debug = message === err.message ? [] : [`library: ${err.message}`]
    for (let cause = err.cause; cause instanceof Error; cause = cause.cause) if (!err.message.includes(cause.message)) debug.push(`cause: ${cause.message}`)
    return { code: err.code, message, exit, mayHaveCommitted: err.mayHaveCommitted, debug }
  }
  // A bug of this tool, not a verdict on the store.
  const message = err instanceof Error ? err.message : String(err)
  return { code: 'INTERNAL_ERROR', message, exit: EXIT.failed, debug: err instanceof Error && err.stack ? [err.stack] : [] }
}

/** "immukv: CODE: message" on stderr, and what follows it. */
function printError(d: Described, json: boolean): void {
  writeErr(`immukv: ${d.code}: ${safeText(d.message)}`)
  if (process.env.IMMUKV_LOG) for (const line of d.debug.flatMap((l) => l.split('\n'))) writeErr(`  ${safeText(line)}`)
  // A failed set may have committed all the same (the answer was lost): say so, the retry is the caller's call.
  if (d.mayHaveCommitted === true) writeErr('  the entry may be in the log all the same: look with "immukv get" before retrying')
  if (d.code === 'USAGE' && !json) writeErr('(immukv help lists the commands; immukv COMMAND --help, its options)')
}

/** The error document of --json. */
function errorDoc(d: Described): { code: string; message: string; mayHaveCommitted?: boolean } {
  return d.mayHaveCommitted === undefined ? { code: d.code, message: d.message } : { code: d.code, message: d.message, mayHaveCommitted: d.mayHaveCommitted }
}

/** How an error is shown: on stderr, and with --json also as the document on stdout. */
function reportError(err: unknown, json: boolean, conn?: Connection): number {
  const d = describeError(err, conn)
  printError(d, json)
  if (json) writeJson({ error: errorDoc(d) })
  return d.exit
}

/** verify, digest and log on a prefix that holds no log at all: a typo, until --allow-empty says otherwise. */
function noLog(conn: Connection): CliError {
  return new CliError(
    `no log under ${storeUrl(conn)} (bucket ${JSON.stringify(conn.bucket)}, prefix ${JSON.stringify(conn.prefix)}): ` +
      `nothing was ever written there, or the bucket or prefix is mistyped; --allow-empty accepts an empty store`,
    'LOG_NOT_FOUND',
    EXIT.notFound,
  )
}

// ---------------------------------------------------------------------------
// Input

/** The error of a command interrupted outside a library call (reading stdin). */
function interrupted(signal: AbortSignal, what: string, mayHaveCommitted?: boolean): AbortedError {
  return new AbortedError({ code: 'ABORTED', message: `interrupted while ${what}`, mayHaveCommitted }, { cause: signal.reason })
}

/** All of stdin, which must be UTF-8 (a value is JSON or text); Ctrl-C ends the wait. */
async function readStdin(signal: AbortSignal): Promise<Buffer[]> {
  if (process.stdin.isTTY) writeErr('immukv: reading from stdin; end with Ctrl-D')
  const chunks: Buffer[] = []
  // Destroys stdin on abort: the loop ends, and nothing keeps the process alive.
  addAbortSignal(signal, process.stdin)
  try {
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  } catch (err) {
    if (signal.aborted) throw interrupted(signal, 'reading stdin')
    throw err
  }
  return chunks
}

async function readStdinText(signal: AbortSignal): Promise<string> {
  const chunks = await readStdin(signal)
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
  } catch {
    throw new UsageError('stdin is not UTF-8 text')
  }
}

/** The value of `set`: JSON, or with --string the text itself. */
async function readValue(arg: string | undefined, asString: boolean, signal: AbortSignal): Promise<JSONValue> {
  const fromStdin = arg === undefined || arg === '-'
  let text = fromStdin ? await readStdinText(signal) : arg
  // `echo hello | immukv set k --string` means "hello": drop the one newline echo adds.
  if (fromStdin && asString) text = text.replace(/\r?\n$/, '')
  if (asString) return text
  try {
    return JSON.parse(text) as JSONValue
  } catch (err) {
    const where = fromStdin ? 'stdin' : 'the value'
    throw new UsageError(`${where} is not JSON (${(err as Error).message}); --string stores text as it is`, 'INVALID_VALUE')
  }
}

/**
 * A digest saved by `immukv digest`, from FILE or stdin ("-"); undefined
 * when it holds `null`, the digest of an empty log: nothing is trusted yet.
 */
async function readTrustedDigest(file: string, signal: AbortSignal): Promise<Digest | undefined> {
  let text: string
  try {
    text = file === '-' ? await readStdinText(signal) : readFileSync(file, 'utf8')
  } catch (err) {
    if (err instanceof CliError || err instanceof ImmuKVError) throw err
    throw new UsageError(`--trusted: cannot read ${file}: ${(err as Error).message}`)
  }
  let d: unknown
  try {
    d = JSON.parse(text)
  } catch {
    d = undefined
  }
  if (d === null) return undefined
  if (!isDigest(d))
    throw new UsageError(`--trusted: ${file === '-' ? 'stdin' : file} does not hold a digest {sequence, versionId, hash} as printed by "immukv digest"`)
  // Only the digest's fields: verifyLog is handed nothing else from the file.
  return { sequence: d.sequence, versionId: d.versionId, hash: d.hash }
}

function isDigest(d: unknown): d is Digest {
  if (typeof d !== 'object' || d === null) return false
  const { sequence, versionId, hash } = d as Record<string, unknown>
  return Number.isInteger(sequence) && typeof versionId === 'string' && typeof hash === 'string'
}

// ---------------------------------------------------------------------------
// The commands

async function runGet({ args, values, json, client, signal }: Context): Promise<number> {
  const verify = values.verify === true
  const atSequence = parseSequence('at-sequence', values['at-sequence'])
  const at = parseTime('at', values.at)
  if (atSequence !== undefined && at !== undefined) throw new UsageError('get: give --at-sequence or --at, not both')
  const entry = await client.get(args[0], { verify, signal, ...(atSequence !== undefined ? { atSequence } : {}), ...(at !== undefined ? { at } : {}) })
  // The point asked about, beside the entry that answers it.
  const point = atSequence !== undefined ? `sequence ${atSequence}` : at !== undefined ? isoTime(at.getTime()) : undefined
  if (json) writeJson(verify ? { ...entry, verified: true } : entry)
  else writeOut([...entryBlock(entry), ...(point ? [`as of     ${point}`] : []), ...(verify ? ['verified  in the log'] : [])].join('\n'))
  return EXIT.ok
}

async function runSet({ args, values, json, client, signal }: Context): Promise<number> {
  const value = await readValue(args[1], values.string === true, signal).catch((err: unknown) => {
    // Nothing was sent: say so, as a failed set does.
    throw err instanceof AbortedError ? interrupted(signal, 'reading the value', false) : err
  })
  const entry = await client.set(args[0], value, { signal })
  if (json) writeJson(entry)
  else writeOut(entryLine(entry))
  return EXIT.ok
}

async function runHistory(ctx: Context): Promise<number> {
  const { args, values, client, signal } = ctx
  const key = args[0]
  const before = stringOption(values, 'before')
  return streamListing(ctx, {
    field: 'entries',
    cursorField: 'nextCursor',
    flag: '--before',
    start: before,
    line: entryLine,
    async page(cursor, size) {
      const [entries, next] = await client.history(key, cursor, size, { signal })
      // No entries on the first page: the key was never set.
      if (entries.length === 0 && cursor === undefined) throw new KeyNotFoundError({ code: 'KEY_NOT_FOUND', message: `key ${JSON.stringify(key)} not found` })
      // Only an empty page ends a key's history: a short one may be followed by more.
      return { items: entries, next, end: entries.length === 0 }
    },
  })
}

async function runLog(ctx: Context): Promise<number> {
  const { values, client, conn, signal } = ctx
  if (values.follow === true) return runFollow(ctx)
  for (const flag of ['from-sequence', 'poll-interval']) if (values[flag] !== undefined) throw new UsageError(`log: --${flag} goes with --follow`)
  const before = stringOption(values, 'before')
  return streamListing(ctx, {
    field: 'entries',
    cursorField: 'nextBefore',
    flag: '--before',
    start: before,
    line: entryLine,
    async page(cursor, size) {
      const entries = await client.logEntries(cursor, size, { signal })
      if (entries.length === 0 && cursor === undefined && values['allow-empty'] !== true) throw noLog(conn)
      return { items: entries, next: entries.at(-1)?.versionId, end: entries.length < size }
    },
  })
}

/**
 * `log --follow`: the entries appended after the head (or from
 * --from-sequence), oldest first, each as it arrives, until Ctrl-C (exit
 * 130). With --json one document a line (errors too), so that a pipe can
 * read them as they come. A broken chain is tampering: exit 1.
 */
async function runFollow({ values, json, client, conn, signal }: Context): Promise<number> {
  for (const flag of ['limit', 'before'])
    if (values[flag] !== undefined) throw new UsageError(`log --follow: --${flag} is for the listing; --from-sequence N starts following at entry N`)
  const from = parseSequence('from-sequence', values['from-sequence'])
  const pollIntervalMs = parseCount('poll-interval', values['poll-interval'], 86_400_000, ' of milliseconds')
  // A prefix with no log is a typo until --allow-empty says it is a store not written yet.
  const head = await client.digest({ signal })
  if (head === undefined && values['allow-empty'] !== true) throw noLog(conn)
  const fromSequence = from ?? (head === undefined ? 0 : head.sequence + 1)
  if (process.stderr.isTTY && !json) writeErr(`following ${shown(storeUrl(conn))} from sequence ${fromSequence} (Ctrl-C stops)`)
  try {
    for await (const e of client.watch({ fromSequence, pollIntervalMs, signal })) {
      writeOut(json ? storedJson(e) : entryLine(e))
      // The reader has gone (| head -n 5): nothing failed.
      if (output.stdoutClosed) return EXIT.ok
    }
  } catch (err) {
    const d = describeError(err, conn)
    if (d.code === 'CORRUPT_ENTRY') d.exit = EXIT.tampered
    printError(d, json)
    if (json) writeOut(JSON.stringify({ error: errorDoc(d) }))
    return d.exit
  }
  return EXIT.ok
}

async function runKeys(ctx: Context): Promise<number> {
  const { values, client, signal } = ctx
  const prefix = stringOption(values, 'prefix') ?? ''
  return streamListing(ctx, {
    field: 'keys',
    cursorField: 'nextAfter',
    flag: '--after',
    start: stringOption(values, 'after'),
    line: shown,
    async page(cursor, size) {
      const keys = await client.listKeysWithPrefix(prefix, cursor, size, { signal })
      return { items: keys, next: keys.at(-1), end: keys.length < size }
    },
  })
}

/** How often the import saves its progress, at most. */
const SAVE_EVERY_MS = 1000

/** Sets in flight in an import: enough to keep a pipeline of depth 64 full. */
const IMPORT_IN_FLIGHT = 128

async function runImport({ args, values, json, client, conn, signal }: Context): Promise<number> {
  const path = args[0]
  const stateFile = stringOption(values, 'state') ?? `${path}.immukv-import`
  const file = await importFile(path)
  const store = storeUrl(conn)
  let state: ImportState | undefined
  try {
    state = readState(stateFile)
  } catch (err) {
    throw new UsageError(`--state: ${(err as Error).message}`)
  }
  if (state !== undefined) {
    if (state.size !== file.size || state.sha256 !== file.sha256)
      throw new UsageError(stateMismatch(stateFile, `was written for another version of ${path}`).message)
    if (state.store !== store) throw new UsageError(stateMismatch(stateFile, `belongs to an import into ${state.store}`).message)
  } else {
    // Saved before the first line is sent: a resumed import knows where the log stood.
    const head = await client.digest({ signal })
    state = {
      format: 'immukv-import-1',
      size: file.size,
      sha256: file.sha256,
      store,
      lines: 0,
      done: [],
      last: head ? { sequence: head.sequence, versionId: head.versionId } : null,
      complete: false,
    }
    writeState(stateFile, state)
  }
  const s = state
  const known = (): number => s.lines + s.done.length
  const before = known()
  if (!s.complete) {
    await catchUp(client, path, s, IMPORT_IN_FLIGHT + 1, signal)
    writeState(stateFile, s)
  }
  const found = known() - before
  const already = known()
  // The lines to send, with their numbers (setMany counts what it is given).
  const numbers: number[] = []
  async function* todo(): AsyncGenerator<[string, JSONValue]> {
    let n = s.lines
    for await (const item of importEntries(path, s.lines)) {
      if (!s.done.includes(n)) {
        numbers.push(n)
        yield item
      }
      n += 1
    }
  }
  const bar = process.stderr.isTTY && !json && !s.complete ? new ProgressBar() : undefined
  const progress = (): void => bar?.update({ phase: 'importing', done: known(), total: file.lines })
  let savedAt = Date.now()
  let written = 0
  let first: Entry | undefined
  let last: Entry | undefined
  progress()
  try {
    if (!s.complete) {
      await client.setMany(todo(), {
        signal,
        inFlight: IMPORT_IN_FLIGHT,
        onProgress: ({ index, entry }) => {
          noteLine(s, numbers[index], entry)
          written += 1
          first ??= entry
          last = entry
          if (Date.now() - savedAt >= SAVE_EVERY_MS) {
            writeState(stateFile, s)
            savedAt = Date.now()
          }
          progress()
        },
      })
      s.complete = s.lines === file.lines
    }
  } catch (err) {
    bar?.stop()
    writeState(stateFile, s)
    const hint = `${known()} of ${file.lines} lines are in the log; run the same command again to resume (progress in ${stateFile})`
    if (err instanceof ImmuKVError)
      throw new ImmuKVError({ code: err.code, message: `${err.message}. ${hint}`, mayHaveCommitted: err.mayHaveCommitted }, { cause: err })
    throw err
  } finally {
    bar?.stop()
  }
  writeState(stateFile, s)
  const at = (e: Entry | undefined) => (e ? { sequence: e.sequence, versionId: e.versionId } : null)
  if (json) writeJson({ file: path, lines: file.lines, written, alreadyInLog: already, foundSinceLastSave: found, first: at(first), last: at(last), stateFile })
  else {
    const range = first && last ? ` (sequences ${first.sequence}-${last.sequence})` : ''
    const earlier = already > 0 ? `; ${already} were in the log already${found > 0 ? ` (${found} found in the log since the last save)` : ''}` : ''
    writeOut(`imported ${written} of ${file.lines} lines from ${shown(path)}${range}${earlier}`)
  }
  return EXIT.ok
}

/** The input, checked whole before anything is sent. */
async function importFile(path: string): Promise<ImportFile> {
  try {
    return await inspect(path)
  } catch (err) {
    if (err instanceof ImportFileError) throw new UsageError(`${path}: ${err.message}`, 'INVALID_VALUE')
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`)
  }
}

async function runDigest({ values, json, client, conn, signal }: Context): Promise<number> {
  const digest = await client.digest({ signal })
  if (digest === undefined && values['allow-empty'] !== true) throw noLog(conn)
  // Human or not, the digest is JSON: it is meant to be saved and read back by verify --trusted.
  writeOut(json ? JSON.stringify(digest ?? null) : safeJson(digest ?? null))
  if (digest === undefined && !json) writeErr(`immukv: no log under ${shown(storeUrl(conn))} yet: there is no digest (--allow-empty)`)
  return EXIT.ok
}

async function runVerify({ values, json, client, conn, signal }: Context): Promise<number> {
  const limit = parseCount('limit', values.limit, 0xffffffff)
  const trustedFile = stringOption(values, 'trusted')
  const trusted = trustedFile === undefined ? undefined : await readTrustedDigest(trustedFile, signal)
  // A bar only for a person watching: not in pipes or CI logs, not mixed with JSON.
  const bar = process.stderr.isTTY && !json ? new ProgressBar() : undefined
  let report: VerifyReport
  try {
    report = await client.verifyLog({
      limit,
      trusted,
      checkKeyObjects: values['no-key-objects'] !== true,
      checkRetention: values['check-retention'] === true,
      onProgress: bar && ((p) => bar.update(p)),
      signal,
    })
  } finally {
    bar?.stop()
  }
  // Nothing here and nothing trusted: a mistyped bucket or prefix passes no audit. (With a trusted
  // digest the report already fails: the log it names is gone.)
  if (report.empty && report.failures.length === 0 && values['allow-empty'] !== true) throw noLog(conn)
  const failures = report.failures.map((f) => ({ ...f, detail: inCliTerms(f.detail, conn) }))
  // head is always there (null for an empty log): the next run's --trusted, saved with jq .head.
  if (json) writeJson({ ...report, failures, head: report.head ?? null })
  else writeOut(verdict({ ...report, failures }, conn).join('\n'))
  if (report.failures.length > 0) return EXIT.tampered
  // No failure, and still not ok: the trusted digest expired under the bucket's retention.
  return report.ok ? EXIT.ok : EXIT.unproven
}

/** The verdict line, then one line a failure, then where the verified range starts if not at the first entry. */
function verdict(report: VerifyReport, conn: Connection): string[] {
  const checked = `${report.checked} ${report.checked === 1 ? 'entry' : 'entries'} checked${report.horizon ? ` from sequence ${report.horizon.sequence}` : ''}`
  const where = shown(storeUrl(conn))
  const head = `head sequence ${report.head?.sequence ?? '-'}`
  const horizon = report.horizon ? [horizonLine(report.horizon)] : []
  if (report.failures.length === 0) {
    if (report.empty) return [`empty: no log under ${where} (accepted with --allow-empty)`]
    if (!report.ok)
      return [
        `UNPROVEN: the trusted digest is older than the retention horizon: its entry expired, so it can be neither proven nor refuted; ${checked}, ${head}`,
        ...horizon,
      ]
    return [`intact: ${checked}, ${head}`, ...horizon]
  }
  const n = report.failures.length
  const logPath = `${conn.prefix}_log.json`
  // Versions not retained as required are no tampering (yet): said apart.
  const headline = report.failures.every((f) => f.kind === 'retention') ? 'NOT RETAINED' : 'TAMPERED'
  return [
    `${headline}: ${n} ${n === 1 ? 'failure' : 'failures'}, ${checked}`,
    ...report.failures.map((f) => failureLine(f, logPath)),
    ...horizon,
    ...(report.empty ? [`no log under ${where} at all: it was deleted, or the bucket or prefix is mistyped`] : []),
  ]
}

/** The retention horizon: the oldest entry left, and (its detail) why the older ones are not tampering. */
function horizonLine(h: RetentionHorizon): string {
  return `horizon  sequence ${h.sequence}  version ${shown(h.versionId)}  ${safeText(h.detail)}`
}

async function runDoctor({ json, client, conn, signal }: Context): Promise<number> {
  const report = await client.checkStore({ signal })
  const findings = report.findings.map((f) => inTerms(f, conn))
  if (json) writeJson({ ...report, findings })
  else writeOut(doctorLines({ ...report, findings }, conn).join('\n'))
  return report.ok ? EXIT.ok : EXIT.tampered
}

/** A finding's words in the CLI's terms (--object-lock, immukv verify --check-retention). */
function inTerms(f: StoreFinding, conn: Connection): StoreFinding {
  const out = { ...f, summary: inCliTerms(f.summary, conn) }
  if (f.fix !== undefined) out.fix = inCliTerms(f.fix, conn)
  return out
}

/** The verdict line, then a line a finding (most serious first), each problem with its fix below it. */
function doctorLines(report: StoreCheck, conn: Connection): string[] {
  const count = (status: string): number => report.findings.filter((f) => f.status === status).length
  const others = ['warning', 'unknown']
    .map((s) => [count(s), s] as const)
    .filter(([n]) => n > 0)
    .map(([n, s]) => `${n} ${s}${n === 1 || s === 'unknown' ? '' : 's'}`)
  const where = shown(storeUrl(conn))
  const verdictLine = report.ok
    ? `${where}: usable, nothing blocks it${others.length > 0 ? ` (${others.join(', ')})` : ''}`
    : `${where}: NOT USABLE: ${count('blocking')} blocking${others.length > 0 ? `, ${others.join(', ')}` : ''}`
  const width = Math.max(...report.findings.map((f) => f.check.length))
  return [
    verdictLine,
    ...report.findings.flatMap((f) => {
      const status = ['blocking', 'warning'].includes(f.status) ? f.status.toUpperCase() : f.status
      const line = `${status.padEnd(8)}  ${f.check.padEnd(width)}  ${safeText(f.summary)}`
      return f.fix === undefined ? [line] : [line, `${''.padEnd(8 + 2 + width + 2)}fix: ${safeText(f.fix)}`]
    }),
  ]
}

async function runPolicy({ values, client }: Context): Promise<number> {
  const doc: PolicyDocument = client.policy({ readOnly: values['read-only'] === true })
  // JSON either way: it is meant for a file (aws iam create-policy --policy-document file://...).
  writeJson(doc)
  return EXIT.ok
}

// ---------------------------------------------------------------------------
// Listings, streamed

/** One page of a listing: its items, the cursor after them, and whether the listing ends there. */
interface Page<T> {
  items: T[]
  next?: string
  end: boolean
}

interface Listing<T> {
  /** The document's fields under --json: `{"entries": [...], "nextBefore": ...}`. */
  field: string
  cursorField: string
  /** How the next page is asked for: `--before`. */
  flag: string
  start?: string
  line(item: T): string
  page(cursor: string | undefined, size: number): Promise<Page<T>>
}

/** The first page is small, so that something shows at once; see PageSizer. */
const FIRST_PAGE = 50
const MIN_PAGE = 10
const MAX_PAGE = 1000

/**
 * Each page is one call, and a call must end within the operation budget.
 * A page costs about one round trip for its listing, then one per
 * `readConcurrency` entries read at once; from the round trip the last page
 * took, the next is sized to take half the budget at most (the other half for
 * a slower moment of the link), growing at most fourfold at a time, up to 1000.
 */
class PageSizer {
  size = FIRST_PAGE
  readonly #budgetMs: number
  readonly #concurrency: number
  constructor(budgetMs: number, concurrency: number) {
    this.#budgetMs = budgetMs
    this.#concurrency = concurrency
  }
  update(items: number, ms: number): void {
    const trips = 1 + Math.ceil(Math.max(items, 1) / this.#concurrency)
    const tripMs = Math.max(ms, 1) / trips
    const fits = (Math.floor(this.#budgetMs / 2 / tripMs) - 1) * this.#concurrency
    this.size = Math.max(MIN_PAGE, Math.min(fits, this.size * 4, MAX_PAGE))
  }
}

/**
 * Prints a listing page by page as it is read: lines for people, or under
 * --json one document written item by item (what JSON.stringify(doc, null, 2)
 * would print). `--limit N` stops after N items, with the way to the next
 * page. A failure after the first page still ends the document, with the
 * cursor to resume from and the error; a reader gone from stdout ends the
 * listing (exit 0: nothing failed).
 */
async function streamListing<T>(ctx: Context, listing: Listing<T>): Promise<number> {
  const { values, json, conn } = ctx
  const limit = parseCount('limit', values.limit, 0xffffffff)
  const sizer = new PageSizer(timeoutOption(values) ?? defaultTimeoutMs(), native.configDefaults().readConcurrency)
  let cursor = listing.start
  let count = 0
  let started = false
  const begin = (): void => {
    if (json && !started) writeRaw(`{\n  ${JSON.stringify(listing.field)}: [`)
    started = true
  }
  const finish = (next: string | undefined, error?: Described): void => {
    if (json) {
      const tail = `${count > 0 ? '\n  ' : ''}],\n  ${JSON.stringify(listing.cursorField)}: ${JSON.stringify(next ?? null)}`
      const err = error ? `,\n  "error": ${JSON.stringify(errorDoc(error), null, 2).replace(/\n/g, '\n  ')}` : ''
      writeRaw(`${tail}${err}\n}\n`)
    } else {
      if (count === 0) writeErr('(nothing)')
      if (next !== undefined) writeErr(`next page: ${listing.flag} ${shown(next)}`)
    }
  }
  for (;;) {
    const size = Math.min(sizer.size, limit === undefined ? MAX_PAGE : limit - count)
    const t0 = Date.now()
    let page: Page<T>
    try {
      page = await listing.page(cursor, size)
    } catch (err) {
      // Before anything was printed, an error is reported as any other.
      if (!started) throw err
      const d = describeError(err, conn)
      if (json) finish(cursor, d)
      printError(d, json)
      if (!json && cursor !== undefined) writeErr(`  resume with: ${listing.flag} ${shown(cursor)}`)
      return d.exit
    }
    sizer.update(page.items.length, Date.now() - t0)
    begin()
    if (json) {
      const items = page.items.map((item, i) => `${count + i > 0 ? ',' : ''}\n    ${storedJson(item, 2).replace(/\n/g, '\n    ')}`)
      writeRaw(items.join(''))
    } else if (page.items.length > 0) writeOut(page.items.map(listing.line).join('\n'))
    count += page.items.length
    if (output.stdoutClosed) return EXIT.ok
    if (page.items.length > 0) cursor = page.next
    // A page that names no next one ends the listing too: asking from the start again would never end.
    if (page.end || cursor === undefined) {
      finish(undefined)
      return EXIT.ok
    }
    if (limit !== undefined && count >= limit) {
      finish(cursor)
      return EXIT.ok
    }
  }
}

/**
 * Ctrl-C during a command aborts it (the in-flight requests are dropped; the
 * ABORTED error is reported) and it exits 130; a second Ctrl-C does not wait
 * for that.
 */
function abortOnInterrupt(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const onInterrupt = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted)
    controller.abort()
  }
  process.on('SIGINT', onInterrupt)
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onInterrupt) }
}

// ---------------------------------------------------------------------------
// The progress bar of verify

/** Progress on stderr (verify, import), one bar per phase (each has its own total, rate and ETA). */
class ProgressBar {
  readonly #bar = new SingleBar({
    stream: process.stderr,
    format: formatProgress,
    clearOnComplete: true,
    hideCursor: true,
    // Ctrl-C is handled by abortOnInterrupt: the aborted verify stops the bar in its finally.
    gracefulExit: false,
    etaBuffer: 50,
  })
  #phase: string | undefined
  #phaseStart = 0

  update(p: { phase: string; done: number; total?: number }): void {
    const payload = { phase: p.phase, knownTotal: p.total !== undefined, rate: this.#rate(p) }
    if (p.phase !== this.#phase) {
      if (this.#phase !== undefined) this.#bar.stop()
      this.#phase = p.phase
      this.#phaseStart = Date.now()
      this.#bar.start(p.total ?? 0, p.done, { ...payload, rate: 0 })
      return
    }
    if (p.total !== undefined && p.total !== this.#bar.getTotal()) this.#bar.setTotal(p.total)
    this.#bar.update(p.done, payload)
  }

  stop(): void {
    if (this.#phase !== undefined) this.#bar.stop()
    this.#phase = undefined
  }

  #rate(p: { done: number }): number {
    const seconds = (Date.now() - this.#phaseStart) / 1000
    return seconds > 0 ? p.done / seconds : 0
  }
}

interface ProgressPayload {
  phase: string
  knownTotal: boolean
  rate: number
}

/** The narrowest bar worth drawing. */
const MIN_BAR = 8

/**
 * "checking log [=====-----] 640/1000 | 212/s | ETA 2s", within the
 * terminal's width: on a narrow one the bar shrinks, then goes, then the
 * rate; the count and the ETA stay. A listing has no total yet.
 */
function formatProgress(options: BarOptions, params: BarParams, payload: ProgressPayload): string {
  // One column spare: a line as wide as the terminal wraps on some.
  const width = Math.max((process.stderr.columns || 80) - 1, 20)
  if (!payload.knownTotal) return `${payload.phase}... ${params.value > 0 ? `${params.value} so far` : ''}`.slice(0, width)
  const eta = typeof params.eta === 'number' && params.value > 0 ? Format.TimeFormat(params.eta, options, 5) : '?'
  // Padded, so that the bar keeps its width as the numbers grow.
  const count = `${String(params.value).padStart(String(params.total).length)}/${params.total}`
  const rate = `${String(Math.round(payload.rate)).padStart(4)}/s`
  for (const tail of [`${count} | ${rate} | ETA ${eta}`, `${count} | ETA ${eta}`]) {
    const room = width - payload.phase.length - tail.length - 4 // " [" and "] "
    if (room >= MIN_BAR)
      return `${payload.phase} [${Format.BarFormat(params.progress, { ...options, barsize: Math.min(room, options.barsize ?? 40) })}] ${tail}`
    if (payload.phase.length + 1 + tail.length <= width) return `${payload.phase} ${tail}`
  }
  const tail = `${count} ETA ${eta}`
  return `${payload.phase.slice(0, Math.max(width - tail.length - 1, 0))} ${tail}`.slice(-width)
}

// ---------------------------------------------------------------------------
// Main

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version
}

async function main(argv: string[]): Promise<number> {
  const peek = peekCommand(argv)
  try {
    return await dispatch(argv, peek.name)
  } catch (err) {
    return reportError(err, peek.json)
  }
}

async function dispatch(argv: string[], name: string | undefined): Promise<number> {
  if (name === undefined || name === 'help') return showHelpOrVersion(argv, name)
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`)
  const { args, values } = parseCommandLine(argv, name, command)
  if (values.help === true) {
    writeOut(commandHelp(name))
    return EXIT.ok
  }
  if (values.version === true) return showHelpOrVersion(['--version'], name)
  checkArity(args, name, command)
  const conn = connect(values, process.env)
  const writes = typeof command.writes === 'function' ? command.writes(values) : command.writes
  const config = clientConfig(conn, values, !writes)
  parseCount('limit', values.limit, 0xffffffff)
  const json = values.json === true
  let client: ImmuKVClient
  try {
    selectProfile(conn)
    client = new ImmuKVClient(config)
  } catch (err) {
    return reportError(err, json, conn)
  }
  const interrupt = abortOnInterrupt()
  try {
    return await command.run({ args, values, json, client, conn, signal: interrupt.signal })
  } catch (err) {
    return reportError(err, json, conn)
  } finally {
    // Ctrl-C during close() ends the process as usual. After a Ctrl-C,
    // close() would wait for work the core still has in flight (up to
    // operationTimeoutMs): the process exits instead (main).
    interrupt.dispose()
    if (!interrupt.signal.aborted) await client.close()
  }
}

/** `immukv`, `immukv help [command]`, `--help`, `--version`. */
function showHelpOrVersion(argv: string[], name: string | undefined): number {
  const { values, positionals } = parseArgs({ args: argv, options: parseSpecs(allOptions()), strict: false, allowPositionals: true })
  if (values.version === true && values.help !== true) {
    writeOut(packageVersion())
    return EXIT.ok
  }
  if (name === undefined && values.help !== true) {
    // Bare `immukv`: the help, but as the usage error it is.
    writeErr(globalHelp())
    return EXIT.usage
  }
  // `immukv help verify`: that command's help.
  const topic = name === 'help' ? positionals[1] : undefined
  if (topic !== undefined && topic !== 'help') {
    if (!Object.hasOwn(COMMANDS, topic)) throw new UsageError(`help: unknown command ${JSON.stringify(topic)}`)
    writeOut(commandHelp(topic))
    return EXIT.ok
  }
  writeOut(globalHelp())
  return EXIT.ok
}

main(process.argv.slice(2)).then((code) => {
  // Output lost for another reason than a reader gone (a full disk): not a success.
  let status = code
  if (output.stdoutError !== undefined && code === EXIT.ok) {
    writeErr(`immukv: cannot write to stdout: ${output.stdoutError.message}`)
    status = EXIT.failed
  }
  // exitCode, not exit(): stdout is flushed first. Interrupted, the process
  // exits once stdout is flushed, not when the core's work in flight ends.
  if (status === EXIT.interrupted && !output.stdoutClosed) process.stdout.write('', () => process.exit(status))
  else if (status === EXIT.interrupted) process.exit(status)
  else process.exitCode = status
})
