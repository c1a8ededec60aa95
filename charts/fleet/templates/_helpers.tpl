{{/* Names, labels and the pieces every fleet Deployment shares. */}}

{{- define "fleet.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fleet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* fleet.component: "<fullname>-<component>"; call with (dict "root" $ "component" "broker"). */}}
{{- define "fleet.component" -}}
{{- printf "%s-%s" (include "fleet.fullname" .root) .component -}}
{{- end -}}

{{- define "fleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fleet.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "fleet.labels" -}}
{{ include "fleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: fleet
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "fleet.image" -}}
{{- if .Values.image.reference -}}
{{- .Values.image.reference -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "fleet.kafkaBrokers" -}}
{{- if .Values.kafka.brokers -}}
{{- .Values.kafka.brokers -}}
{{- else if .Values.devKafka.enabled -}}
{{- printf "%s-kafka:9092" (include "fleet.fullname" .) -}}
{{- else -}}
{{- fail "kafka.brokers is required (or devKafka.enabled=true for a development Kafka)" -}}
{{- end -}}
{{- end -}}

{{/* Empty when the URL comes from a Secret (redis.urlSecret). */}}
{{- define "fleet.redisUrl" -}}
{{- if .Values.redis.urlSecret.name -}}
{{- else if .Values.redis.url -}}
{{- .Values.redis.url -}}
{{- else if .Values.devRedis.enabled -}}
{{- printf "redis://%s-redis:6379" (include "fleet.fullname" .) -}}
{{- else -}}
{{- fail "redis.url or redis.urlSecret is required (or devRedis.enabled=true for a development Redis)" -}}
{{- end -}}
{{- end -}}

{{- define "fleet.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.secrets.create -}}
{{- printf "%s-keys" (include "fleet.fullname" .) -}}
{{- else -}}
{{- fail "secrets.existingSecret is required when secrets.create=false" -}}
{{- end -}}
{{- end -}}

{{- define "fleet.serviceAccountName" -}}
{{- if .root.Values.serviceAccounts.create -}}
{{- include "fleet.component" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{/*
fleet.settings: what the chart derives for one service from its own values (ports, drain, peers);
<service>.env cannot override these. Call with (dict "root" $ "component" "broker").
*/}}
{{- define "fleet.settings" -}}
{{- $root := .root -}}
{{- $v := index $root.Values .component -}}
{{- if eq .component "broker" }}
FLEET_MQTT_PORT: {{ $v.mqttPort | quote }}
FLEET_MQTT_WS_PORT: {{ $v.wsPort | quote }}
FLEET_BROKER_OPS_PORT: {{ $v.opsPort | quote }}
FLEET_BROKER_DRAIN_MS: {{ $v.drainMs | quote }}
{{- if $v.tls.secretName }}
FLEET_TLS_CERT_FILE: /etc/fleet/tls/tls.crt
FLEET_TLS_KEY_FILE: /etc/fleet/tls/tls.key
FLEET_TLS_CA_FILE: /etc/fleet/tls/ca.crt
FLEET_TLS_CLIENT_AUTH: {{ $v.tls.clientAuth | quote }}
FLEET_MQTTS_PORT: {{ $v.tls.mqttsPort | quote }}
FLEET_MQTT_WSS_PORT: {{ $v.tls.wssPort | quote }}
{{- end }}
{{- else if eq .component "scorer" }}
FLEET_SCORER_OPS_PORT: {{ $v.opsPort | quote }}
{{- else if eq .component "commander" }}
FLEET_COMMANDER_OPS_PORT: {{ $v.opsPort | quote }}
{{- $brokerHost := include "fleet.component" (dict "root" $root "component" "broker") }}
{{- /* Without the plaintext listener the commander uses MQTTS (and trusts the broker's CA, commander.yaml). */}}
{{- $brokerUrl := ge (int $root.Values.broker.mqttPort) 0 | ternary (printf "mqtt://%s:%v" $brokerHost $root.Values.broker.mqttPort) (printf "mqtts://%s:%v" $brokerHost $root.Values.broker.tls.mqttsPort) }}
FLEET_COMMANDER_MQTT_URL: {{ $v.mqttUrl | default $brokerUrl | quote }}
{{- if $root.Values.broker.tls.secretName }}
FLEET_COMMANDER_MQTT_CA_FILE: /etc/fleet/broker-ca/ca.crt
{{- end }}
{{- else if eq .component "api" }}
FLEET_API_PORT: {{ $v.port | quote }}
FLEET_API_OPS_PORT: {{ $v.opsPort | quote }}
{{- end }}
{{- end -}}

{{/*
fleet.config: every setting of one service, as ConfigMap data: the shared ones (bind address,
log level, Kafka, Redis), then <service>.env, then fleet.settings.
*/}}
{{- define "fleet.config" -}}
{{- $root := .root -}}
{{- $settings := include "fleet.settings" . | fromYaml | default dict -}}
{{- $data := dict "FLEET_BIND_HOST" "0.0.0.0" "FLEET_LOG_LEVEL" $root.Values.logLevel "FLEET_KAFKA_BROKERS" (include "fleet.kafkaBrokers" $root) "FLEET_KAFKA_CLIENT_ID" $root.Values.kafka.clientId -}}
{{- with include "fleet.redisUrl" $root }}{{ $_ := set $data "FLEET_REDIS_URL" . }}{{ end -}}
{{- if $root.Values.devMode }}{{ $_ := set $data "FLEET_DEV_MODE" "1" }}{{ end -}}
{{- range $k, $v := (index $root.Values .component).env -}}
{{- if hasKey $settings $k -}}
{{- fail (printf "%s.env.%s: set it through the chart's own value, not env" $.component $k) -}}
{{- end -}}
{{- $_ := set $data $k $v -}}
{{- end -}}
{{- range $k, $v := $settings }}{{ $_ := set $data $k $v }}{{ end -}}
{{- range $k, $v := $data }}
{{ $k }}: {{ $v | toString | quote }}
{{- end -}}
{{- end -}}

{{/* Env vars read from Secrets: (dict "root" $ "keys" (dict "ENV_NAME" "secret-key")). */}}
{{- define "fleet.secretEnv" -}}
{{- $root := .root -}}
{{- range $env, $key := .keys }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "fleet.secretName" $root }}
      key: {{ $key }}
{{- end }}
{{- if $root.Values.redis.urlSecret.name }}
- name: FLEET_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.redis.urlSecret.name }}
      key: {{ required "redis.urlSecret.key is required" $root.Values.redis.urlSecret.key }}
{{- end }}
{{- end -}}

{{/* Pod-level fields every fleet Deployment shares: (dict "root" $ "component" "broker"). */}}
{{- define "fleet.podCommon" -}}
{{- $values := index .root.Values .component -}}
serviceAccountName: {{ include "fleet.serviceAccountName" . }}
automountServiceAccountToken: false
# Service links would put FLEET_API_PORT=tcp://… (from Service fleet-api) and the like into
# every pod: names of fleet's own settings.
enableServiceLinks: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $values.spreadAcrossNodes }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "fleet.selectorLabels" . | nindent 8 }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "fleet.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/* Container-level fields every fleet container shares: (dict "root" $ "component" "broker" "port" "ops"). */}}
{{- define "fleet.containerCommon" -}}
{{- $values := index .root.Values .component -}}
image: {{ include "fleet.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
command: {{ concat (list "node") ($values.nodeFlags | default list) (list (printf "dist/services/%s/src/main.js" .component)) | toJson }}
securityContext:
  {{- toYaml .root.Values.containerSecurityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "fleet.component" . }}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
resources:
  {{- toYaml $values.resources | nindent 2 }}
{{- end -}}

{{/* The Deployment's replicas when no HPA owns them. */}}
{{- define "fleet.replicas" -}}
{{- $values := index .root.Values .component -}}
{{- if not $values.autoscaling.enabled }}
replicas: {{ $values.replicas }}
{{- end }}
{{- end -}}

{{- define "fleet.serviceAccount" -}}
{{- if .root.Values.serviceAccounts.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "fleet.component" . }}
  labels:
    {{- include "fleet.labels" . | nindent 4 }}
  {{- with .root.Values.serviceAccounts.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
---
{{- end }}
{{- end -}}

{{- define "fleet.hpa" -}}
{{- $values := index .root.Values .component -}}
{{- if $values.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "fleet.component" . }}
  labels:
    {{- include "fleet.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "fleet.component" . }}
  minReplicas: {{ $values.autoscaling.minReplicas }}
  maxReplicas: {{ $values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $values.autoscaling.targetCPUUtilizationPercentage }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {{ $values.autoscaling.scaleDownStabilizationSeconds }}
      policies:
        - type: Pods
          value: 1
          periodSeconds: 120
{{- end }}
{{- end -}}

{{/* Annotations that roll the pods when their settings or keys change. */}}
{{- define "fleet.checksums" -}}
checksum/config: {{ include "fleet.config" . | sha256sum }}
{{- if .root.Values.secrets.create }}
checksum/keys: {{ printf "%s/%s" .root.Values.secrets.vehicleTokenKey .root.Values.secrets.apiKeys | sha256sum }}
{{- end }}
{{- end -}}

{{/*
fleet.refuseDevSecrets: without devMode, no value may hold a secret published in this repository
(services/shared/src/dev-secrets.ts lists the same ones; the services refuse them too).
*/}}
{{- define "fleet.refuseDevSecrets" -}}
{{- if not .Values.devMode -}}
{{- $published := list "fleet-dev-signing-key-do-not-use-in-production" "fleet-dev-operator-key" "fleet-dev-read-only-key" "fleet-dev-jwt-secret-do-not-use-in-production-0000" -}}
{{- $values := dict "secrets.vehicleTokenKey" .Values.secrets.vehicleTokenKey "secrets.apiKeys" .Values.secrets.apiKeys "secrets.commanderMqttPassword" (.Values.secrets.commanderMqttPassword | default "") -}}
{{- range $component := list "broker" "scorer" "commander" "api" -}}
{{- range $k, $v := (index $.Values $component).env -}}
{{- $_ := set $values (printf "%s.env.%s" $component $k) (toString $v) -}}
{{- end -}}
{{- end -}}
{{- range $name, $value := $values -}}
{{- range $secret := $published -}}
{{- if and $value (contains $secret $value) -}}
{{- fail (printf "%s holds a published development secret (%s); with devMode: false set your own" $name $secret) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
