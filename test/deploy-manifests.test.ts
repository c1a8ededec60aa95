// The deploy files, checked without a cluster or Docker: helm lint and template (default and
// production values), every rendered object validated offline against Kubernetes 1.33's schemas
// (and ServiceMonitors against their CRD), what the chart promises about the broker, hardening,
// keys and gating, skaffold.yaml against skaffold's schema, and the Dockerfile's build replayed
// as far as it goes without Docker. Tools come from `scripts/tools.sh deploy` (npm test runs it);
// where they could not be installed the tests are skipped with that reason, and fail in CI.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { test as nodeTest, type TestFn, type TestOptions } from 'node:test'
import { builtinModules } from 'node:module'
import { loadBrokerConfig } from '../services/broker/src/broker-config.js'
import { topicPartitions } from '../services/shared/src/topics.js'
import { BROKER_NODE_FLAGS } from './helpers/broker-process.js'
import { TFJS_NODE_VERSION } from '../services/scorer/src/tf-backend.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const chart = join(root, 'charts/fleet')
const SERVICES = ['broker', 'scorer', 'commander', 'api'] as const
type Service = typeof SERVICES[number]
const KUBE_VERSION = '1.33.0'
// What values-production.yaml leaves to the installer.
const PRODUCTION = ['-f', join(chart, 'values-production.yaml'), '--set', 'kafka.brokers=kafka-0.kafka:9092\\,kafka-1.kafka:9092', '--set', 'redis.url=redis://redis.data:6379']

// ---- tools ---------------------------------------------------------------------------------

function run (cmd: string, args: string[], opts: { input?: string, cwd?: string, env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? root, input: opts.input, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const toolPaths: Record<string, string> = Object.fromEntries(
  run('bash', ['scripts/tools.sh', 'deploy-paths']).stdout.trim().split('\n').map(line => {
    const i = line.indexOf('=')
    return [line.slice(0, i), line.slice(i + 1)]
  })
)

const requireOptional = process.env.FLEET_TEST_REQUIRE_OPTIONAL === '1'
const DEPLOY_TOOLS = ['HELM', 'KUBERNETES_VALIDATE', 'PYTHON', 'SKAFFOLD_SCHEMA', 'SERVICEMONITOR_CRD', 'PROMETHEUSRULE_CRD', 'CERTIFICATE_CRD'] as const
const missingTool = DEPLOY_TOOLS.find(name => toolPaths[name] === undefined || !existsSync(toolPaths[name]))
/** Why this file's tests cannot run here, or false. */
const unavailable = missingTool !== undefined && !requireOptional
  ? `deploy tools not installed (${missingTool}): scripts/tools.sh deploy failed or was not run (see results/tmp/tools-deploy.log)`
  : false

/** node:test's `test`, skipped with the reason when the deploy tools could not be had. */
function test (name: string, a: TestOptions | TestFn, b?: TestFn): void {
  const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b!]
  void nodeTest(name, { ...options, skip: unavailable !== false ? unavailable : options.skip }, fn)
}

function tool (name: typeof DEPLOY_TOOLS[number]): string {
  const path = toolPaths[name]
  assert.ok(path !== undefined && existsSync(path), `${name} is missing (${path ?? 'no path'}): run scripts/tools.sh deploy first`)
  return path
}

// ---- rendering -------------------------------------------------------------------------------

interface Meta { name: string, labels?: Record<string, string>, annotations?: Record<string, string> }
interface Probe { httpGet?: { path: string, port: string | number } }
interface EnvVar { name: string, value?: string, valueFrom?: { secretKeyRef?: { name: string, key: string } } }
interface Container {
  name: string
  image: string
  command?: string[]
  env?: EnvVar[]
  envFrom?: Array<{ configMapRef?: { name: string } }>
  ports?: Array<{ name?: string, containerPort: number }>
  readinessProbe?: Probe
  livenessProbe?: Probe
  startupProbe?: Probe
  resources?: { requests?: Record<string, string>, limits?: Record<string, string> }
  securityContext?: { runAsNonRoot?: boolean, readOnlyRootFilesystem?: boolean, allowPrivilegeEscalation?: boolean, privileged?: boolean, capabilities?: { drop?: string[] } }
}
interface PodSpec {
  containers: Container[]
  securityContext?: { runAsNonRoot?: boolean, runAsUser?: number }
  terminationGracePeriodSeconds?: number
  automountServiceAccountToken?: boolean
  enableServiceLinks?: boolean
  serviceAccountName?: string
}
interface K8sObject {
  apiVersion: string
  kind: string
  metadata: Meta
  data?: Record<string, string>
  stringData?: Record<string, string>
  spec?: {
    selector?: { matchLabels?: Record<string, string> } | Record<string, string>
    template?: { metadata: Meta, spec: PodSpec }
    type?: string
    ports?: Array<{ name: string, port: number, targetPort: string | number }>
    scaleTargetRef?: { kind: string, name: string }
    minReplicas?: number
    maxReplicas?: number
    maxUnavailable?: number
    endpoints?: Array<{ port: string }>
  }
}

function helm (args: string[]) {
  return run(tool('HELM'), args)
}

function render (args: string[] = []): string {
  const r = helm(['template', 'fleet', chart, '--namespace', 'fleet', '--kube-version', KUBE_VERSION, ...args])
  assert.equal(r.status, 0, `helm template ${args.join(' ')} failed:\n${r.stderr}`)
  return r.stdout
}

function parse (yamlText: string): K8sObject[] {
  const r = run(tool('PYTHON'), ['-c', 'import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)'], { input: yamlText })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout) as K8sObject[]
}

// Every Kubernetes version the chart supports (Chart.yaml: kubeVersion >=1.27) up to KUBE_VERSION.
const KUBE_VERSIONS = ['1.27.0', '1.28.0', '1.29.0', '1.30.0', '1.31.0', '1.32.0', KUBE_VERSION]
const VALIDATE_PY = `
import sys, yaml, kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError, InvalidSchemaError, ValidationError
failures = 0
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
for version in sys.argv[1:]:
    for d in docs:
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except SchemaNotFoundError:
            pass  # custom kinds (ServiceMonitor, Certificate, ...): their CRDs check them
        except (ValidationError, InvalidSchemaError) as e:
            failures += 1
            print(f"{version} {d.get('kind')} {d.get('metadata', {}).get('name')}: {str(e)[:400]}", file=sys.stderr)
sys.exit(1 if failures else 0)
`

/** kubernetes-validate --strict (unknown fields refused) against each of KUBE_VERSIONS, in one process. */
function validate (yamlText: string, what: string) {
  const r = run(tool('PYTHON'), ['-c', VALIDATE_PY, ...KUBE_VERSIONS], { input: yamlText })
  assert.equal(r.status, 0, `${what}: kubernetes-validate refused it:\n${r.stdout}${r.stderr}`)
}

const find = (objs: K8sObject[], kind: string, name: string) => objs.find(o => o.kind === kind && o.metadata.name === name)
const must = (objs: K8sObject[], kind: string, name: string): K8sObject => {
  const o = find(objs, kind, name)
  assert.ok(o, `${kind} ${name} is not rendered`)
  return o
}
const componentOf = (o: K8sObject) => o.metadata.labels?.['app.kubernetes.io/component']
const podSpec = (o: K8sObject): PodSpec => {
  assert.ok(o.spec?.template, `${o.kind} ${o.metadata.name} has no pod template`)
  return o.spec.template.spec
}
const selectorOf = (o: K8sObject): Record<string, string> => {
  const s = o.spec?.selector as { matchLabels?: Record<string, string> } & Record<string, string> | undefined
  return (o.kind === 'Service' ? s : s?.matchLabels) ?? {}
}
const selects = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v)
const configOf = (objs: K8sObject[], c: Container) => {
  const name = c.envFrom?.[0]?.configMapRef?.name
  assert.ok(name, `${c.name} reads no ConfigMap`)
  return must(objs, 'ConfigMap', name).data ?? {}
}

let cachedDefault: { text: string, objs: K8sObject[] } | undefined
let cachedProduction: { text: string, objs: K8sObject[] } | undefined
function defaults () {
  if (!cachedDefault) {
    const text = render()
    cachedDefault = { text, objs: parse(text) }
  }
  return cachedDefault
}
function production () {
  if (!cachedProduction) {
    const text = render(PRODUCTION)
    cachedProduction = { text, objs: parse(text) }
  }
  return cachedProduction
}

// ---- helm and Kubernetes schemas -------------------------------------------------------------------

test('the deploy tools are installed (scripts/tools.sh deploy)', () => {
  for (const name of DEPLOY_TOOLS) tool(name)
  assert.match(helm(['version', '--short']).stdout, /^v3\.22\.0/)
})

test('helm lint --strict passes for the default and the production values', () => {
  for (const args of [[], PRODUCTION]) {
    const r = helm(['lint', '--strict', '--kube-version', KUBE_VERSION, chart, ...args])
    assert.equal(r.status, 0, `helm lint ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
  }
})

test('the default values render a dev install that validates against Kubernetes 1.27–1.33', () => {
  const { text, objs } = defaults()
  validate(text, 'default values')
  const count = (kind: string) => objs.filter(o => o.kind === kind).length
  assert.equal(count('Deployment'), 4)
  assert.equal(count('HorizontalPodAutoscaler'), 4)
  assert.equal(count('PodDisruptionBudget'), 4, 'a PDB for every service')
  assert.deepEqual(objs.filter(o => o.kind === 'StatefulSet').map(componentOf).sort(), ['kafka', 'redis'])
  assert.equal(count('Secret'), 1)
  assert.equal(count('ServiceMonitor'), 0, 'ServiceMonitor is off by default (needs the Prometheus Operator CRD)')
  // Beside the dev Kafka (not there before the release) the topics Job is an object of the
  // release, not a hook; named after the revision, since a Job's pod template cannot change.
  const job = must(objs, 'Job', 'fleet-kafka-topics-1')
  assert.equal(job.metadata.annotations?.['helm.sh/hook'], undefined)
  assert.equal(configOf(objs, podSpec(must(objs, 'Deployment', 'fleet-broker')).containers[0]!).FLEET_DEV_MODE, '1')
})

test('the production values render valid objects: external Kafka and Redis, keys from an existing Secret, ServiceMonitors', () => {
  const { text, objs } = production()
  validate(text, 'production values')
  assert.equal(objs.filter(o => o.kind === 'StatefulSet').length, 0, 'no dev Kafka or Redis in production')
  assert.equal(objs.filter(o => o.kind === 'Secret').length, 0, 'production keys are never in values')
  // Topics before any pod: a pre-install/pre-upgrade hook, three replicas, two in sync for a write.
  const job = must(objs, 'Job', 'fleet-kafka-topics')
  assert.equal(job.metadata.annotations?.['helm.sh/hook'], 'pre-install,pre-upgrade')
  const jobEnv = Object.fromEntries((podSpec(job).containers[0]?.env ?? []).map(e => [e.name, e.value ?? e.valueFrom?.secretKeyRef?.name]))
  assert.equal(jobEnv.FLEET_KAFKA_TOPIC_REPLICATION, '3')
  assert.equal(jobEnv.FLEET_KAFKA_TOPIC_MIN_ISR, '2')
  assert.equal(jobEnv.FLEET_KAFKA_SASL_PASSWORD, 'fleet-kafka', 'the Job reaches Kafka like the services: TLS + SCRAM')
  assert.equal(jobEnv.FLEET_KAFKA_SASL_MECHANISM, 'scram-sha-512')
  const monitors = objs.filter(o => o.kind === 'ServiceMonitor')
  assert.deepEqual(monitors.map(componentOf).sort(), [...SERVICES].sort())
  const r = run('bash', ['scripts/tools.sh', 'validate-crd', tool('SERVICEMONITOR_CRD'), '-'], { input: text })
  assert.equal(r.status, 0, `ServiceMonitors against the CRD:\n${r.stderr}`)
  assert.match(r.stdout, /4 ServiceMonitor checked/)
  const config = must(objs, 'ConfigMap', 'fleet-broker').data ?? {}
  assert.equal(config.FLEET_KAFKA_BROKERS, 'kafka-0.kafka:9092,kafka-1.kafka:9092')
  assert.equal(config.FLEET_REDIS_URL, 'redis://redis.data:6379')
  assert.equal(config.FLEET_DEV_MODE, undefined)
  assert.deepEqual([config.FLEET_KAFKA_TLS, config.FLEET_KAFKA_CA_FILE, config.FLEET_KAFKA_SASL_MECHANISM, config.FLEET_KAFKA_SASL_USERNAME], ['true', '/etc/fleet/kafka-ca/ca.crt', 'scram-sha-512', 'fleet'])
  assert.equal(must(objs, 'Service', 'fleet-broker').spec?.type, 'LoadBalancer')
})

test('the chart refuses values it cannot honour: no Kafka, Redis or keys Secret in production, unknown or mistyped values', () => {
  const cases: Array<[string[], RegExp]> = [
    // values.schema.json: helm lint and template refuse these before any template runs
    [['-f', join(chart, 'values-production.yaml'), '--set', 'redis.url=redis://r:6379'], /kafka\/brokers': minLength/],
    [['-f', join(chart, 'values-production.yaml'), '--set', 'kafka.brokers=k:9092'], /at '\/redis'.*(anyOf|url)/s],
    [[...PRODUCTION, '--set', 'secrets.existingSecret='], /secrets\/existingSecret': minLength/],
    [[...PRODUCTION, '--set', 'kafka.tls.enabled=false'], /kafka\/tls\/enabled': value must be true/],
    [[...PRODUCTION, '--set', 'kafkaTopics.minInsyncReplicas=0'], /minInsyncReplicas.*minimum/s],
    // the templates: what the schema cannot say
    [['--set', 'kafka.brokers=k:9092,redis.url=redis://r:6379'], /secrets\.vehicleTokenKey is required with secrets\.create outside development mode/],
    [[...PRODUCTION, '--set', 'kafka.sasl.passwordSecret.name='], /kafka\.sasl\.passwordSecret\.name is required/],
    [['--set', 'broker.tls.certManager.enabled=true'], /broker\.tls\.certManager\.issuerRef\.name is required/],
    [['--set', 'broker.env.FLEET_BROKER_DRAIN_MS=99999'], /set it through the chart's own value/],
    // values.schema.json: misspelt or mistyped values fail instead of being ignored.
    [['--set', 'broker.autoscalling.enabled=false'], /additional properties 'autoscalling' not allowed/],
    [['--set', 'broker.drainMs=20s'], /drainMs.*want integer/s],
    [['--set', 'scorer.env.MAX_BATCH=10'], /additional properties 'MAX_BATCH' not allowed/],
    // production values with a published development secret (issue #21): refused at render
    [['--set', 'devMode=false,secrets.apiKeys=fleet-dev-operator-key,secrets.vehicleTokenKey=k'], /secrets\.apiKeys holds a published development secret/],
    [[...PRODUCTION, '--set', 'secrets.create=true,secrets.existingSecret=,secrets.vehicleTokenKey=k,secrets.apiKeys=ops:operator:fleet-dev-operator-key'], /secrets\.apiKeys holds a published development secret/],
    [[...PRODUCTION, '--set', 'api.env.FLEET_API_JWT_SECRET=fleet-dev-jwt-secret-do-not-use-in-production-0000'], /api\.env\.FLEET_API_JWT_SECRET holds a published development secret/]
  ]
  for (const [args, message] of cases) {
    const r = helm(['template', 'fleet', chart, ...args])
    assert.notEqual(r.status, 0, `rendered with ${args.join(' ')}`)
    assert.match(r.stderr, message)
  }
})

test('the other switches render valid objects (TLS, Redis URL from a Secret, persistence, monitoring in dev, fixed replicas)', () => {
  const variants = [
    ['--set', 'broker.tls.secretName=fleet-broker-tls', '--set', 'broker.tls.clientAuth=certificate'],
    [...PRODUCTION, '--set', 'redis.url=', '--set', 'redis.urlSecret.name=redis-auth', '--set', 'redis.urlSecret.key=url'],
    ['--set', 'devKafka.persistence.enabled=true', '--set', 'devRedis.persistence.enabled=true', '--set', 'monitoring.serviceMonitor.enabled=true'],
    ['--set', 'broker.autoscaling.enabled=false,scorer.autoscaling.enabled=false,commander.autoscaling.enabled=false,api.autoscaling.enabled=false', '--set', 'serviceAccounts.create=false']
  ]
  const texts = variants.map(v => render(v))
  validate(texts.join('\n---\n'), 'variants')

  const tls = parse(texts[0] ?? '')
  const broker = podSpec(must(tls, 'Deployment', 'fleet-broker'))
  const config = must(tls, 'ConfigMap', 'fleet-broker').data ?? {}
  assert.equal(config.FLEET_TLS_CLIENT_AUTH, 'certificate')
  assert.equal(loadBrokerConfig(config).tlsCaFile, '/etc/fleet/tls/ca.crt')
  assert.ok(broker.containers[0]?.ports?.some(p => p.name === 'mqtts' && String(p.containerPort) === config.FLEET_MQTTS_PORT))
  assert.deepEqual(must(tls, 'Service', 'fleet-broker').spec?.ports?.map(p => p.port), [1883, 8083, 8883, 8084])

  const redisSecret = parse(texts[1] ?? '')
  for (const d of redisSecret.filter(o => o.kind === 'Deployment')) {
    const c = podSpec(d).containers[0]
    assert.ok(c)
    assert.equal(configOf(redisSecret, c).FLEET_REDIS_URL, undefined)
    assert.deepEqual(c.env?.find(e => e.name === 'FLEET_REDIS_URL')?.valueFrom?.secretKeyRef, { name: 'redis-auth', key: 'url' })
  }

  const fixed = parse(texts[3] ?? '')
  assert.equal(fixed.filter(o => o.kind === 'HorizontalPodAutoscaler').length, 0)
  assert.equal(fixed.filter(o => o.kind === 'ServiceAccount').length, 0)
  for (const d of fixed.filter(o => o.kind === 'Deployment')) assert.equal((d.spec as { replicas?: number }).replicas, 1)
})

// ---- what the chart promises -------------------------------------------------------------------

test('every service is gated by <service>.create', () => {
  for (const svc of SERVICES) {
    const objs = parse(render(['--set', `${svc}.create=false`, '--set', 'monitoring.serviceMonitor.enabled=true']))
    assert.deepEqual(objs.filter(o => componentOf(o) === svc).map(o => `${o.kind} ${o.metadata.name}`), [], `${svc}.create=false`)
    const deployed = objs.filter(o => o.kind === 'Deployment').map(componentOf).sort()
    assert.deepEqual(deployed, SERVICES.filter(s => s !== svc).sort())
  }
  const none = parse(render([...SERVICES.map(s => `--set=${s}.create=false`), '--set', 'devKafka.enabled=false,devRedis.enabled=false,kafkaTopics.create=false,secrets.create=false', '--set', 'kafka.brokers=k:9092,redis.url=redis://r:6379', '--set', 'secrets.existingSecret=x']))
  assert.deepEqual(none.map(o => o.kind), [])
})

test('the broker: MQTT and WebSocket Service, PDB and HPA on its pods, a grace period longer than its drain', () => {
  for (const [label, args] of [['default', []], ['production', PRODUCTION], ['drainMs=60000', ['--set', 'broker.drainMs=60000']]] as const) {
    const objs = label === 'default' ? defaults().objs : label === 'production' ? production().objs : parse(render([...args]))
    const deployment = must(objs, 'Deployment', 'fleet-broker')
    const pod = podSpec(deployment)
    const podLabels = deployment.spec?.template?.metadata.labels
    const container = pod.containers[0]
    assert.ok(container)
    assert.deepEqual(container.command, ['node', ...BROKER_NODE_FLAGS, 'dist/services/broker/src/main.js'], 'the flags the benchmarks measured')
    const config = configOf(objs, container)

    const service = must(objs, 'Service', 'fleet-broker')
    assert.ok(selects(selectorOf(service), podLabels))
    const ports = new Map(container.ports?.map(p => [p.name, p.containerPort]))
    // Production is TLS only (the plaintext listeners are checked in their own test below).
    const listeners = label === 'production'
      ? [['mqtts', 'FLEET_MQTTS_PORT', 8883], ['mqtt-wss', 'FLEET_MQTT_WSS_PORT', 8084]] as const
      : [['mqtt', 'FLEET_MQTT_PORT', 1883], ['mqtt-ws', 'FLEET_MQTT_WS_PORT', 8083]] as const
    for (const [name, env, port] of listeners) {
      const sp = service.spec?.ports?.find(p => p.name === name)
      assert.ok(sp, `${label}: broker Service has no ${name} port`)
      assert.equal(sp.port, port)
      assert.equal(ports.get(String(sp.targetPort)), Number(config[env]), `${label}: ${name} targets the port the broker listens on`)
    }
    assert.ok(!service.spec?.ports?.some(p => p.name === 'ops'), 'ops endpoints stay off the cars\' Service')

    const pdb = must(objs, 'PodDisruptionBudget', 'fleet-broker')
    assert.ok(selects(selectorOf(pdb), podLabels), `${label}: the PDB selects the broker pods`)
    assert.equal(pdb.spec?.maxUnavailable, 1)
    const hpa = must(objs, 'HorizontalPodAutoscaler', 'fleet-broker')
    assert.deepEqual(hpa.spec?.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'fleet-broker' })

    // The broker's own config loader accepts what the chart gives it (ranges, URL forms, TLS pairs).
    const loaded = loadBrokerConfig({ ...config, FLEET_VEHICLE_TOKEN_KEY: 'from-the-secret' })
    assert.equal(loaded.host, '0.0.0.0')
    const drainMs = loaded.drainMs
    assert.equal(drainMs, Number(config.FLEET_BROKER_DRAIN_MS))
    assert.ok((pod.terminationGracePeriodSeconds ?? 30) * 1000 > drainMs + 5000,
      `${label}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} must exceed the ${drainMs} ms drain with room to close`)
  }
  // Production: one broker pod per zone at least (how many more: results/sizing.json, tested below).
  assert.ok((must(production().objs, 'HorizontalPodAutoscaler', 'fleet-broker').spec?.minReplicas ?? 0) >= 3)
})

test('production values are TLS only: no plaintext MQTT port is rendered, listened on or connected to', () => {
  const objs = production().objs
  const deployment = must(objs, 'Deployment', 'fleet-broker')
  const container = podSpec(deployment).containers[0]!
  const config = configOf(objs, container)
  assert.equal(config.FLEET_MQTT_PORT, '-1')
  assert.equal(config.FLEET_MQTT_WS_PORT, '-1')
  assert.ok(config.FLEET_TLS_CERT_FILE, 'TLS on')
  const loaded = loadBrokerConfig({ ...config, FLEET_VEHICLE_TOKEN_KEY: 'from-the-secret' })
  assert.deepEqual([loaded.mqttPort, loaded.wsPort], [-1, -1], 'the broker opens no plaintext listener')
  const plaintext = (ports: Array<{ name?: string, port?: number, containerPort?: number }> | undefined) =>
    (ports ?? []).filter(p => ['mqtt', 'mqtt-ws'].includes(p.name ?? '') || [1883, 8083].includes(Number(p.port ?? p.containerPort)))
  assert.deepEqual(plaintext(container.ports), [], 'no plaintext container port')
  for (const service of objs.filter(o => o.kind === 'Service')) assert.deepEqual(plaintext(service.spec?.ports), [], `Service ${service.metadata.name}`)
  // The commander speaks Kafka and Redis only; the broker pods consume vehicle.commands in one group.
  const commander = configOf(objs, podSpec(must(objs, 'Deployment', 'fleet-commander')).containers[0]!)
  assert.deepEqual(Object.keys(commander).filter(k => k.includes('MQTT')), [])
  assert.equal(loaded.commandGroup, 'fleet-broker-commands')
  // The api's /metrics is on its ops Service, not the public one.
  assert.ok(!must(objs, 'Service', 'fleet-api').spec?.ports?.some(p => p.name === 'ops'))
  assert.ok(must(objs, 'Service', 'fleet-api-ops').spec?.ports?.some(p => p.name === 'ops'))
})

test('every pod is non-root with a read-only root filesystem, no capabilities, probes and resources', () => {
  for (const [label, objs] of [['default', defaults().objs], ['production', production().objs]] as const) {
    for (const o of objs.filter(o => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind))) {
      const name = `${label} ${o.kind} ${o.metadata.name}`
      const pod = podSpec(o)
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${name}: runAsNonRoot`)
      assert.ok((pod.securityContext?.runAsUser ?? 0) > 0, `${name}: runAsUser`)
      assert.equal(pod.automountServiceAccountToken, false, `${name}: no API token mounted`)
      // Service fleet-api would otherwise set FLEET_API_PORT=tcp://… in every pod, and so on.
      assert.equal(pod.enableServiceLinks, false, `${name}: enableServiceLinks`)
      for (const c of pod.containers) {
        const sc = c.securityContext
        assert.equal(sc?.allowPrivilegeEscalation, false, `${name}: allowPrivilegeEscalation`)
        assert.deepEqual(sc?.capabilities?.drop, ['ALL'], `${name}: drop ALL`)
        assert.notEqual(sc?.privileged, true, `${name}: privileged`)
        // The dev Kafka image writes its config at start; everything of fleet's is read-only.
        if (componentOf(o) !== 'kafka') assert.equal(sc?.readOnlyRootFilesystem, true, `${name}: readOnlyRootFilesystem`)
        for (const kind of ['requests', 'limits'] as const) {
          assert.ok(c.resources?.[kind]?.cpu && c.resources[kind]?.memory, `${name}: resources.${kind}`)
        }
      }
      if (o.kind !== 'Deployment') continue
      const c = pod.containers[0]
      assert.ok(c)
      assert.equal(c.image, label === 'default' ? 'fleet:0.1.0' : 'registry.example.com/fleet:0.1.0')
      const ports = new Set(c.ports?.map(p => p.name))
      for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz'], ['startupProbe', '/healthz']] as const) {
        const get: Probe['httpGet'] = c[probe]?.httpGet
        assert.equal(get?.path, path, `${name}: ${probe}`)
        assert.ok(ports.has(String(get?.port)), `${name}: ${probe} on a declared port`)
      }
      assert.equal(configOf(objs, c).FLEET_BIND_HOST, '0.0.0.0', `${name}: listens beyond loopback`)
    }
  }
})

test('keys come from Secrets, settings from ConfigMaps, and a change to either rolls the pods', () => {
  const expected: Record<Service, string[]> = {
    broker: ['FLEET_VEHICLE_TOKEN_KEY'],
    scorer: [],
    commander: [],
    api: ['FLEET_API_KEYS']
  }
  for (const [label, objs, secretName] of [['default', defaults().objs, 'fleet-keys'], ['production', production().objs, 'fleet-keys']] as const) {
    const secret = find(objs, 'Secret', secretName)
    for (const svc of SERVICES) {
      const c = podSpec(must(objs, 'Deployment', `fleet-${svc}`)).containers[0]
      assert.ok(c)
      const fromSecrets = (c.env ?? []).filter(e => e.valueFrom?.secretKeyRef).map(e => e.name).sort()
      // production reaches Kafka with SCRAM: its password from the Secret kafka.sasl.passwordSecret names
      const want = [...expected[svc], ...label === 'production' ? ['FLEET_KAFKA_SASL_PASSWORD'] : []].sort()
      assert.deepEqual(fromSecrets, want, `${label} ${svc}: env from Secrets`)
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef
        assert.ok(ref, `${label} ${svc}: ${e.name} is set in plain text`)
        assert.equal(ref.name, e.name === 'FLEET_KAFKA_SASL_PASSWORD' ? 'fleet-kafka' : secretName)
        if (e.name === 'FLEET_KAFKA_SASL_PASSWORD') continue
        if (label === 'default') assert.ok(secret?.stringData?.[ref.key], `${label} ${svc}: Secret ${secretName} has no key ${ref.key}`)
      }
      const config = configOf(objs, c)
      for (const key of ['FLEET_VEHICLE_TOKEN_KEY', 'FLEET_API_KEYS']) assert.equal(config[key], undefined, `${label} ${svc}: ${key} in a ConfigMap`)
    }
  }
  const annotations = (objs: K8sObject[]) => must(objs, 'Deployment', 'fleet-broker').spec?.template?.metadata.annotations ?? {}
  const base = annotations(defaults().objs)
  const rekeyed = annotations(parse(render(['--set', 'secrets.vehicleTokenKey=another-key'])))
  const reconfigured = annotations(parse(render(['--set', 'broker.maxConnections=1000'])))
  assert.notEqual(rekeyed['checksum/keys'], base['checksum/keys'])
  assert.notEqual(reconfigured['checksum/config'], base['checksum/config'])
})

test('Services and ServiceMonitors select pods that exist, on ports their containers declare', () => {
  for (const objs of [defaults().objs, production().objs]) {
    const pods = objs.filter(o => ['Deployment', 'StatefulSet'].includes(o.kind))
    for (const service of objs.filter(o => o.kind === 'Service')) {
      const targets = pods.filter(p => selects(selectorOf(service), p.spec?.template?.metadata.labels))
      assert.equal(targets.length, 1, `Service ${service.metadata.name} selects ${targets.length} workloads`)
      const declared = new Set(targets[0] ? podSpec(targets[0]).containers.flatMap(c => c.ports?.map(p => p.name) ?? []) : [])
      for (const p of service.spec?.ports ?? []) assert.ok(declared.has(String(p.targetPort)), `Service ${service.metadata.name} port ${p.name}`)
    }
    for (const monitor of objs.filter(o => o.kind === 'ServiceMonitor')) {
      const services = objs.filter(o => o.kind === 'Service' && selects(selectorOf(monitor), o.metadata.labels))
      assert.equal(services.length, 1, `ServiceMonitor ${monitor.metadata.name} selects ${services.length} Services`)
      assert.ok(services[0]?.spec?.ports?.some(p => p.name === monitor.spec?.endpoints?.[0]?.port))
    }
  }
})

test('autoscalers stay within what the Kafka partitions can use', () => {
  const limits: Partial<Record<Service, number>> = {
    scorer: topicPartitions['vehicle.telemetry'],
    commander: topicPartitions['vehicle.commands']
  }
  for (const objs of [defaults().objs, production().objs]) {
    for (const [svc, partitions] of Object.entries(limits)) {
      const hpa = must(objs, 'HorizontalPodAutoscaler', `fleet-${svc}`)
      assert.ok((hpa.spec?.maxReplicas ?? 0) <= partitions, `${svc}: maxReplicas ${hpa.spec?.maxReplicas} > ${partitions} partitions`)
    }
  }
})

interface HpaMetric {
  type: string
  resource?: { name: string, target: { type: string, averageUtilization?: number } }
  pods?: { metric: { name: string }, target: { type: string, averageValue?: string } }
}
const brokerHpaMetrics = (objs: K8sObject[]) =>
  ((must(objs, 'HorizontalPodAutoscaler', 'fleet-broker').spec as { metrics?: HpaMetric[] }).metrics ?? [])
const mebibytes = (q: string) => {
  const m = /^(\d+)(Mi|Gi)$/.exec(q)
  assert.ok(m, `memory ${q}: expected Mi or Gi`)
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1)
}

test('the broker autoscaler scales on connected cars per pod (its own gauge) below the pod\'s cap; production values are sized from results/sizing.json', () => {
  const names = run(process.execPath, ['--import', 'tsx', 'test/helpers/metric-names.ts'])
  assert.equal(names.status, 0, names.stderr)
  const brokerMetrics = new Set((JSON.parse(names.stdout) as Record<Service, string[]>).broker)
  // Default values assume no custom metrics API: CPU only, as before.
  assert.deepEqual(brokerHpaMetrics(defaults().objs).map(m => m.resource?.name ?? m.type), ['cpu'])

  const objs = production().objs
  const metrics = brokerHpaMetrics(objs)
  const pods = metrics.find(m => m.type === 'Pods')?.pods
  assert.ok(pods, 'production: the broker scales on a Pods metric')
  assert.ok(brokerMetrics.has(pods.metric.name), `${pods.metric.name} is not a gauge the broker registers`)
  assert.equal(pods.target.type, 'AverageValue')
  const target = Number(pods.target.averageValue)
  const container = podSpec(must(objs, 'Deployment', 'fleet-broker')).containers[0]!
  const config = configOf(objs, container)
  const cap = loadBrokerConfig({ ...config, FLEET_VEHICLE_TOKEN_KEY: 'from-the-secret' }).maxConnections
  assert.ok(target < cap, `target ${target} cars per pod must be below the cap FLEET_MAX_CONNECTIONS ${cap}`)

  // What npm run sizing derived from the measured figures (docs/deploy.md, "Sizing for 100k cars").
  const sizing = JSON.parse(readFileSync(join(root, 'results/sizing.json'), 'utf8')) as {
    cars: number, pods: number, targetPerPod: number, maxConnectionsPerPod: number, memory: { requestMB: number, limitMB: number }
  }
  assert.equal(sizing.cars, 100_000)
  const hpa = must(objs, 'HorizontalPodAutoscaler', 'fleet-broker').spec!
  assert.equal(cap, sizing.maxConnectionsPerPod, 'the cap is the most cars measured in one process')
  assert.equal(target, sizing.targetPerPod)
  assert.ok((hpa.minReplicas ?? 0) >= sizing.pods, `minReplicas ${hpa.minReplicas} < ${sizing.pods} pods for ${sizing.cars} cars`)
  assert.ok(((hpa.minReplicas ?? 0) - 1) * cap >= sizing.cars, 'the fleet still fits at the cap with one pod gone')
  const memory = container.resources
  // MB as /proc and the benchmarks count them: 2^20 bytes, a Mi.
  assert.ok(mebibytes(memory?.limits?.memory ?? '0Mi') >= sizing.memory.limitMB, `limit ${memory?.limits?.memory} below the ${sizing.memory.limitMB} MB measured for a storm to the cap and a Kafka outage`)
  assert.ok(mebibytes(memory?.requests?.memory ?? '0Mi') >= sizing.memory.requestMB, `request ${memory?.requests?.memory} below the ${sizing.memory.requestMB} MB measured at the target with a Kafka outage`)

  // An alert before a pod refuses cars: 90 % of the cap (production values turn the rules on).
  const rules = ((find(objs, 'PrometheusRule', 'fleet')?.spec as { groups?: Array<{ rules: Array<{ alert: string, expr: string }> }> } | undefined)?.groups ?? []).flatMap(g => g.rules)
  const nearCap = rules.find(x => x.alert === 'FleetBrokerNearCapacity')
  assert.ok(nearCap, 'production: an alert on pods near their cap')
  assert.match(nearCap.expr, new RegExp(`fleet_broker_connections\\{.*\\}\\) > ${Math.floor(cap * 0.9)}$`))

  // Memory as a metric, and the values that cannot work.
  const withMemory = render(['--set', 'broker.autoscaling.targetMemoryUtilizationPercentage=80,broker.autoscaling.connections.enabled=true'])
  validate(withMemory, 'broker HPA on memory and connections')
  assert.deepEqual(brokerHpaMetrics(parse(withMemory)).map(m => m.resource?.name ?? m.type), ['Pods', 'memory', 'cpu'])
  const refused: Array<[string, RegExp]> = [
    ['broker.autoscaling.connections.enabled=true,broker.autoscaling.connections.targetPerPod=19000', /targetPerPod \(19000\) must be below broker\.maxConnections \(19000\)/],
    ['broker.autoscaling.targetCPUUtilizationPercentage=0', /broker\.autoscaling: no metric to scale on/],
    ['broker.env.FLEET_MAX_CONNECTIONS=1000', /set it through the chart's own value/]
  ]
  for (const [set, message] of refused) {
    const r = helm(['template', 'fleet', chart, '--set', set])
    assert.notEqual(r.status, 0, `rendered with ${set}`)
    assert.match(r.stderr, message)
  }
})

// A service that has not landed yet cannot be checked against its code: those checks are TODO.
const serviceSource = (svc: Service) => join(root, 'services', svc, 'src')
const landed = (svc: Service) => existsSync(join(serviceSource(svc), 'main.ts'))

function settingNames (dir: string): Set<string> {
  const names = new Set<string>()
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name)
      if (entry.isDirectory()) walk(p)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/['"`](FLEET_[A-Z0-9_]+)['"`]/g)) names.add(m[1] as string)
      }
    }
  }
  if (existsSync(dir)) walk(dir)
  return names
}

// services/<svc>/src/<svc>-config.ts, by the broker's convention: <svc>Settings (each with .env) and
// load<Svc>Config(env), which throws on a value it cannot use.
interface ConfigModule { settings?: Record<string, { env: string }>, load?: (env: NodeJS.ProcessEnv) => unknown }
async function configModule (svc: Service): Promise<ConfigModule> {
  const file = join(serviceSource(svc), `${svc}-config.ts`)
  if (!existsSync(file)) return {}
  const mod = await import(pathToFileURL(file).href) as Record<string, unknown>
  const cap = svc[0]?.toUpperCase() + svc.slice(1)
  return {
    settings: mod[`${svc}Settings`] as ConfigModule['settings'],
    load: typeof mod[`load${cap}Config`] === 'function' ? mod[`load${cap}Config`] as ConfigModule['load'] : undefined
  }
}

for (const svc of SERVICES) {
  test(`every setting the chart gives ${svc} is one its code reads, and its config loader accepts them`, { todo: landed(svc) ? false : `services/${svc} has not landed yet` }, async () => {
    const { settings, load } = await configModule(svc)
    const known = new Set([...settingNames(join(root, 'services/shared/src')), ...settingNames(serviceSource(svc))])
    for (const s of Object.values(settings ?? {})) known.add(s.env)
    for (const [label, objs] of [['default', defaults().objs], ['production', production().objs]] as const) {
      const c = podSpec(must(objs, 'Deployment', `fleet-${svc}`)).containers[0]
      assert.ok(c)
      const env: Record<string, string> = { ...configOf(objs, c) }
      for (const e of c.env ?? []) env[e.name] = e.value ?? `from-secret-${e.valueFrom?.secretKeyRef?.key ?? ''}`
      if (env.FLEET_REDIS_URL?.startsWith('from-secret')) env.FLEET_REDIS_URL = 'redis://from-secret:6379'
      const unknown = Object.keys(env).filter(k => !known.has(k))
      assert.deepEqual(unknown, [], `${label}: ${svc} does not read ${unknown.join(', ')}`)
      assert.deepEqual(c.command, ['node', ...svc === 'broker' ? BROKER_NODE_FLAGS : [], `dist/services/${svc}/src/main.js`])
      if (load) assert.doesNotThrow(() => load(env), `${label}: load${svc}Config refuses the chart's settings`)
    }
  })
}

// ---- extension points, Kafka and Redis options, monitoring, helm test ---------------------------

interface AnyObject { kind: string, metadata: Meta, spec?: Record<string, unknown>, data?: Record<string, string> }
const anyOf = (objs: K8sObject[]) => objs as unknown as AnyObject[]
const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map(e => [e.name, e.value ?? `secret:${e.valueFrom?.secretKeyRef?.name ?? ''}/${e.valueFrom?.secretKeyRef?.key ?? ''}`]))

// One values file with every extension point set, for every service (JSON is YAML).
const perService = (svc: Service) => ({
  priorityClassName: 'fleet-critical',
  podAnnotations: { 'example.com/team': 'cars' },
  podLabels: { 'example.com/tier': svc },
  initContainers: [{ name: 'sysctl', image: 'busybox:1.36', command: ['sh', '-c', 'true'] }],
  extraVolumes: [{ name: 'extra', configMap: { name: 'extra' } }],
  extraVolumeMounts: [{ name: 'extra', mountPath: '/etc/extra', readOnly: true }],
  spreadAcrossNodes: true,
  spreadWhenUnsatisfiable: 'DoNotSchedule',
  pdb: { enabled: true, minAvailable: 1, maxUnavailable: null }
})
const EXTENDED = JSON.stringify({
  ...Object.fromEntries(SERVICES.map(svc => [svc, perService(svc)])),
  broker: {
    ...perService('broker'),
    service: {
      type: 'LoadBalancer',
      loadBalancerClass: 'service.k8s.aws/nlb',
      loadBalancerSourceRanges: ['10.0.0.0/8', '192.168.0.0/16'],
      sessionAffinity: 'ClientIP',
      sessionAffinityTimeoutSeconds: 600,
      listeners: { mqtt: { nodePort: 31883 }, ws: { expose: false }, mqtts: { nodePort: 30883 }, wss: { separateService: true, type: 'ClusterIP', sessionAffinity: 'None' } }
    },
    tls: { secretName: 'fleet-broker-tls' }
  },
  api: { ...perService('api'), service: { type: 'LoadBalancer', loadBalancerClass: 'example.com/lb', loadBalancerSourceRanges: ['203.0.113.0/24'], nodePort: 30080 } }
})
function renderWith (valuesYaml: string, args: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-values-'))
  try {
    const file = join(dir, 'values.yaml')
    writeFileSync(file, valuesYaml)
    return render(['-f', file, ...args])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('extension points: priority class, pod labels and annotations, init containers, extra volumes, hard spreading and a PDB for every service', () => {
  const text = renderWith(EXTENDED)
  validate(text, 'extension points')
  const lint = helm(['lint', '--strict', '--kube-version', KUBE_VERSION, chart, '--set', 'broker.priorityClassName=x,scorer.spreadWhenUnsatisfiable=DoNotSchedule'])
  assert.equal(lint.status, 0, lint.stdout + lint.stderr)
  const objs = parse(text)
  for (const svc of SERVICES) {
    const d = must(objs, 'Deployment', `fleet-${svc}`)
    const pod = podSpec(d) as PodSpec & Record<string, unknown>
    const meta = d.spec?.template?.metadata
    assert.equal(pod.priorityClassName, 'fleet-critical', svc)
    assert.equal(meta?.annotations?.['example.com/team'], 'cars')
    assert.ok(meta?.annotations?.['checksum/config'], `${svc}: the chart's own annotations stay`)
    assert.equal(meta?.labels?.['example.com/tier'], svc)
    assert.deepEqual((pod.initContainers as Container[]).map(c => c.name), ['sysctl'])
    assert.ok((pod.volumes as Array<{ name: string }>).some(v => v.name === 'extra'))
    assert.ok((pod.containers[0] as Container & { volumeMounts: Array<{ name: string, mountPath: string }> }).volumeMounts.some(m => m.name === 'extra' && m.mountPath === '/etc/extra'))
    const spread = pod.topologySpreadConstraints as Array<{ whenUnsatisfiable: string, topologyKey: string }>
    assert.deepEqual(spread.map(t => [t.topologyKey, t.whenUnsatisfiable]), [['kubernetes.io/hostname', 'DoNotSchedule'], ['topology.kubernetes.io/zone', 'DoNotSchedule']])
    const pdb = must(objs, 'PodDisruptionBudget', `fleet-${svc}`)
    assert.ok(selects(selectorOf(pdb), meta?.labels), `${svc}: the PDB selects its pods`)
    assert.equal((pdb.spec as { minAvailable?: number }).minAvailable, 1)
  }
})

test('the broker Service per listener: node ports, a hidden port, a listener on its own Service, load balancer class, source ranges and session affinity', () => {
  const objs = parse(renderWith(EXTENDED))
  const shared = anyOf(objs).find(o => o.kind === 'Service' && o.metadata.name === 'fleet-broker')?.spec as Record<string, unknown> & { ports: Array<{ name: string, port: number, nodePort?: number }> }
  assert.ok(shared)
  assert.deepEqual(shared.ports.map(p => [p.name, p.port, p.nodePort]), [['mqtt', 1883, 31883], ['mqtts', 8883, 30883]], 'ws hidden, wss on its own Service')
  assert.equal(shared.type, 'LoadBalancer')
  assert.equal(shared.loadBalancerClass, 'service.k8s.aws/nlb')
  assert.deepEqual(shared.loadBalancerSourceRanges, ['10.0.0.0/8', '192.168.0.0/16'])
  assert.equal(shared.sessionAffinity, 'ClientIP')
  assert.deepEqual(shared.sessionAffinityConfig, { clientIP: { timeoutSeconds: 600 } })
  const wss = anyOf(objs).find(o => o.kind === 'Service' && o.metadata.name === 'fleet-broker-wss')?.spec as Record<string, unknown> & { ports: Array<{ name: string }> }
  assert.ok(wss, 'wss has a Service of its own')
  assert.equal(wss.type, 'ClusterIP')
  assert.equal(wss.sessionAffinity, undefined, 'the listener\'s own sessionAffinity wins')
  assert.equal(wss.loadBalancerClass, undefined, 'no load balancer fields on a ClusterIP Service')
  assert.deepEqual(wss.ports.map(p => p.name), ['mqtt-wss'])
  const container = podSpec(must(objs, 'Deployment', 'fleet-broker')).containers[0]!
  assert.ok(container.ports?.some(p => p.name === 'mqtt-ws'), 'a hidden listener still listens in the pod')
  const api = anyOf(objs).find(o => o.kind === 'Service' && o.metadata.name === 'fleet-api')?.spec as Record<string, unknown> & { ports: Array<{ nodePort?: number }> }
  assert.deepEqual([api.loadBalancerClass, api.loadBalancerSourceRanges, api.ports[0]?.nodePort], ['example.com/lb', ['203.0.113.0/24'], 30080])
})

test('with kafka.brokers and redis.url set, the chart deploys no dev Kafka, dev Redis, dev keys or development mode', () => {
  const external = ['--set', 'kafka.brokers=k0:9092\\,k1:9092,redis.url=redis://r:6379']
  // the default values otherwise: the keys must now be given (or come from a Secret)
  const r = helm(['template', 'fleet', chart, ...external])
  assert.notEqual(r.status, 0)
  assert.match(r.stderr, /secrets\.vehicleTokenKey is required with secrets\.create outside development mode/)
  const objs = parse(render([...external, '--set', 'secrets.vehicleTokenKey=a-key,secrets.apiKeys=ops:operator:a-real-key']))
  assert.deepEqual(objs.filter(o => o.kind === 'StatefulSet').map(o => o.metadata.name), [], 'no dev Kafka or Redis')
  assert.equal(must(objs, 'Secret', 'fleet-keys').stringData?.['api-keys'], 'ops:operator:a-real-key')
  for (const svc of SERVICES) {
    const config = configOf(objs, podSpec(must(objs, 'Deployment', `fleet-${svc}`)).containers[0]!)
    assert.equal(config.FLEET_DEV_MODE, undefined, `${svc}: no development mode`)
    assert.equal(config.FLEET_KAFKA_BROKERS, 'k0:9092,k1:9092')
  }
  // devMode: auto stays on while the release runs one of its own dev stores
  const half = parse(render(['--set', 'kafka.brokers=k0:9092']))
  assert.deepEqual(half.filter(o => o.kind === 'StatefulSet').map(componentOf), ['redis'])
  assert.equal(configOf(half, podSpec(must(half, 'Deployment', 'fleet-api')).containers[0]!).FLEET_DEV_MODE, '1')
  // and published development keys are refused once it is off
  const refused = helm(['template', 'fleet', chart, ...external, '--set', 'secrets.vehicleTokenKey=k,secrets.apiKeys=fleet-dev-operator-key'])
  assert.match(refused.stderr, /secrets\.apiKeys holds a published development secret/)
})

test('helm lint fails on production values without Kafka or Redis (values.schema.json)', () => {
  const prod = ['-f', join(chart, 'values-production.yaml')]
  for (const [args, message] of [
    [[...prod, '--set', 'redis.url=redis://r:6379'], /kafka\/brokers': minLength/],
    [[...prod, '--set', 'kafka.brokers=k:9092'], /at '\/redis'/],
    [['--set', 'devKafka.enabled=false'], /kafka\/brokers': minLength/]
  ] as const) {
    const r = helm(['lint', '--strict', chart, ...args])
    assert.notEqual(r.status, 0, `helm lint ${args.join(' ')} passed`)
    assert.match(r.stdout + r.stderr, message)
  }
})

test('Kafka over TLS and SCRAM from values; Strimzi KafkaTopics (replicas, min ISR, kept on delete) and a KafkaUser instead of the Job', () => {
  const strimzi = [...PRODUCTION, '--set', 'kafka.strimzi.cluster=events,kafka.strimzi.user=true,kafka.sasl.passwordSecret.name=,kafka.sasl.username=', '--set', 'kafkaTopics.replicationFactor=3,kafkaTopics.minInsyncReplicas=2']
  const text = render(strimzi)
  validate(text, 'strimzi')
  const objs = anyOf(parse(text))
  assert.equal(objs.find(o => o.kind === 'Job'), undefined, 'the Topic Operator makes the topics')
  const topics = objs.filter(o => o.kind === 'KafkaTopic')
  assert.deepEqual(Object.fromEntries(topics.map(t => [t.spec?.topicName, t.spec?.partitions])), topicPartitions, 'the partitions of services/shared/src/topics.ts')
  for (const t of topics) {
    assert.equal(t.metadata.labels?.['strimzi.io/cluster'], 'events')
    assert.equal(t.metadata.annotations?.['helm.sh/resource-policy'], 'keep', 'deleting the release must not delete the data')
    assert.equal(t.spec?.replicas, 3)
    assert.deepEqual(t.spec?.config, { 'min.insync.replicas': 2 })
  }
  const user = objs.find(o => o.kind === 'KafkaUser')
  assert.ok(user)
  assert.equal(user.metadata.name, 'fleet')
  assert.deepEqual(user.spec?.authentication, { type: 'scram-sha-512' })
  const broker = podSpec(must(parse(text), 'Deployment', 'fleet-broker')).containers[0]!
  assert.equal(envOf(broker).FLEET_KAFKA_SASL_PASSWORD, 'secret:fleet/password', 'the password Strimzi\'s User Operator writes')
  const config = configOf(parse(text), broker)
  assert.deepEqual([config.FLEET_KAFKA_SASL_MECHANISM, config.FLEET_KAFKA_SASL_USERNAME, config.FLEET_KAFKA_TLS], ['scram-sha-512', 'fleet', 'true'])
  // a SCRAM user per service (docs/kafka-security.md), the others keep the shared one
  const own = parse(render([...PRODUCTION, '--set', 'kafka.sasl.services.broker.username=fleet-broker,kafka.sasl.services.broker.passwordSecret.name=fleet-kafka-broker']))
  for (const svc of SERVICES) {
    const c = podSpec(must(own, 'Deployment', `fleet-${svc}`)).containers[0]!
    const [user, secret] = svc === 'broker' ? ['fleet-broker', 'secret:fleet-kafka-broker/password'] : ['fleet', 'secret:fleet-kafka/password']
    assert.equal(configOf(own, c).FLEET_KAFKA_SASL_USERNAME, user, svc)
    assert.equal(envOf(c).FLEET_KAFKA_SASL_PASSWORD, secret, svc)
  }
  // the CA Secret is mounted where FLEET_KAFKA_CA_FILE points, in every fleet pod
  for (const d of [...parse(render(PRODUCTION)).filter(o => ['Deployment', 'Job'].includes(o.kind))]) {
    const pod = podSpec(d) as PodSpec & { volumes?: Array<{ name: string, secret?: { secretName: string } }> }
    assert.equal(pod.volumes?.find(v => v.name === 'kafka-ca')?.secret?.secretName, 'fleet-kafka-ca', `${d.metadata.name}: the Kafka CA`)
  }
})

test('cert-manager: a Certificate whose Secret the broker mounts, with the in-cluster names', () => {
  const text = render([...PRODUCTION, '--set', 'broker.tls.secretName=,broker.tls.certManager.enabled=true,broker.tls.certManager.issuerRef.name=fleet-ca,broker.tls.certManager.dnsNames[0]=mqtt.example.com'])
  validate(text, 'cert-manager')
  const crd = run('bash', ['scripts/tools.sh', 'validate-crd', tool('CERTIFICATE_CRD'), '-'], { input: text })
  assert.equal(crd.status, 0, `Certificate against cert-manager's CRD:\n${crd.stderr}`)
  assert.match(crd.stdout, /1 Certificate checked/)
  const objs = parse(text)
  const cert = anyOf(objs).find(o => o.kind === 'Certificate')
  assert.ok(cert)
  assert.equal(cert.spec?.secretName, 'fleet-broker-tls')
  assert.deepEqual(cert.spec?.dnsNames, ['mqtt.example.com', 'fleet-broker', 'fleet-broker.fleet.svc'])
  const pod = podSpec(must(objs, 'Deployment', 'fleet-broker')) as PodSpec & { volumes?: Array<{ name: string, secret?: { secretName: string } }> }
  assert.equal(pod.volumes?.find(v => v.name === 'tls')?.secret?.secretName, 'fleet-broker-tls')
  assert.equal(configOf(objs, pod.containers[0]!).FLEET_TLS_CERT_FILE, '/etc/fleet/tls/tls.crt')
})

test('alerts (PrometheusRule) and the Grafana dashboard use only metrics the services register', () => {
  const text = render([...PRODUCTION, '--set', 'monitoring.prometheusRule.enabled=true,monitoring.grafanaDashboard.enabled=true'])
  const r = run('bash', ['scripts/tools.sh', 'validate-crd', tool('PROMETHEUSRULE_CRD'), '-'], { input: text })
  assert.equal(r.status, 0, `PrometheusRule against its CRD:\n${r.stderr}`)
  assert.match(r.stdout, /1 PrometheusRule checked/)
  const names = run(process.execPath, ['--import', 'tsx', 'test/helpers/metric-names.ts'])
  assert.equal(names.status, 0, names.stderr)
  const registered = JSON.parse(names.stdout) as Record<Service, string[]>
  const known = new Set(Object.values(registered).flat())
  const used = (expr: string) => [...expr.matchAll(/\b(fleet_[a-z0-9_]+)/g)].map(m => m[1] as string)
  const objs = anyOf(parse(text))

  const rule = objs.find(o => o.kind === 'PrometheusRule')
  assert.ok(rule)
  const rules = (rule.spec?.groups as Array<{ rules: Array<{ alert: string, expr: string }> }>).flatMap(g => g.rules)
  const byAlert = Object.fromEntries(rules.map(x => [x.alert, x.expr]))
  for (const { alert, expr } of rules) {
    assert.ok(used(expr).length > 0, `${alert}: no fleet metric`)
    for (const m of used(expr)) assert.ok(known.has(m), `${alert}: ${m} is registered by no service`)
  }
  // what the issue asks to be alerted on, each by the metric that shows it
  for (const [what, metric] of [['consumer lag', 'fleet_scorer_consumer_lag'], ['PUBACK latency', 'fleet_broker_ingest_ack_seconds_bucket'], ['backpressure', 'fleet_broker_backpressure'],
    ['DLQ rate', 'fleet_broker_dlq_total'], ['refused connects', 'fleet_broker_connects_total'], ['pod restarts', 'fleet_process_start_time_seconds']] as const) {
    assert.ok(Object.values(byAlert).some(e => used(e).includes(metric)), `no alert on ${what} (${metric})`)
  }
  // the series exist where the alert looks for them: the ops Service's job, in the release namespace
  assert.match(byAlert.FleetScorerLag ?? '', /job="fleet-scorer-ops"/)
  assert.match(byAlert.FleetScorerLag ?? '', /namespace="fleet"/)

  const board = objs.find(o => o.kind === 'ConfigMap' && o.metadata.name === 'fleet-grafana-dashboard')
  assert.ok(board)
  assert.equal(board.metadata.labels?.grafana_dashboard, '1', 'the label Grafana\'s sidecar looks for')
  const dashboard = JSON.parse(board.data?.['fleet.json'] ?? '') as { uid: string, panels: Array<{ title: string, targets?: Array<{ expr: string }> }> }
  assert.match(dashboard.uid, /^fleet-[0-9a-f]{12}$/)
  const targets = dashboard.panels.flatMap(p => (p.targets ?? []).map(t => [p.title, t.expr] as const))
  assert.ok(targets.length >= 15)
  for (const [title, expr] of targets) {
    assert.ok(used(expr).length > 0, `panel ${title}: no fleet metric`)
    for (const m of used(expr)) assert.ok(known.has(m), `panel ${title}: ${m} is registered by no service`)
  }
  for (const svc of SERVICES) assert.ok(targets.some(([, e]) => e.includes(`$release-${svc}-ops`)), `no panel on ${svc}`)
})

test('helm test: a pod that checks each listener the broker Service offers, with the settings scripts/chart-test.ts reads', () => {
  const script = readFileSync(join(root, 'scripts/chart-test.ts'), 'utf8')
  const reads = new Set([...script.matchAll(/['"](FLEET_[A-Z0-9_]+)['"]/g)].map(m => m[1]))
  for (const [label, args, urls] of [
    ['default', [], ['mqtt://fleet-broker:1883', 'ws://fleet-broker:8083']],
    ['production', PRODUCTION, ['mqtts://fleet-broker:8883', 'wss://fleet-broker:8084']],
    ['a hidden and a separate listener', ['--set', 'broker.tls.secretName=t,broker.service.listeners.ws.expose=false,broker.service.listeners.wss.separateService=true'], ['mqtt://fleet-broker:1883', 'mqtts://fleet-broker:8883', 'wss://fleet-broker-wss:8084']]
  ] as const) {
    const text = render([...args])
    validate(text, `helm test ${label}`)
    const objs = parse(text)
    const pod = must(objs, 'Pod', 'fleet-helm-test')
    assert.equal(pod.metadata.annotations?.['helm.sh/hook'], 'test')
    const spec = pod.spec as unknown as PodSpec
    const c = spec.containers[0]!
    assert.deepEqual(c.command, ['node', 'dist/scripts/chart-test.js'])
    assert.ok(existsSync(join(root, 'scripts/chart-test.ts')))
    const env = envOf(c)
    assert.deepEqual(env.FLEET_CHART_TEST_URLS?.split(','), urls, label)
    for (const name of Object.keys(env)) {
      assert.ok(reads.has(name) || ['FLEET_KAFKA_BROKERS', 'FLEET_KAFKA_CLIENT_ID', 'FLEET_KAFKA_TLS', 'FLEET_KAFKA_CA_FILE', 'FLEET_KAFKA_SASL_MECHANISM', 'FLEET_KAFKA_SASL_USERNAME', 'FLEET_KAFKA_SASL_PASSWORD', 'FLEET_REDIS_URL'].includes(name), `${label}: the test pod sets ${name}, which nothing reads`)
    }
    if (label !== 'default') assert.equal(env.FLEET_CHART_TEST_CA_FILE, '/etc/fleet/broker-ca/ca.crt')
    if (label === 'production') assert.equal(env.FLEET_KAFKA_SASL_PASSWORD, 'secret:fleet-kafka/password')
    const services = new Set(objs.filter(o => o.kind === 'Service').map(o => `${o.metadata.name}:${o.spec?.ports?.map(p => p.port).join(':')}`))
    for (const url of urls) {
      const { hostname, port } = new URL(url)
      assert.ok([...services].some(s => s.startsWith(`${hostname}:`) && s.split(':').includes(port)), `${label}: ${url} is no Service port`)
    }
  }
  assert.equal(find(parse(render(['--set', 'tests.enabled=false'])), 'Pod', 'fleet-helm-test'), undefined)
})

test('docs/deploy.md\'s table against the EMQX and HiveMQ charts: every fleet "yes" names values keys that exist and that this file renders', () => {
  const doc = readFileSync(join(root, 'docs/deploy.md'), 'utf8')
  const table = /<!-- chart-table:start -->([\s\S]*?)<!-- chart-table:end -->/.exec(doc)?.[1] ?? ''
  const rows = table.split('\n').filter(l => l.startsWith('| ') && !l.startsWith('| feature') && !l.startsWith('|---'))
  assert.ok(rows.length >= 15, 'the table is there')
  const valuesJson = run(tool('PYTHON'), ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: readFileSync(join(chart, 'values.yaml'), 'utf8') })
  const values = JSON.parse(valuesJson.stdout) as Record<string, unknown>
  const self = readFileSync(fileURLToPath(import.meta.url), 'utf8')
  for (const row of rows) {
    const [feature = '', fleet = ''] = row.split('|').slice(1).map(c => c.trim())
    assert.match(fleet, /^yes\b/, `${feature}: fleet's column says ${fleet}`)
    const named = [...fleet.matchAll(/`([A-Za-z][\w.]*)`/g)].map(m => m[1] as string)
    // a chart file (values.schema.json) instead of a key: it must exist
    for (const file of named.filter(k => k.endsWith('.json'))) assert.ok(existsSync(join(chart, file)), `${feature}: no ${file}`)
    const keys = named.filter(k => !k.endsWith('.json'))
    assert.ok(named.length > 0, `${feature}: no values key named`)
    for (const key of keys) {
      const value = key.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], values)
      assert.notEqual(value, undefined, `${feature}: ${key} is not in values.yaml`)
      const last = key.split('.').at(-1) as string
      assert.ok(self.includes(key) || self.includes(last), `${feature}: ${key} is rendered by no test here`)
    }
  }
})

// ---- skaffold ----------------------------------------------------------------------------------

/** FLEET_KAFKA_BROKERS and FLEET_REDIS_URL of docs/deploy.md's `skaffold run -p production` command, shell quotes removed. */
function docsSkaffoldCommand (): { brokers: string, redisUrl: string } {
  const doc = readFileSync(join(root, 'docs/deploy.md'), 'utf8')
  const m = /FLEET_KAFKA_BROKERS=('[^']*'|\S+) FLEET_REDIS_URL=(\S+) \\\n\s*skaffold run -p production/.exec(doc)
  assert.ok(m, 'docs/deploy.md has the production skaffold command')
  return { brokers: (m[1] as string).replace(/^'|'$/g, ''), redisUrl: m[2] as string }
}

test('docs/deploy.md\'s multi-broker skaffold command keeps every broker (what skaffold hands helm --set)', () => {
  const { brokers, redisUrl } = docsSkaffoldCommand()
  // skaffold passes setValueTemplates as `--set key=value`, one argument, no shell
  const text = render(['-f', join(chart, 'values-production.yaml'), '--set', `kafka.brokers=${brokers}`, '--set', `redis.url=${redisUrl}`])
  const config = must(parse(text), 'ConfigMap', 'fleet-broker').data ?? {}
  assert.equal(config.FLEET_KAFKA_BROKERS, 'kafka-0.kafka:9092,kafka-1.kafka:9092')
  // unescaped, helm splits the value: the failure the issue reported
  const r = helm(['template', 'fleet', chart, '-f', join(chart, 'values-production.yaml'), '--set', `kafka.brokers=${brokers.replace(/\\,/g, ',')}`, '--set', `redis.url=${redisUrl}`])
  assert.notEqual(r.status, 0)
  assert.match(r.stderr, /key "kafka:9092" has no value|has no value/)
})

test('skaffold.yaml matches skaffold v2.16.1\'s v4beta13 schema, with each profile applied', () => {
  tool('SKAFFOLD_SCHEMA')
  const r = run('bash', ['scripts/tools.sh', 'validate-skaffold', join(root, 'skaffold.yaml')])
  assert.equal(r.status, 0, r.stderr)
  const text = readFileSync(join(root, 'skaffold.yaml'), 'utf8')
  assert.match(text, /image\.reference: "\{\{\.IMAGE_FULLY_QUALIFIED_fleet\}\}"/, 'the chart gets the built image')
  assert.match(text, /chartPath: charts\/fleet/)
  assert.match(text, /- name: local\b/)
})

const skaffold = toolPaths.SKAFFOLD
test('skaffold diagnoses the config and renders the chart for each profile (optional skaffold binary)', {
  // CI builds it and sets FLEET_TEST_REQUIRE_OPTIONAL=1: there a missing binary fails the test instead of skipping it.
  skip: (skaffold && existsSync(skaffold)) || requireOptional ? false : 'no skaffold binary: scripts/tools.sh skaffold builds it (~6 min; see results/tmp/tools-skaffold.log)'
}, () => {
  const bin = mkdtempSync(join(tmpdir(), 'fleet-skaffold-'))
  try {
    symlinkSync(tool('HELM'), join(bin, 'helm'))
    // the multi-broker command docs/deploy.md gives (helm --set splits at unescaped commas)
    const { brokers, redisUrl } = docsSkaffoldCommand()
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, FLEET_KAFKA_BROKERS: brokers, FLEET_REDIS_URL: redisUrl }
    const sk = (args: string[]) => run(skaffold as string, [...args, '--interactive=false', '--update-check=false'], { env })
    const diagnose = sk(['diagnose', '--yaml-only'])
    assert.equal(diagnose.status, 0, diagnose.stderr)
    for (const profile of ['', 'local', 'production']) {
      const r = sk(['render', '--offline=true', '--digest-source=tag', '-t', 'dev', ...(profile ? ['-p', profile] : [])])
      assert.equal(r.status, 0, `skaffold render ${profile}:\n${r.stderr}`)
      validate(r.stdout, `skaffold render ${profile || '(default)'}`)
      const objs = parse(r.stdout)
      for (const d of objs.filter(o => o.kind === 'Deployment')) assert.equal(podSpec(d).containers[0]?.image, 'fleet:dev')
      const hpas = objs.filter(o => o.kind === 'HorizontalPodAutoscaler').length
      assert.equal(hpas, profile === 'local' ? 0 : 4, `${profile}: autoscalers`)
      if (profile === 'production') assert.equal(must(objs, 'ConfigMap', 'fleet-broker').data?.FLEET_KAFKA_BROKERS, 'kafka-0.kafka:9092,kafka-1.kafka:9092')
    }
  } finally {
    rmSync(bin, { recursive: true, force: true })
  }
})

// ---- Dockerfile (no Docker engine here: the build is replayed as far as it goes without one) ----

interface Instruction { op: string, args: string }
function dockerfile (): Instruction[] {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
  return text.split('\n').map(l => l.trim()).filter(l => l && !l.startsWith('#'))
    .map(l => { const [op = '', ...rest] = l.split(/\s+/); return { op: op.toUpperCase(), args: rest.join(' ') } })
}

// .dockerignore as Docker reads it: the last matching line wins, a pattern also matches the
// files under a directory it matches, `!` re-includes.
function dockerignore (): (path: string) => boolean {
  const rules = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map(l => l.trim())
    .filter(l => l && !l.startsWith('#'))
    .map(l => {
      const negate = l.startsWith('!')
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '')
      const source = pattern.split(/(\*\*\/|\*\*|\*|\?)/).map(part =>
        part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')).join('')
      return { negate, re: new RegExp(`^${source}$`) }
    })
  return (path: string) => {
    const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'))
    let excluded = false
    for (const rule of rules) if (prefixes.some(p => rule.re.test(p))) excluded = !rule.negate
    return excluded
  }
}

function contextFiles (): string[] {
  const excluded = dockerignore()
  const files: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const rel = dir ? `${dir}/${entry.name}` : entry.name
      if (entry.isDirectory()) {
        if (entry.name === '.git' || entry.name === 'node_modules') continue
        walk(rel)
      } else if (!excluded(rel)) files.push(rel)
    }
  }
  walk('')
  return files
}

test('the Dockerfile: COPY sources are in the build context, one non-root runtime stage, a service as the command', () => {
  const steps = dockerfile()
  const excluded = dockerignore()
  const stages: string[] = []
  for (const { op, args } of steps) {
    if (op === 'FROM') {
      const m = /\bAS\s+(\S+)/i.exec(args)
      stages.push(m?.[1] ?? '')
    }
    if (op !== 'COPY') continue
    const words = args.split(/\s+/)
    const from = words.find(w => w.startsWith('--from='))?.slice('--from='.length)
    const paths = words.filter(w => !w.startsWith('--'))
    if (from) {
      assert.ok(stages.slice(0, -1).includes(from), `COPY --from=${from}: no earlier stage of that name`)
      continue
    }
    for (const src of paths.slice(0, -1)) {
      if (src === '.') continue
      assert.ok(existsSync(join(root, src)), `COPY ${src}: not in the repo`)
      assert.ok(!excluded(src), `COPY ${src}: excluded by .dockerignore`)
    }
  }
  assert.ok(stages.length >= 2, 'multi-stage')
  const runtime = steps.slice(steps.map(s => s.op).lastIndexOf('FROM'))
  const user = runtime.filter(s => s.op === 'USER').at(-1)?.args
  assert.ok(user && !['root', '0', '0:0'].includes(user), `runtime USER ${user ?? '(none)'}`)
  assert.ok(runtime.some(s => s.op === 'RUN' && /npm ci\b.*--omit=dev/.test(s.args)), 'runtime installs production dependencies only')
  const cmd = JSON.parse(runtime.find(s => s.op === 'CMD')?.args ?? '[]') as string[]
  assert.equal(cmd[0], 'node')
  assert.deepEqual(cmd.slice(1, -1), BROKER_NODE_FLAGS, 'the broker (the default) with the flags the benchmarks measured')
  assert.ok(existsSync(join(root, (cmd.at(-1) ?? '').replace(/^dist\//, '').replace(/\.js$/, '.ts'))), `CMD ${cmd.join(' ')}: no source`)
  for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'services/shared/src/config.ts']) {
    assert.ok(!excluded(path), `${path} must be in the build context`)
  }
  for (const path of ['node_modules/x', 'dist/x.js', '.git/HEAD', 'test/readme.test.ts', 'services/broker/src/admission.test.ts']) {
    assert.ok(excluded(path), `${path} must stay out of the build context`)
  }
})

test('the image: Node 24, the native scorer backend (tfjs-node) built as scripts/build-tfjs-node.sh does, TensorFlow.js trimmed to what Node runs', () => {
  const steps = dockerfile()
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8')
  assert.match(text, /^ARG NODE_IMAGE=node:24-bookworm-slim$/m)
  assert.match(text, /^ARG NODE_BUILD_IMAGE=node:24-bookworm$/m)
  const runtime = steps.slice(steps.map(s => s.op).lastIndexOf('FROM'))
  assert.ok(runtime.some(s => s.op === 'RUN' && /npm ci --omit=dev.*prune-tfjs\.sh node_modules/.test(s.args)), 'the runtime prunes its node_modules')
  assert.ok(steps.some(s => s.op === 'RUN' && /build-tfjs-node\.sh/.test(s.args)), 'tfjs-node is built by the project\'s script')
  const env = runtime.find(s => s.op === 'ENV' && s.args.startsWith('FLEET_SCORER_TFJS_NODE_DIR='))?.args.split('=')[1]
  assert.ok(env && runtime.some(s => s.op === 'COPY' && s.args.includes('--from=tfjs-node') && s.args.endsWith(` ${env}`)), 'the scorer finds the tfjs-node the image copies')
  assert.ok(text.includes(`tfjs-node-${TFJS_NODE_VERSION}`), 'the version the scorer expects')
})

test('scripts/prune-tfjs.sh leaves a TensorFlow.js that scores on wasm, without WebGL or browser bundles', () => {
  const work = mkdtempSync(join(tmpdir(), 'fleet-prune-'))
  try {
    const modules = join(work, 'node_modules')
    cpSync(join(root, 'node_modules/@tensorflow'), join(modules, '@tensorflow'), { recursive: true })
    for (const entry of readdirSync(join(root, 'node_modules'))) {
      if (entry !== '@tensorflow' && entry !== '.bin') symlinkSync(join(root, 'node_modules', entry), join(modules, entry))
    }
    const r = run('bash', ['scripts/prune-tfjs.sh', modules])
    assert.equal(r.status, 0, r.stderr)
    const mb = Number(/: (\d+) MB/.exec(r.stderr + r.stdout)?.[1])
    assert.ok(mb > 0 && mb < 20, `@tensorflow after pruning: ${mb} MB`)
    assert.ok(!existsSync(join(modules, '@tensorflow/tfjs/dist/tf.min.js')), 'browser bundles gone')
    writeFileSync(join(work, 'check.mjs'), `
      const tf = await import('@tensorflow/tfjs')
      await import('@tensorflow/tfjs-backend-wasm')
      if (!await tf.setBackend('wasm')) throw new Error('wasm did not initialise')
      const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [18], units: 7, activation: 'tanh' }), tf.layers.dense({ units: 18 })] })
      const out = model.predict(tf.ones([4096, 18]), { batchSize: 4096 })
      console.log(JSON.stringify({ backend: tf.getBackend(), rows: out.shape[0], backends: Object.keys(tf.engine().registryFactory) }))`)
    const check = run(process.execPath, ['check.mjs'], { cwd: work })
    assert.equal(check.status, 0, check.stderr)
    assert.deepEqual(JSON.parse(check.stdout), { backend: 'wasm', rows: 4096, backends: ['cpu', 'wasm'] })
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
})

test('the image build replayed: tsc compiles the build context alone, and the runtime imports only production dependencies', () => {
  const work = mkdtempSync(join(tmpdir(), 'fleet-image-'))
  try {
    for (const f of contextFiles()) cpSync(join(root, f), join(work, f), { recursive: true })
    symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'))
    const build = run('npm', ['run', 'build', '--silent'], { cwd: work })
    assert.equal(build.status, 0, `npm run build in the build context:\n${build.stdout}${build.stderr}`)

    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }
    const production = new Set(Object.keys(pkg.dependencies ?? {}))
    const builtins = new Set(builtinModules)
    const entries = [
      ...SERVICES.filter(landed).map(s => `dist/services/${s}/src/main.js`),
      'dist/scripts/kafka-topics.js', // the chart's topics Job
      'dist/scripts/provision-vehicle.js', // docs/deploy.md provisions cars with it
      'dist/scripts/chart-test.js' // the chart's helm test pod
    ]
    const seen = new Set<string>()
    const missing: string[] = []
    const visit = (file: string) => {
      if (seen.has(file)) return
      seen.add(file)
      assert.ok(existsSync(file) && statSync(file).isFile(), `${relative(work, file)} was not built`)
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(/(?:^|[;\n])\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const spec = (m[1] ?? m[2] ?? m[3]) as string
        if (spec.startsWith('.')) visit(join(dirname(file), spec))
        else {
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string)
          if (!builtins.has(spec.replace(/^node:/, '')) && !builtins.has(name) && !production.has(name)) missing.push(`${relative(work, file)} imports ${spec}`)
        }
      }
    }
    for (const e of entries) visit(join(work, e))
    assert.deepEqual(missing, [], 'not in dependencies, so not in the image (npm ci --omit=dev)')
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
})
