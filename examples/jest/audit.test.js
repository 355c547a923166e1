// Testing code that uses ImmuKV with Jest, without S3: ImmuKVClient.inMemory
// gives a store that behaves like a versioned bucket (same protocol, same
// checks), in memory. Run: npx jest
const { ImmuKVClient } = require('immukv')

// What the application does: record a config change.
async function enableFeature(client, name) {
  const current = await client.get(`features/${name}`).catch(() => undefined)
  return client.set(`features/${name}`, { ...(current?.value ?? {}), enabled: true })
}

let client
beforeEach(() => {
  client = ImmuKVClient.inMemory() // a private store for each test
})
afterEach(() => client.close())

test('every change is kept, in order, and verifies', async () => {
  await client.set('features/x', { enabled: false, owner: 'ops' })
  await enableFeature(client, 'x')
  const [history] = await client.history('features/x')
  expect(history.map((e) => e.value)).toEqual([
    { enabled: true, owner: 'ops' },
    { enabled: false, owner: 'ops' },
  ])
  expect((await client.verifyLog()).ok).toBe(true)
})

test('code under test and the test share a store by name', async () => {
  const app = ImmuKVClient.inMemory('jest-shared') // what the application opens
  const probe = ImmuKVClient.inMemory('jest-shared') // what the test looks through
  await enableFeature(app, 'y')
  expect((await probe.get('features/y')).value).toEqual({ enabled: true })
  ImmuKVClient.dropInMemory('jest-shared') // the next test starts empty
})
