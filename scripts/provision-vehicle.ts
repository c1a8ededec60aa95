// Provisions cars with their own credentials (services/shared/src/
// credential-store.ts, the module the api's lifecycle routes use) and prints each new password
// once; Redis keeps only its verifier.
//   npm run provision -- car-0001 car-0002            a new credential per car (…<TAB>password=…, last on the line)
//   npm run provision -- --rotate 3600 car-0001       a new credential; the others end within 3600 s
//   npm run provision -- --revoke car-0001            revoke the car: every credential and certificate so far
//   npm run provision -- --revoke-credential car-0001 <credentialId>
//   npm run provision -- --revoke-serial <hex serial> a car certificate, for good
//   npm run provision -- --bulk 1000 --prefix car [--first 1]   car-00001 … car-01000, pipelined (id<TAB>password)
// Each change except --bulk and --revoke-serial is recorded on vehicle.lifecycle (by = cli:<user>),
// like the api's operator routes (POST /v1/vehicles/provision etc.); --bulk is for load tests.
import { userInfo } from 'node:os'
import { Redis } from 'ioredis'
import { Partitioners } from 'kafkajs'
import { readConfig } from '../services/shared/src/config.js'
import { kafkaSettings, redisSettings } from '../services/shared/src/common-config.js'
import { createCredentialStore, provisionBulk } from '../services/shared/src/credential-store.js'
import { createKafka } from '../services/shared/src/kafka.js'
import { createLogger } from '../services/shared/src/logger.js'
import { isVehicleId } from '../services/shared/src/topics.js'
import { createVehicleLifecycle } from '../services/shared/src/vehicle-lifecycle.js'

const config = readConfig({ ...redisSettings, ...kafkaSettings })
const args = process.argv.slice(2)
const usage = () => {
  console.error('usage: npm run provision -- [--rotate <overlapS> | --revoke | --revoke-credential <vehicleId> <credentialId> | --revoke-serial <serial> | --bulk <n> --prefix <p>] [<vehicleId> ...]')
  process.exit(2)
}
const redis = new Redis(config.redisUrl)
const store = createCredentialStore(redis)
const by = `cli:${userInfo().username}`
const [flag0] = args
const recorded = !['--bulk', '--revoke-serial'].includes(flag0 ?? '')
const producer = recorded ? createKafka(config, createLogger('provision', 'error'), '-provision').producer({ createPartitioner: Partitioners.DefaultPartitioner }) : null
await producer?.connect()
const lifecycle = createVehicleLifecycle(redis, producer ?? { send: async () => undefined }, store)
const checkIds = (ids: string[]) => {
  const bad = ids.filter(id => !isVehicleId(id))
  if (ids.length === 0) usage()
  if (bad.length > 0) {
    console.error(`not a valid vehicle id (letters, digits, . _ -; at most 64): ${bad.join(', ')}`)
    process.exit(2)
  }
  return ids
}
try {
  const [flag, ...rest] = args
  if (flag === '--revoke') {
    for (const id of checkIds(rest)) { await lifecycle.revoke({ kind: 'vehicle', id }, by); console.log(`${id}\trevoked`) }
  } else if (flag === '--revoke-credential') {
    const [id, credentialId] = rest
    if (id === undefined || credentialId === undefined) usage()
    console.log(await lifecycle.revokeCredential({ kind: 'vehicle', id: id! }, credentialId!, by) ? `${id}\t${credentialId}\trevoked` : `${id}: no credential ${credentialId}`)
  } else if (flag === '--revoke-serial') {
    if (rest[0] === undefined) usage()
    await store.revokeSerial(rest[0]!)
    console.log(`${rest[0]}\trevoked`)
  } else if (flag === '--rotate') {
    const overlapS = Number(rest[0])
    if (!Number.isInteger(overlapS) || overlapS < 0) usage()
    for (const id of checkIds(rest.slice(1))) {
      const c = await lifecycle.rotate(id, overlapS, by)
      console.log(`${id}\tusername=${id}\tcredentialId=${c.credentialId}\tpassword=${c.password}`)
    }
  } else if (flag === '--bulk') {
    const n = Number(rest[0])
    const opt = (name: string) => { const i = rest.indexOf(name); return i < 0 ? undefined : rest[i + 1] }
    const prefix = opt('--prefix') ?? 'car'
    const first = Number(opt('--first') ?? 0)
    if (!Number.isInteger(n) || n < 1 || n > 1_000_000 || !Number.isInteger(first) || first < 0) usage()
    const ids = checkIds(Array.from({ length: n }, (_, i) => `${prefix}-${String(first + i).padStart(5, '0')}`))
    for (const [id, password] of await provisionBulk(redis, ids)) console.log(`${id}\t${password}`)
  } else {
    for (const c of await lifecycle.provision(checkIds(args), by)) console.log(`${c.vehicleId}\tusername=${c.vehicleId}\tcredentialId=${c.credentialId}\tpassword=${c.password}`)
  }
} finally {
  await producer?.disconnect()
  redis.disconnect()
}
