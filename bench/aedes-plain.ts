// Stock aedes as a peer for the idle bench: aedes 1.x with its in-memory persistence and emitter,
// no hooks, plain TCP on PORT. Prints "ready" once listening.
import { createServer } from 'node:net'
import { Aedes } from 'aedes'

const aedes = await Aedes.createBroker()
const server = createServer(aedes.handle)
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'))
process.on('SIGTERM', () => server.close(() => aedes.close(() => process.exit(0))))
