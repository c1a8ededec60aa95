#!/usr/bin/env bash
# Installs the tools that fleet's offline checks need, cached under ~/.cache/fleet keyed by version,
# so a second run only checks that they are there. Idempotent.
#   scripts/tools.sh deploy          helm (built from the Go module proxy), kubernetes-validate and
#                                    jsonschema (PyPI venv), skaffold's JSON schema; then checks
#                                    skaffold.yaml against that schema
#   scripts/tools.sh deploy-paths    prints NAME=path for each deploy tool without installing
#   scripts/tools.sh skaffold        builds the skaffold binary too (optional, ~5 min cold)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOTOOLCHAIN=local GOFLAGS=${GOFLAGS:--buildvcs=false}

HELM_VERSION=v3.22.0
SKAFFOLD_VERSION=v2.16.1
SKAFFOLD_SCHEMA=v4beta13
KUBERNETES_VALIDATE_VERSION=1.37.0
JSONSCHEMA_VERSION=4.26.0
PYYAML_VERSION=6.0.3

cache=${FLEET_CACHE_DIR:-$HOME/.cache/fleet}
bin_dir=${FLEET_BIN_DIR:-$cache/bin}
venv=$cache/venv-deploy-kv$KUBERNETES_VALIDATE_VERSION-js$JSONSCHEMA_VERSION
helm_bin=$bin_dir/helm-$HELM_VERSION
skaffold_bin=$bin_dir/skaffold-$SKAFFOLD_VERSION
schema_dir=$cache/skaffold-schema-$SKAFFOLD_VERSION
schema=$schema_dir/$SKAFFOLD_SCHEMA.json

log() { echo "[tools] $*" >&2; }
need_go() { command -v go >/dev/null || { log "go is not installed"; exit 1; }; }

# A throw-away module: `go install X@v` fails whenever the filtered proxy refuses a version list.
scratch_module() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/fleet-tools.XXXXXX")
  (cd "$dir" && go mod init fleet-tools >/dev/null 2>&1)
  echo "$dir"
}

build_helm() {
  [ -x "$helm_bin" ] && return
  need_go
  log "building helm $HELM_VERSION (takes minutes)"
  local started dir k8s major minor
  started=$(date +%s)
  dir=$(scratch_module)
  trap 'rm -rf "$dir"' RETURN
  (cd "$dir" && go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" 2>&1 | grep -v '^go: \(downloading\|added\|upgraded\)' >&2 || true)
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

# skaffold's config schema ships in its module zip; `go mod download` needs no build.
fetch_skaffold_schema() {
  [ -s "$schema" ] && return
  need_go
  log "downloading skaffold $SKAFFOLD_VERSION module for its $SKAFFOLD_SCHEMA schema"
  local dir
  dir=$(scratch_module)
  trap 'rm -rf "$dir"' RETURN
  local moddir
  moddir=$(cd "$dir" && go mod download -json "github.com/GoogleContainerTools/skaffold/v2@$SKAFFOLD_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$schema_dir"
  cp "$moddir/docs-v2/content/en/schemas/$SKAFFOLD_SCHEMA.json" "$schema.tmp.$$"
  mv "$schema.tmp.$$" "$schema"
}

build_skaffold() {
  [ -x "$skaffold_bin" ] && return
  need_go
  log "building skaffold $SKAFFOLD_VERSION (takes ~5 minutes)"
  local started dir moddir
  started=$(date +%s)
  dir=$(scratch_module)
  trap 'rm -rf "$dir"' RETURN
  moddir=$(cd "$dir" && go mod download -json "github.com/GoogleContainerTools/skaffold/v2@$SKAFFOLD_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  # skaffold's own replace/exclude directives must be in the main module to take effect.
  awk '/^(replace|exclude) \(/{blk=1} blk{print} blk&&/^\)/{blk=0; next} !blk&&/^(replace|exclude) /{print}' \
    "$moddir/go.mod" >>"$dir/go.mod"
  (cd "$dir" && go get "github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold@$SKAFFOLD_VERSION" 2>&1 | grep -v '^go: \(downloading\|added\|upgraded\)' >&2 || true)
  mkdir -p "$bin_dir"
  local ld="-s -w -X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=$SKAFFOLD_VERSION"
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$skaffold_bin.tmp.$$" \
    github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold)
  mv "$skaffold_bin.tmp.$$" "$skaffold_bin"
  log "skaffold $SKAFFOLD_VERSION built in $(( $(date +%s) - started ))s"
}

check_skaffold_yaml() {
  "$venv/bin/python" "$root/scripts/check-skaffold-schema.py" "$schema" "$root/skaffold.yaml"
}

paths() {
  echo "HELM=$helm_bin"
  echo "KUBERNETES_VALIDATE=$venv/bin/kubernetes-validate"
  echo "PYTHON=$venv/bin/python"
  echo "SKAFFOLD_SCHEMA=$schema"
  echo "SKAFFOLD=$skaffold_bin"
}

case ${1:-} in
  deploy)
    build_helm
    install_venv
    fetch_skaffold_schema
    check_skaffold_yaml
    paths
    ;;
  deploy-paths) paths ;;
  skaffold)
    build_skaffold
    paths
    ;;
  *)
    echo "usage: scripts/tools.sh deploy | deploy-paths | skaffold" >&2
    exit 2
    ;;
esac
