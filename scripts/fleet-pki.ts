// The fleet's certificate authority on the command line (files are PEM, keys 0600):
//   npm run pki -- init                         fleet CA → certs/ca.crt, certs/ca.key
//   npm run pki -- car car-0001 [car-0002 …]    car certificates (CN = vehicleId) → certs/cars/
//   npm run pki -- server broker.example.com 127.0.0.1   broker certificate → certs/tls.crt, tls.key
// FLEET_PKI_DIR picks another folder than certs/. Keep ca.key offline in production.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createFleetCa, issueCarCertificate, issueServerCertificate, type Pem } from '../services/shared/src/fleet-pki.js'
import { isVehicleId } from '../services/shared/src/topics.js'

const dir = process.env.FLEET_PKI_DIR ?? 'certs'
const [cmd, ...args] = process.argv.slice(2)
const write = (name: string, pem: Pem) => {
  mkdirSync(join(dir, name, '..'), { recursive: true })
  writeFileSync(join(dir, `${name}.crt`), pem.certPem)
  writeFileSync(join(dir, `${name}.key`), pem.keyPem, { mode: 0o600 })
  console.log(`${join(dir, name)}.crt / .key`)
}
const loadCa = (): Pem => {
  if (!existsSync(join(dir, 'ca.key'))) {
    console.error(`no CA in ${dir}: run "npm run pki -- init" first`)
    process.exit(2)
  }
  return { certPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), keyPem: readFileSync(join(dir, 'ca.key'), 'utf8') }
}

switch (cmd) {
  case 'init':
    if (existsSync(join(dir, 'ca.key'))) {
      console.error(`${dir}/ca.key exists; not overwriting it`)
      process.exit(2)
    }
    write('ca', await createFleetCa(args[0] ?? 'fleet CA'))
    break
  case 'car': {
    const bad = args.filter(id => !isVehicleId(id))
    if (args.length === 0 || bad.length > 0) {
      console.error(`usage: npm run pki -- car <vehicleId> [...]${bad.length > 0 ? ` (not vehicle ids: ${bad.join(', ')})` : ''}`)
      process.exit(2)
    }
    const ca = loadCa()
    for (const id of args) write(join('cars', id), await issueCarCertificate(ca, id))
    break
  }
  case 'server':
    if (args.length === 0) {
      console.error('usage: npm run pki -- server <host or IP> [...]')
      process.exit(2)
    }
    write('tls', await issueServerCertificate(loadCa(), args))
    break
  default:
    console.error('usage: npm run pki -- init | car <vehicleId>… | server <host>…')
    process.exit(2)
}
