// A loopback HTTP proxy in front of a local S3 server, for tests and the
// benchmark: counts requests by kind, records their headers, adds latency,
// and injects faults before forwarding a request or after the server has
// applied it (the client then sees a failure although the write happened).
import http from 'node:http'

/** `log` (P_log.json), `key` (keys/...), `bucket` (listing, versioning...). */
export function classify(method, url) {
  const u = new URL(url, 'http://x')
  const q = u.searchParams
  let op = method
  if (method === 'GET' && (q.has('versions') || q.has('list-type') || q.has('versioning'))) op = 'LIST'
  // A listing names its object by the prefix parameter.
  const path = op === 'LIST' ? q.get('prefix') || '' : decodeURIComponent(u.pathname)
  const target = path.endsWith('_log.json') ? 'log' : /(^|\/)keys\//.test(path) ? 'key' : 'bucket'
  return { op, target }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export class S3Proxy {
  constructor(upstream, { latencyMs = 0 } = {}) {
    this.upstream = new URL(upstream)
    this.latencyMs = latencyMs
    this.rules = []
    this.requests = []
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
  }

  async start() {
    this.server = http.createServer((req, res) => this.#handle(req, res))
    this.server.keepAliveTimeout = 60_000
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r))
    this.endpoint = `http://127.0.0.1:${this.server.address().port}`
    return this
  }

  async stop() {
    this.server.closeAllConnections()
    await new Promise((r) => this.server.close(r))
    this.agent.destroy()
  }

  /**
   * Adds a fault: `op` GET|PUT|HEAD|LIST|* , `target` log|key|bucket|*,
   * `action` 500|503|reset|delay|hang|expired-token|access-denied|not-implemented, `when` before|after, `times`,
   * `probability` (each matching request is hit with this chance),
   * `pathContains` (only requests whose URL contains it).
   * `hang` never forwards and never answers (a writer killed mid-request).
   */
  inject({ op = '*', target = '*', action, when = 'before', times = 1, delayMs = 0, probability = 1, pathContains = '' }) {
    this.rules.push({ op, target, action, when, times, delayMs, probability, pathContains, hits: 0, answered: 0 })
  }

  /** Requests a rule has hit so far, in total. */
  hits() {
    return this.rules.reduce((n, r) => n + r.hits, 0)
  }

  /** Requests a rule has hit that the server has answered (a delayed one, once forwarded). */
  answered() {
    return this.rules.reduce((n, r) => n + r.answered, 0)
  }

  /**
   * Makes every version in listings look `ms` older (their LastModified), as
   * versions written that long ago would: tests of lifecycle rules, which
   * count from the server's time.
   */
  backdateListings(ms) {
    this.listingsBackdatedMs = ms
  }

  clearFaults() {
    this.rules = []
  }

  reset() {
    this.requests = []
    this.rules = []
  }

  /** Requests seen, optionally only those matching op/target. */
  count(op = '*', target = '*') {
    return this.requests.filter((r) => (op === '*' || r.op === op) && (target === '*' || r.target === target)).length
  }

  #rule(op, target, url) {
    const r = this.rules.find(
      (r) => r.times > 0 && (r.op === '*' || r.op === op) && (r.target === '*' || r.target === target) && decodeURIComponent(url).includes(r.pathContains),
    )
    if (r && Math.random() >= r.probability) return undefined
    if (r) {
      r.times -= 1
      r.hits += 1
    }
    return r
  }

  async #handle(req, res) {
    const chunks = []
    for await (const c of req) chunks.push(c)
    const body = Buffer.concat(chunks)
    const { op, target } = classify(req.method, req.url)
    this.requests.push({ op, target, method: req.method, url: req.url, headers: req.headers })
    if (this.latencyMs) await sleep(this.latencyMs)
    const rule = this.#rule(op, target, req.url)
    // A delayed request is forwarded late: the client has timed out, the
    // server may still apply it.
    if (rule && rule.action === 'hang') return
    if (rule && rule.action === 'delay') await sleep(rule.delayMs)
    else if (rule && rule.when === 'before') return this.#fail(rule, req, res)
    let upstream
    try {
      upstream = await this.#forward(req, body)
    } catch (err) {
      res.writeHead(502).end(String(err))
      return
    }
    if (rule) rule.answered += 1
    if (rule && rule.when === 'after' && rule.action !== 'delay') return this.#fail(rule, req, res)
    if (res.destroyed) return
    let answer = upstream.body
    if (this.listingsBackdatedMs && op === 'LIST') {
      const shifted = answer
        .toString('utf8')
        .replace(
          /<LastModified>([^<]+)<\/LastModified>/g,
          (_m, t) => `<LastModified>${new Date(Date.parse(t) - this.listingsBackdatedMs).toISOString()}</LastModified>`,
        )
      answer = Buffer.from(shifted, 'utf8')
      if (upstream.headers['content-length'] !== undefined) upstream.headers['content-length'] = String(answer.length)
    }
    res.writeHead(upstream.status, upstream.headers)
    res.end(answer)
  }

  #fail(rule, req, res) {
    switch (rule.action) {
      case 'reset':
        req.socket.destroy()
        return
      case 'expired-token': // what S3 answers once temporary credentials expire
        res.writeHead(400, { 'content-type': 'application/xml' })
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>')
        return
      case 'not-implemented': // a server without the API
        res.writeHead(501, { 'content-type': 'application/xml' })
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>',
        )
        return
      case 'access-denied':
        res.writeHead(403, { 'content-type': 'application/xml' })
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>')
        return
      case 503:
      case '503':
        res.writeHead(503, { 'content-type': 'application/xml' })
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>')
        return
      default:
        res.writeHead(500, { 'content-type': 'application/xml' })
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>')
    }
  }

  #forward(req, body) {
    return new Promise((resolve, reject) => {
      // Host stays as the client sent it: it is part of the SigV4 signature.
      const headers = { ...req.headers }
      const up = http.request(
        { host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers, agent: this.agent },
        (r) => {
          const chunks = []
          r.on('data', (c) => chunks.push(c))
          r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) }))
          r.on('error', reject)
        },
      )
      up.on('error', reject)
      up.end(body)
    })
  }
}
