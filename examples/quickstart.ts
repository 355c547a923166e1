// The README's quick start, as it stands there: no server, the in-memory
// store. examples/quickstart-s3.ts is the same program on S3 (the README
// shows the lines that differ); __test__/docs.test.mjs checks both against
// the README and runs them as a new user would.
import { ImmuKVClient, KeyNotFoundError } from 'immukv'

interface Calibration {
  gain: number
  offset: number
}

async function main(): Promise<void> {
  // A store in memory: the same protocol and checks as on S3, nothing kept.
  const client = ImmuKVClient.inMemory<string, Calibration>()

  const entry = await client.set('device-42', { gain: 1.02, offset: -0.5 })
  console.log('entry:', entry)

  await client.set('device-42', { gain: 1.03, offset: -0.4 })
  const latest = await client.get('device-42')
  console.log('value read back:', latest.value)

  // Save the digest where the writers cannot change it; later, prove the log
  // still holds it and extends it.
  const digest = await client.digest()
  const proven = await client.get('device-42', { trusted: digest })
  console.log('verified read:', proven.sequence, proven.hash)

  const [history] = await client.history('device-42')
  console.log(
    'history:',
    history.map((e) => `#${e.sequence} ${JSON.stringify(e.value)}`),
  )

  const report = await client.verifyLog()
  console.log('chain verified:', await client.verifyLogChain(), `(${report.checked} entries, ${report.failures.length} failures)`)

  try {
    await client.get('device-0')
  } catch (err) {
    if (err instanceof KeyNotFoundError) console.log('device-0:', err.code)
  }
  await client.close()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
