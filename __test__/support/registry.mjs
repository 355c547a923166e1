// A local npm registry for running the README's install commands as written
// (`npm install immukv`) before the package is published: it serves the
// packed tarballs it is given (scripts/pack-release.mjs: the main package with
// its optionalDependencies, this machine's platform package) and answers 404
// for the platform packages it does not hold, as the registry would for a
// platform npm skips; every other package is a redirect to the registry npm
// is configured with. Point npm at it with npm_config_registry.
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'

/** The registry npm uses here (what the redirects point at). */
export function upstreamRegistry() {
  return execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim().replace(/\/?$/, '/')
}

/** The package.json inside a tarball. */
function manifestOf(tgz) {
  return JSON.parse(execFileSync('tar', ['xzf', tgz, '-O', 'package/package.json'], { encoding: 'utf8' }))
}

export class LocalRegistry {
  /** @param tarballs paths of packed packages; `ours` names we answer 404 for when not held. */
  constructor(tarballs, { ours = [], upstream = upstreamRegistry() } = {}) {
    this.upstream = upstream
    this.ours = new Set(ours)
    this.packages = new Map()
    for (const path of tarballs) {
      const manifest = manifestOf(path)
      const data = readFileSync(path)
      this.ours.add(manifest.name)
      this.packages.set(manifest.name, {
        manifest,
        data,
        integrity: `sha512-${createHash('sha512').update(data).digest('base64')}`,
        shasum: createHash('sha1').update(data).digest('hex'),
      })
    }
    this.requests = []
  }

  async start() {
    this.server = createServer((req, res) => this.#answer(req, res))
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${this.server.address().port}/`
    return this
  }

  stop() {
    return new Promise((resolve) => this.server.close(resolve))
  }

  #answer(req, res) {
    const path = decodeURIComponent(new URL(req.url, this.url).pathname.slice(1))
    this.requests.push(path)
    const [name, tarball] = path.split('/-/')
    const pkg = this.packages.get(name)
    if (pkg && tarball) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': pkg.data.length })
      return res.end(pkg.data)
    }
    if (pkg) {
      const { version } = pkg.manifest
      const file = `${name.split('/').pop()}-${version}.tgz`
      const body = JSON.stringify({
        name,
        'dist-tags': { latest: version },
        versions: {
          [version]: {
            ...pkg.manifest,
            _id: `${name}@${version}`,
            dist: { tarball: `${this.url}${name}/-/${file}`, integrity: pkg.integrity, shasum: pkg.shasum },
          },
        },
      })
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(body)
    }
    if (this.ours.has(name)) {
      res.writeHead(404, { 'content-type': 'application/json' })
      return res.end('{"error":"not found"}')
    }
    res.writeHead(302, { location: `${this.upstream}${req.url.slice(1)}` })
    res.end()
  }
}
