// TLS material from files (a Kubernetes Secret mount), reloaded when the files change: new
// connections get the new certificate, connected cars keep theirs. A bad new file is refused
// (logged, counted) and the previous context stays in use.
import { readFileSync, unwatchFile, watchFile } from 'node:fs'
import { createSecureContext, type SecureContextOptions } from 'node:tls'
import type { Logger } from '../../shared/src/logger.js'

export interface TlsFiles { certFile: string, keyFile: string, caFile: string, crlFile?: string }

export function readTlsFiles (files: TlsFiles): SecureContextOptions {
  const context: SecureContextOptions = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) }
  if (files.caFile !== '') context.ca = readFileSync(files.caFile)
  // a car certificate listed in the CRL fails the handshake (OpenSSL checks it against the CA)
  if (files.crlFile !== undefined && files.crlFile !== '') context.crl = readFileSync(files.crlFile)
  createSecureContext(context) // throws on a mismatched or unreadable pair
  return context
}

/** Calls `apply` with fresh material whenever one of the files changes; returns a stop function. */
export function watchTlsFiles (files: TlsFiles, apply: (context: SecureContextOptions) => void, log: Logger, onResult: (ok: boolean) => void, intervalMs = 1_000): () => void {
  const paths = [files.certFile, files.keyFile, files.caFile, files.crlFile ?? ''].filter(p => p !== '')
  let timer: NodeJS.Timeout | null = null
  const reload = () => {
    // cert and key are often replaced one after the other: wait for the writes to settle
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = null
      try {
        apply(readTlsFiles(files))
        onResult(true)
        log.info('TLS certificate reloaded')
      } catch (err) {
        onResult(false)
        log.error({ err: (err as Error).message }, 'TLS reload refused; the previous certificate stays in use')
      }
    }, 200)
  }
  for (const p of paths) watchFile(p, { interval: intervalMs }, reload)
  return () => {
    if (timer !== null) clearTimeout(timer)
    for (const p of paths) unwatchFile(p, reload)
  }
}
