#!/usr/bin/env bash
# Installs the tools that fleet's offline checks need, cached under ~/.cache/fleet keyed by version,
# so a second run only checks that they are there. Idempotent.
#   scripts/tools.sh deploy          helm (built from the Go module proxy), kubernetes-validate and
#                                    jsonschema (PyPI venv), skaffold's JSON schema, the CRDs of
#                                    ServiceMonitor, PrometheusRule and cert-manager's Certificate;
#                                    then checks skaffold.yaml against that schema
#   scripts/tools.sh deploy-paths    prints NAME=path for each deploy tool without installing
#   scripts/tools.sh skaffold        builds the skaffold binary too (optional, ~5 min cold)
#   scripts/tools.sh validate-skaffold FILE          FILE against skaffold's config schema
#   scripts/tools.sh validate-crd CRD_FILE MANIFESTS  objects of the CRD's kind against its schema,
#                                                     unknown fields refused
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOTOOLCHAIN=local GOFLAGS=${GOFLAGS:--buildvcs=false}

HELM_VERSION=v3.22.0
SKAFFOLD_VERSION=v2.16.1
SKAFFOLD_SCHEMA=v4beta13
KUBERNETES_VALIDATE_VERSION=1.37.0
JSONSCHEMA_VERSION=4.26.0
PYYAML_VERSION=6.0.3
# The ServiceMonitor and PrometheusRule CRDs (monitoring.coreos.com/v1) ship in this module's example/ folder.
PROMETHEUS_OPERATOR_VERSION=v0.85.0
# The cert-manager Certificate CRD (its deploy/crds/ files parse as YAML: the Helm markers are in
# comments and strings).
CERT_MANAGER_VERSION=v1.16.3

cache=${FLEET_CACHE_DIR:-$HOME/.cache/fleet}
bin_dir=${FLEET_BIN_DIR:-$cache/bin}
venv=$cache/venv-deploy-kv$KUBERNETES_VALIDATE_VERSION-js$JSONSCHEMA_VERSION
helm_bin=$bin_dir/helm-$HELM_VERSION
skaffold_bin=$bin_dir/skaffold-$SKAFFOLD_VERSION
schema_dir=$cache/skaffold-schema-$SKAFFOLD_VERSION
schema=$schema_dir/$SKAFFOLD_SCHEMA.json
crd_dir=$cache/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION
servicemonitor_crd=$crd_dir/monitoring.coreos.com_servicemonitors.yaml
prometheusrule_crd=$crd_dir/monitoring.coreos.com_prometheusrules.yaml
certificate_crd=$cache/cert-manager-crds-$CERT_MANAGER_VERSION/crd-certificates.yaml

log() { echo "[tools] $*" >&2; }
need_go() { command -v go >/dev/null || { log "go is not installed"; exit 1; }; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fleet-tools.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A throw-away module: `go install X@v` fails whenever the filtered proxy refuses a version list.
scratch_module() {
  local dir
  dir=$(mktemp -d "$work/module.XXXXXX")
  (cd "$dir" && go mod init fleet-tools >/dev/null 2>&1)
  echo "$dir"
}

# go get in a throw-away module, quiet unless it fails.
go_get() {
  local out
  if ! out=$(cd "$1" && go get "$2" 2>&1); then
    echo "$out" >&2
    log "go get $2 failed"
    exit 1
  fi
}

build_helm() {
  [ -x "$helm_bin" ] && return
  need_go
  log "building helm $HELM_VERSION (takes minutes)"
  local started dir k8s major minor
  started=$(date +%s)
  dir=$(scratch_module)
  go_get "$dir" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  # The same ldflags as helm's Makefile: version, and the Kubernetes version that `helm template`
  # and `helm lint` assume, taken from the client-go it is built with (v0.N -> 1.N).
  k8s=$(cd "$dir" && go list -f '{{.Version}}' -m k8s.io/client-go)
  major=1
  minor=$(echo "$k8s" | cut -d. -f2)
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ld+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  ld+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  ld+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
  mkdir -p "$bin_dir"
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$helm_bin.tmp.$$" helm.sh/helm/v3/cmd/helm)
  mv "$helm_bin.tmp.$$" "$helm_bin"
  log "helm $HELM_VERSION built in $(( $(date +%s) - started ))s"
}

install_venv() {
  [ -f "$venv/.complete" ] && return
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and jsonschema into $venv"
  local started
  started=$(date +%s)
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "jsonschema==$JSONSCHEMA_VERSION" "PyYAML==$PYYAML_VERSION"
  touch "$venv/.complete"
  log "venv ready in $(( $(date +%s) - started ))s"
}

# The folder of a module version in the module cache (downloaded from the proxy if needed).
module_dir() {
  local dir
  dir=$(scratch_module)
  (cd "$dir" && go mod download -json "$1" || true) | python3 -c '
import json, sys
info = json.load(sys.stdin)
if "Dir" not in info:
    sys.exit("go mod download %s: %s" % (sys.argv[1], info.get("Error", "no module folder")))
print(info["Dir"])' "$1"
}

# skaffold's config schema ships in its module zip; `go mod download` needs no build.
fetch_skaffold_schema() {
  [ -s "$schema" ] && return
  need_go
  log "downloading skaffold $SKAFFOLD_VERSION module for its $SKAFFOLD_SCHEMA schema"
  local moddir
  moddir=$(module_dir "github.com/GoogleContainerTools/skaffold/v2@$SKAFFOLD_VERSION")
  mkdir -p "$schema_dir"
  cp "$moddir/docs-v2/content/en/schemas/$SKAFFOLD_SCHEMA.json" "$schema.tmp.$$"
  mv "$schema.tmp.$$" "$schema"
}

fetch_servicemonitor_crd() {
  [ -s "$servicemonitor_crd" ] && [ -s "$prometheusrule_crd" ] && return
  need_go
  log "downloading prometheus-operator $PROMETHEUS_OPERATOR_VERSION module for the ServiceMonitor and PrometheusRule CRDs"
  local moddir f
  moddir=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  mkdir -p "$crd_dir"
  for f in "$servicemonitor_crd" "$prometheusrule_crd"; do
    cp "$moddir/example/prometheus-operator-crd/$(basename "$f")" "$f.tmp.$$"
    mv "$f.tmp.$$" "$f"
  done
}

fetch_certificate_crd() {
  [ -s "$certificate_crd" ] && return
  need_go
  log "downloading cert-manager $CERT_MANAGER_VERSION module for the Certificate CRD"
  local moddir
  moddir=$(module_dir "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION")
  mkdir -p "$(dirname "$certificate_crd")"
  cp "$moddir/deploy/crds/crd-certificates.yaml" "$certificate_crd.tmp.$$"
  mv "$certificate_crd.tmp.$$" "$certificate_crd"
}

build_skaffold() {
  [ -x "$skaffold_bin" ] && return
  need_go
  log "building skaffold $SKAFFOLD_VERSION (takes ~5 minutes)"
  local started dir moddir
  started=$(date +%s)
  moddir=$(module_dir "github.com/GoogleContainerTools/skaffold/v2@$SKAFFOLD_VERSION")
  dir=$(scratch_module)
  # skaffold's own replace/exclude directives must be in the main module to take effect.
  awk '/^(replace|exclude) \(/{blk=1} blk{print} blk&&/^\)/{blk=0; next} !blk&&/^(replace|exclude) /{print}' \
    "$moddir/go.mod" >>"$dir/go.mod"
  go_get "$dir" "github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold@$SKAFFOLD_VERSION"
  mkdir -p "$bin_dir"
  local ld="-s -w -X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=$SKAFFOLD_VERSION"
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$skaffold_bin.tmp.$$" \
    github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold)
  mv "$skaffold_bin.tmp.$$" "$skaffold_bin"
  log "skaffold $SKAFFOLD_VERSION built in $(( $(date +%s) - started ))s"
}

# JSON-schema checks in the venv's Python (jsonschema, PyYAML). Modes:
#   skaffold SCHEMA FILE      every document of FILE against #/definitions/SkaffoldConfig
#   crd CRD FILE              every object of the CRD's kinds in FILE against its openAPIV3Schema,
#                             with unknown fields refused (as the API server's strict validation)
read -r -d '' VALIDATE_PY <<'PY' || true
import copy, json, sys
import jsonschema, yaml

def docs(path):
    with (sys.stdin if path == '-' else open(path)) as f:
        return [d for d in yaml.safe_load_all(f) if d]

def report(label, validator, doc):
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    for e in errors:
        where = '/'.join(str(p) for p in e.absolute_path) or '(root)'
        print(f'{label}: {where}: {e.message[:300]}', file=sys.stderr)
    return len(errors)

def strict(node):
    # Structural schemas prune unknown fields; refuse them instead, as a typo would be lost.
    if isinstance(node, dict):
        node = {k: strict(v) for k, v in node.items()}
        if 'properties' in node and 'additionalProperties' not in node \
                and not node.get('x-kubernetes-preserve-unknown-fields'):
            node['additionalProperties'] = False
        return node
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node

def overlay(base, top):
    # A profile's fields override the config's: structs field by field, lists whole.
    if isinstance(base, dict) and isinstance(top, dict):
        out = dict(base)
        for k, v in top.items():
            out[k] = overlay(base.get(k), v)
        return out
    return copy.deepcopy(top)

def patch(doc, ops):
    # The JSON Patch subset skaffold profiles use: add, replace, remove.
    for op in ops:
        keys = [k.replace('~1', '/').replace('~0', '~') for k in op['path'].split('/')[1:]]
        parent = doc
        for k in keys[:-1]:
            parent = parent[int(k)] if isinstance(parent, list) else parent[k]
        last = keys[-1]
        if isinstance(parent, list):
            index = len(parent) if last == '-' else int(last)
            if op['op'] == 'add':
                parent.insert(index, copy.deepcopy(op['value']))
            elif op['op'] == 'replace':
                parent[index] = copy.deepcopy(op['value'])
            else:
                del parent[index]
        elif op['op'] in ('add', 'replace'):
            if op['op'] == 'replace' and last not in parent:
                raise KeyError(op['path'])
            parent[last] = copy.deepcopy(op['value'])
        else:
            del parent[last]
    return doc

mode, schema_path, target = sys.argv[1:4]
failures = 0
if mode == 'skaffold':
    schema = json.load(open(schema_path))
    version = 'skaffold/' + schema_path.rsplit('/', 1)[-1].removesuffix('.json')
    root = {'$schema': schema['$schema'], 'definitions': schema['definitions'],
            '$ref': '#/definitions/SkaffoldConfig'}
    validator = jsonschema.Draft7Validator(root)
    for i, doc in enumerate(docs(target)):
        label = f'{target}[{i}] {doc.get("metadata", {}).get("name", "")}'
        if doc.get('apiVersion') != version:
            print(f'{label}: apiVersion {doc.get("apiVersion")!r}, schema is {version}', file=sys.stderr)
            failures += 1
        failures += report(label, validator, doc)
        # Each profile applied, as skaffold would: its fields over the config, then its patches.
        for profile in doc.get('profiles', []):
            applied = {k: v for k, v in doc.items() if k != 'profiles'}
            fields = {k: v for k, v in profile.items() if k not in ('name', 'activation', 'patches', 'requiresAllActivations')}
            try:
                applied = patch(overlay(applied, fields), profile.get('patches', []))
            except (KeyError, IndexError, ValueError, TypeError) as e:
                print(f'{label} profile {profile.get("name")}: patch does not apply: {e!r}', file=sys.stderr)
                failures += 1
                continue
            failures += report(f'{label} profile {profile.get("name")}', validator, applied)
elif mode == 'crd':
    crd = docs(schema_path)[0]
    group, kind = crd['spec']['group'], crd['spec']['names']['kind']
    schemas = {f'{group}/{v["name"]}': strict(v['schema']['openAPIV3Schema']) for v in crd['spec']['versions']}
    seen = 0
    for doc in docs(target):
        if doc.get('kind') != kind:
            continue
        seen += 1
        label = f'{kind} {doc.get("metadata", {}).get("name", "")}'
        schema = schemas.get(doc.get('apiVersion'))
        if schema is None:
            print(f'{label}: apiVersion {doc.get("apiVersion")} is not served by the CRD', file=sys.stderr)
            failures += 1
            continue
        body = copy.deepcopy(doc)
        body.pop('metadata', None)  # checked by the API server, not by the CRD schema
        failures += report(label, jsonschema.Draft4Validator(schema), body)
    print(f'{seen} {kind} checked')
else:
    sys.exit(f'unknown mode {mode}')
sys.exit(1 if failures else 0)
PY

validate() {
  [ -x "$venv/bin/python" ] || { log "run scripts/tools.sh deploy first"; exit 1; }
  "$venv/bin/python" -c "$VALIDATE_PY" "$@"
}

check_skaffold_yaml() {
  validate skaffold "$schema" "$root/skaffold.yaml"
  log "skaffold.yaml matches skaffold $SKAFFOLD_VERSION's $SKAFFOLD_SCHEMA schema"
}

paths() {
  echo "HELM=$helm_bin"
  echo "KUBERNETES_VALIDATE=$venv/bin/kubernetes-validate"
  echo "PYTHON=$venv/bin/python"
  echo "SKAFFOLD_SCHEMA=$schema"
  echo "SERVICEMONITOR_CRD=$servicemonitor_crd"
  echo "PROMETHEUSRULE_CRD=$prometheusrule_crd"
  echo "CERTIFICATE_CRD=$certificate_crd"
  echo "SKAFFOLD=$skaffold_bin"
}

case ${1:-} in
  deploy)
    build_helm
    install_venv
    fetch_skaffold_schema
    fetch_servicemonitor_crd
    fetch_certificate_crd
    check_skaffold_yaml
    paths
    ;;
  validate-skaffold) validate skaffold "$schema" "${2:?file}" ;;
  validate-crd) validate crd "${2:?crd file}" "${3:?manifests file or -}" ;;
  deploy-paths) paths ;;
  skaffold)
    build_skaffold
    paths
    ;;
  *)
    echo "usage: scripts/tools.sh deploy | deploy-paths | skaffold | validate-skaffold FILE | validate-crd CRD FILE" >&2
    exit 2
    ;;
esac
