// Simulated cars for system tests: mqtt.js clients with real per-car credentials.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { carPassword } from './credentials.js'

/** Connects as the car with its provisioned password (provisioned on first use) unless opts say otherwise. */
export async function connectCar (vehicleId: string, port: number, opts: Partial<IClientOptions> & { url?: string } = {}): Promise<MqttClient> {
  const { url, ...rest } = opts
  const password = 'password' in rest ? rest.password : await carPassword(vehicleId)
  const client = mqtt.connect(url ?? `mqtt://127.0.0.1:${port}`, {
    clientId: vehicleId,
    username: vehicleId,
    password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...rest
  })
  return new Promise((resolve, reject) => {
    let settled = false
    const fail = (err: Error) => {
      if (settled) return
      settled = true
      client.end(true)
      reject(err)
    }
    client.once('connect', () => { settled = true; resolve(client) })
    client.once('error', fail)
    // a failed TLS handshake may end the socket without an 'error'
    client.once('close', () => fail(new Error('connection closed before CONNACK')))
  })
}

/** The CONNACK return code a connection attempt got (0 = accepted). */
export async function connackCode (vehicleId: string, port: number, opts: Partial<IClientOptions> = {}): Promise<number> {
  try {
    const c = await connectCar(vehicleId, port, opts)
    await c.endAsync()
    return 0
  } catch (err) {
    const code = (err as { code?: number }).code
    if (typeof code !== 'number') throw err
    return code
  }
}

export const uniqueFleetPrefix = (name: string) => `t-${name}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`
