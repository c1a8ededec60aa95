// loadtest/k6/testrun-100k.yaml, checked without a cluster: the PVC, Jobs and CronJob validated
// against Kubernetes 1.33's schemas (kubernetes-validate --strict), the TestRun against
// k6-operator's own CRD (v0.0.19 from the Go module proxy; unknown fields refused, as --strict
// does), and the wiring a verdict depends on: every runner setting is one cars.ts reads, the
// credentials the provisioning Job writes and the summaries the verdict reads are on the volume
// the runners mount, the fleet sizes agree, MQTT goes over TLS with a mounted CA.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const manifest = readFileSync(join(root, 'loadtest/k6/testrun-100k.yaml'), 'utf8')
const K6_OPERATOR = 'github.com/grafana/k6-operator@v0.0.19'

function run (cmd: string, args: string[], input?: string) {
  const r = spawnSync(cmd, args, { cwd: root, input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GOTOOLCHAIN: 'local' } })
  if (r.error) throw r.error
  return r
}
const tools: Record<string, string> = Object.fromEntries(run('bash', ['scripts/tools.sh', 'deploy-paths']).stdout.trim().split('\n').map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
const missing = ['PYTHON', 'KUBERNETES_VALIDATE'].find(t => tools[t] === undefined || !existsSync(tools[t]!))
const skip = missing !== undefined && process.env.FLEET_TEST_REQUIRE_OPTIONAL !== '1' ? `deploy tools not installed (${missing}): scripts/tools.sh deploy` : false

type Obj = Record<string, any>
const docs = (): Obj[] => {
  const r = run(tools.PYTHON!, ['-c', 'import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)'], manifest)
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout) as Obj[]
}
const byKind = (all: Obj[], kind: string) => all.filter(d => d.kind === kind)

test('the PVC, provisioning Job and verdict CronJob are valid Kubernetes 1.33 objects', { skip }, () => {
  const plain = docs().filter(d => d.kind !== 'TestRun')
  assert.deepEqual(plain.map(d => d.kind).sort(), ['CronJob', 'Job', 'PersistentVolumeClaim'])
  const r = run(tools.KUBERNETES_VALIDATE!, ['--quiet', '-k', '1.33.0', '--strict', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: plain }))
  assert.equal(r.status, 0, `kubernetes-validate refused it:\n${r.stdout}${r.stderr}`)
})

test('the TestRun is valid against k6-operator\'s TestRun CRD (unknown fields refused)', { skip }, () => {
  const mod = run('go', ['mod', 'download', '-json', K6_OPERATOR])
  assert.equal(mod.status, 0, `go mod download ${K6_OPERATOR}: ${mod.stdout}${mod.stderr}`)
  const crd = join((JSON.parse(mod.stdout) as { Dir: string }).Dir, 'config/crd/bases/k6.io_testruns.yaml')
  const [testRun] = byKind(docs(), 'TestRun')
  assert.ok(testRun !== undefined)
  const check = `
import json, sys, yaml, jsonschema
crd = yaml.safe_load(open(sys.argv[1]))
version = next(v for v in crd['spec']['versions'] if v['name'] == 'v1alpha1')
schema = version['schema']['openAPIV3Schema']
def strict(s):
    if isinstance(s, dict):
        if 'properties' in s and 'additionalProperties' not in s and not s.get('x-kubernetes-preserve-unknown-fields'):
            s['additionalProperties'] = False
        for v in s.values(): strict(v)
    elif isinstance(s, list):
        for v in s: strict(v)
strict(schema)
doc = json.load(sys.stdin)
errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]
print('\\n'.join(errors)); sys.exit(1 if errors else 0)`
  const r = run(tools.PYTHON!, ['-c', check, crd], JSON.stringify(testRun))
  assert.equal(r.status, 0, `the TestRun does not match the CRD:\n${r.stdout}${r.stderr}`)
  // The check refuses what the CRD does not know (a misspelt field would be dropped by the API server).
  const typo = run(tools.PYTHON!, ['-c', check, crd], JSON.stringify({ ...testRun, spec: { ...testRun.spec, runner: { ...testRun.spec.runner, volumeMount: [] } } }))
  assert.equal(typo.status, 1, 'an unknown field must fail the check')
})

test('the runners, the provisioning Job and the verdict agree: settings, volume, fleet size, TLS', { skip }, () => {
  const all = docs()
  const [testRun] = byKind(all, 'TestRun')
  const [provision] = byKind(all, 'Job')
  const [cronJob] = byKind(all, 'CronJob')
  const [pvc] = byKind(all, 'PersistentVolumeClaim')
  const runner = testRun!.spec.runner
  const env = Object.fromEntries((runner.env as Obj[]).map(e => [e.name, e.value])) as Record<string, string>
  // Every setting given to the runners is one cars.ts reads (a misspelt one would be ignored).
  const carsTs = readFileSync(join(root, 'loadtest/k6/cars.ts'), 'utf8')
  const read = new Set([...carsTs.matchAll(/(?:str|num|seconds)\('([A-Z0-9_]+)'/g), ...carsTs.matchAll(/__ENV\.([A-Z0-9_]+)/g)].map(m => m[1]!))
  for (const name of Object.keys(env)) assert.ok(read.has(name) || name === 'GOGC', `runner env ${name} is not read by cars.ts`)

  // The volume every step shares.
  const claim = pvc!.metadata.name as string
  assert.ok(pvc!.spec.accessModes.includes('ReadWriteMany'), 'the runners on separate nodes share the volume')
  const mountOf = (spec: Obj, mounts: Obj[], path: string) => {
    const m = mounts.find(v => path.startsWith(`${v.mountPath as string}/`))
    assert.ok(m !== undefined, `${path} is on no mounted volume`)
    return (spec.volumes as Obj[]).find(v => v.name === m.name)!
  }
  assert.equal(mountOf(runner, runner.volumeMounts, env.CREDENTIALS_FILE!).persistentVolumeClaim?.claimName, claim)
  assert.equal(mountOf(runner, runner.volumeMounts, env.SUMMARY_DIR!).persistentVolumeClaim?.claimName, claim, 'the summaries outlive the runners (cleanup: post)')
  const provisionPod = provision!.spec.template.spec
  const provisionContainer = provisionPod.containers[0]
  const script = (provisionContainer.args as string[]).join(' ')
  assert.ok(script.includes(`mv /data/credentials.tmp ${env.CREDENTIALS_FILE!}`), 'the Job writes the file the runners read, whole')
  assert.equal(mountOf(provisionPod, provisionContainer.volumeMounts, env.CREDENTIALS_FILE!).persistentVolumeClaim?.claimName, claim)
  assert.match(script, /provision-vehicle\.js --bulk "\$CARS" --prefix k6-car --first 1/)
  assert.equal((provisionContainer.env as Obj[]).find(e => e.name === 'CARS')?.value, env.CARS, 'as many cars provisioned as driven')
  assert.ok(script.includes(`mkdir -p ${env.SUMMARY_DIR!}`) && script.includes(`rm -f ${env.SUMMARY_DIR!}/*.json`), 'no summaries of an earlier run')
  const initWait = (runner.initContainers as Obj[]).find(c => (c.command as string[]).join(' ').includes(env.CREDENTIALS_FILE!))
  assert.ok(initWait !== undefined, 'runners wait for the credentials')

  const verdictPod = cronJob!.spec.jobTemplate.spec.template.spec
  assert.equal(cronJob!.spec.suspend, true, 'the verdict runs once, by hand, after the test')
  const verdict = verdictPod.containers[0]
  assert.equal(verdict.command[0], 'k6-verdict')
  assert.equal(verdict.command.at(-1), env.SUMMARY_DIR)
  assert.equal(mountOf(verdictPod, verdict.volumeMounts, env.SUMMARY_DIR!).persistentVolumeClaim?.claimName, claim)
  assert.equal(cronJob!.spec.jobTemplate.spec.backoffLimit, 0, 'a failed verdict is not retried into a pass')

  // Fleet size: whole VUs, split evenly over the runners, 5,000 cars per runner (README: why).
  const cars = Number(env.CARS)
  const vus = cars / Number(env.CARS_PER_VU)
  assert.ok(Number.isInteger(vus) && vus % testRun!.spec.parallelism === 0)
  assert.equal(cars / testRun!.spec.parallelism, 5_000)
  // MQTT over TLS through the public address, verified against a mounted CA; a storm is planned.
  assert.equal(env.FLEET_MQTT_PORT, '8883')
  assert.ok(mountOf(runner, runner.volumeMounts, env.TLS_CA_FILE!).secret?.secretName)
  assert.ok(env.STORM_AT !== undefined && env.STORM_RECONNECT_P99_MS !== undefined)
})
