// The fleet's certificates, as AWS IoT Core and Azure IoT Hub do per-device identity: a fleet CA,
// car certificates whose subject CN is the vehicleId (the broker takes the car's identity from the
// verified certificate), and broker server certificates. ECDSA P-256, PEM, made in-process.
import 'reflect-metadata'
import { randomBytes, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

type Key = webcrypto.CryptoKey

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
const DAY = 86_400_000

export interface Pem { certPem: string, keyPem: string }

export interface Validity { notBefore?: Date, notAfter?: Date, days?: number }

async function keyPair () {
  return webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>
}

async function keyPem (key: Key): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key))
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`
}

const serial = () => randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')

function window (v: Validity): { notBefore: Date, notAfter: Date } {
  const notBefore = v.notBefore ?? new Date(Date.now() - 60_000)
  return { notBefore, notAfter: v.notAfter ?? new Date(notBefore.getTime() + (v.days ?? 365) * DAY) }
}

/** Escapes a value for an X.500 name string. */
const dn = (cn: string) => `CN=${cn.replace(/([,+"\\<>;=])/g, '\\$1')}`

export async function createFleetCa (cn = 'fleet CA', validity: Validity = { days: 3_650 }): Promise<Pem> {
  const keys = await keyPair()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: dn(cn),
    ...window(validity),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)
    ]
  })
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) }
}

async function issue (ca: Pem, cn: string, validity: Validity, usage: 'client' | 'server', dnsNames: string[] = [], ips: string[] = []): Promise<Pem> {
  const caCert = new x509.X509Certificate(ca.certPem)
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(ca.keyPem), ALG, false, ['sign'])
  const keys = await keyPair()
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([usage === 'client' ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(caCert)
  ]
  if (dnsNames.length + ips.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension([
      ...dnsNames.map(value => ({ type: 'dns' as const, value })),
      ...ips.map(value => ({ type: 'ip' as const, value }))
    ]))
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: dn(cn),
    issuer: caCert.subject,
    ...window(validity),
    signingKey: caKey as never,
    publicKey: keys.publicKey as never,
    signingAlgorithm: ALG,
    extensions
  })
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) }
}

/** A car's client certificate: subject CN = vehicleId. */
export function issueCarCertificate (ca: Pem, vehicleId: string, validity: Validity = { days: 825 }): Promise<Pem> {
  return issue(ca, vehicleId, validity, 'client')
}

/** A broker's server certificate for the given host names and IP addresses. */
export function issueServerCertificate (ca: Pem, names: string[], validity: Validity = { days: 397 }): Promise<Pem> {
  const ips = names.filter(n => /^[\d.]+$|:/.test(n))
  const dns = names.filter(n => !ips.includes(n))
  return issue(ca, names[0] ?? 'fleet-broker', validity, 'server', dns, ips)
}

function pemBody (pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64')
}

/** A CRL of the fleet CA listing the given certificate serials (hex), for FLEET_TLS_CRL_FILE. */
export async function createCrl (ca: Pem, serials: string[], nextUpdateDays = 7): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem)
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(ca.keyPem), ALG, false, ['sign'])
  const now = new Date()
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subject,
    thisUpdate: new Date(now.getTime() - 60_000),
    nextUpdate: new Date(now.getTime() + nextUpdateDays * DAY),
    signingAlgorithm: ALG,
    signingKey: caKey as never,
    entries: serials.map(serialNumber => ({ serialNumber, revocationDate: now })),
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(caCert)]
  })
  // OpenSSL (Node's TLS) reads only the "X509 CRL" PEM label
  return crl.toString('pem').replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----')
}

/** The serial number of a certificate (hex), as CRLs and the revoked-serial set name it. */
export const certificateSerial = (certPem: string) => new x509.X509Certificate(certPem).serialNumber
