// The README's quick start on S3: examples/quickstart.ts with the client made
// for a bucket. `npm run demo` runs it against a local SeaweedFS.
import { ImmuKVClient, KeyNotFoundError } from 'immukv'

interface Calibration {
  gain: number
  offset: number
}

async function main(): Promise<void> {
  // On S3: a versioned bucket ("S3 setup" below). `overrides` points at a
  // local S3-compatible server; on AWS, drop it: credentials and region then
  // come from AWS's default chain (environment, profile, roles).
  const client = new ImmuKVClient<string, Calibration>(
    {
      s3Bucket: process.env.IMMUKV_BUCKET ?? 'immukv-demo',
      s3Region: 'us-east-1',
      s3Prefix: 'demo/',
      overrides: {
        endpointUrl: process.env.IMMUKV_ENDPOINT ?? 'http://127.0.0.1:19026',
        credentials: { accessKeyId: 'adminkey', secretAccessKey: 'adminsecret' },
      },
    },
    (json) => json as unknown as Calibration,
    (value) => ({ ...value }),
  )

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
