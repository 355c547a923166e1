// Testing code that uses ImmuKV with Vitest, without S3: ImmuKVClient.inMemory
// gives a store that behaves like a versioned bucket (same protocol, same
// checks), in memory. Run: npx vitest run
import { ImmuKVClient, KeyNotFoundError } from 'immukv'
import { afterEach, beforeEach, expect, test } from 'vitest'

interface Calibration {
  gain: number
  offset: number
}

let client: ImmuKVClient<string, Calibration>
beforeEach(() => {
  client = ImmuKVClient.inMemory<string, Calibration>() // a private store for each test
})
afterEach(() => client.close())

test('a calibration is recorded and read back, verified', async () => {
  const written = await client.set('device-42', { gain: 1.02, offset: -0.5 })
  const read = await client.get('device-42', { verify: true })
  expect(read.value).toEqual({ gain: 1.02, offset: -0.5 })
  expect(read.hash).toBe(written.hash)
  expect(client.verify(read)).toBe(true)
})

test('a missing device is a KeyNotFoundError', async () => {
  await expect(client.get('device-0')).rejects.toBeInstanceOf(KeyNotFoundError)
})
