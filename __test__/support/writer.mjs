// A writer process for multi-process tests, printing what was acknowledged
// as JSON on stdout.
//   node writer.mjs '{"endpoint", "bucket", "prefix", "clients", "sets", "tag", ...extra config}'
import { writeConcurrently } from './writer-inline.mjs'

process.stdout.write(JSON.stringify(await writeConcurrently(JSON.parse(process.argv[2]))))
