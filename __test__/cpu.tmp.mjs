import { ImmuKVClient } from 'immukv'
function payload(bytes) {
  const items = []
  let size = 12
  while (size < bytes) {
    const item = { id: items.length, name: `item-${items.length}`, value: Math.PI * items.length, tags: ['a', 'b'], ok: true }
    size += JSON.stringify(item).length + 1
    items.push(item)
  }
  return { items }
}
const c = ImmuKVClient.inMemory()
for (const mb of [1, 4]) {
  const v = payload(mb * 1024 * 1024 - 4096)
  await c.set('k', v)
  await c.get('k')
  const t = async (label, f, n = 10) => {
    const ts = []
    for (let i = 0; i < n; i++) {
      const s = performance.now()
      await f()
      ts.push(performance.now() - s)
    }
    ts.sort((a, b) => a - b)
    console.log(`${mb} MiB ${label}: ${ts[n >> 1].toFixed(1)} ms`)
  }
  await t('JSON.stringify', () => JSON.stringify(v))
  const s = JSON.stringify(v)
  await t('JSON.parse', () => JSON.parse(s))
  await t('set (memory)', () => c.set('k', v))
  await t('get (memory)', () => c.get('k'))
}
