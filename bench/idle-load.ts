// Load process for the idle-capacity benchmark: opens CARS authenticated MQTT connections like a
// parked car (persistent session, one subscription to its commands topic, keepalive KEEPALIVE_S)
// with at most CONCURRENCY connects outstanding, then holds them until stdin closes or HOLD_S.
// Prints one JSON line when all are connected: {connected, failed, seconds}.
import { connect } from 'node:net'
import { readFileSync } from 'node:fs'
import { connect as tlsConnect } from 'node:tls'
import mqttPacket from 'mqtt-packet'
import { MqttTopics } from '../services/shared/src/topics.js'
import { provisionForLoad } from '../services/shared/src/load-credentials.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const port = env('PORT', 1883)
const cars = env('CARS', 1_000)
const concurrency = env('CONCURRENCY', 200)
const keepalive = env('KEEPALIVE_S', 600)
const holdS = env('HOLD_S', 600)
const prefix = process.env.PREFIX ?? 'idle'
const localAddress = process.env.LOCAL_ADDRESS
// TLS_CA=<file>: connect over TLS, verifying the broker against that CA
const tlsCa = process.env.TLS_CA ? readFileSync(process.env.TLS_CA) : null

let next = 0
const passwords = await provisionForLoad(process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379', Array.from({ length: cars }, (_, i) => `${prefix}-${i}`))
let connected = 0
let failed = 0
const sockets: import('node:net').Socket[] = []
const started = performance.now()

function open (i: number): Promise<void> {
  const id = `${prefix}-${i}`
  return new Promise(resolve => {
    const target = { host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) }
    const s = tlsCa === null ? connect(target) : tlsConnect({ ...target, ca: tlsCa, servername: 'localhost' })
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    let done = false
    const finish = (ok: boolean) => {
      if (done) return
      done = true
      if (ok) connected++
      else { failed++; s.destroy() }
      resolve()
    }
    parser.on('packet', p => {
      if (p.cmd === 'connack') {
        if ((p as { returnCode: number }).returnCode !== 0) return finish(false)
        s.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: MqttTopics.commands(id), qos: 1 }] } as never))
      } else if (p.cmd === 'suback') {
        finish(true)
      }
    })
    s.on('data', d => parser.parse(d))
    s.on('error', () => finish(false))
    s.on('close', () => finish(false))
    s.on(tlsCa === null ? 'connect' : 'secureConnect', () => s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: id, keepalive, username: id, password: Buffer.from(passwords.get(id)!) } as never)))
    sockets.push(s)
  })
}

async function worker () {
  while (next < cars) await open(next++)
}
await Promise.all(Array.from({ length: Math.min(concurrency, cars) }, worker))
console.log(JSON.stringify({ connected, failed, seconds: (performance.now() - started) / 1_000 }))
const stop = () => { for (const s of sockets) s.destroy(); process.exit(0) }
process.stdin.on('end', stop)
process.stdin.resume()
setTimeout(stop, holdS * 1_000).unref()
