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

{{/* "true" when the release runs its own dev Kafka: devKafka.enabled and no kafka.brokers. */}}
{{- define "fleet.devKafka" -}}
{{- if and .Values.devKafka.enabled (not .Values.kafka.brokers) }}true{{ end -}}
{{- end -}}

{{/* "true" when the release runs its own dev Redis: devRedis.enabled and no redis.url or urlSecret. */}}
{{- define "fleet.devRedis" -}}
{{- if and .Values.devRedis.enabled (not .Values.redis.url) (not .Values.redis.urlSecret.name) }}true{{ end -}}
{{- end -}}

{{/* "true" in development mode: devMode true, or auto while the release runs a dev Kafka or Redis. */}}
{{- define "fleet.devMode" -}}
{{- $mode := toString .Values.devMode -}}
{{- if or (eq $mode "true") (and (eq $mode "auto") (or (include "fleet.devKafka" .) (include "fleet.devRedis" .))) }}true{{ end -}}
{{- end -}}

{{- define "fleet.kafkaBrokers" -}}
{{- if .Values.kafka.brokers -}}
{{- .Values.kafka.brokers -}}
{{- else if include "fleet.devKafka" . -}}
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
{{- else if include "fleet.devRedis" . -}}
{{- printf "redis://%s-redis:6379" (include "fleet.fullname" .) -}}
{{- else -}}
{{- fail "redis.url or redis.urlSecret is required (or devRedis.enabled=true for a development Redis)" -}}
{{- end -}}
{{- end -}}

{{/* Kafka's SASL password Secret: kafka.sasl.passwordSecret, else the Strimzi KafkaUser's. */}}
{{- define "fleet.kafkaPasswordSecret" -}}
{{- $k := .Values.kafka -}}
{{- if $k.sasl.passwordSecret.name -}}
{{- toJson (dict "name" $k.sasl.passwordSecret.name "key" ($k.sasl.passwordSecret.key | default "password")) -}}
{{- else if and $k.strimzi.cluster $k.strimzi.user -}}
{{- toJson (dict "name" (include "fleet.kafkaUser" .) "key" "password") -}}
{{- end -}}
{{- end -}}

{{- define "fleet.kafkaUser" -}}
{{- .Values.kafka.sasl.username | default (include "fleet.fullname" .) -}}
{{- end -}}

{{/* Kafka connection settings every fleet process takes (ConfigMap data or env values). */}}
{{- define "fleet.kafkaSettings" -}}
{{- $k := .Values.kafka -}}
{{- $mechanism := $k.sasl.mechanism -}}
{{- if and $k.strimzi.cluster $k.strimzi.user (eq $mechanism "none") }}{{ $mechanism = "scram-sha-512" }}{{ end -}}
{{- $s := dict "FLEET_KAFKA_BROKERS" (include "fleet.kafkaBrokers" .) "FLEET_KAFKA_CLIENT_ID" $k.clientId -}}
{{- if or $k.tls.enabled (ne $mechanism "none") }}{{ $_ := set $s "FLEET_KAFKA_TLS" "true" }}{{ end -}}
{{- if $k.tls.caSecret.name }}{{ $_ := set $s "FLEET_KAFKA_CA_FILE" "/etc/fleet/kafka-ca/ca.crt" }}{{ end -}}
{{- if ne $mechanism "none" -}}
{{- $_ := set $s "FLEET_KAFKA_SASL_MECHANISM" $mechanism -}}
{{- $_ := set $s "FLEET_KAFKA_SASL_USERNAME" (include "fleet.kafkaUser" .) -}}
{{- if not (include "fleet.kafkaPasswordSecret" .) }}{{ fail "kafka.sasl.passwordSecret.name is required with a SASL mechanism (or kafka.strimzi.user)" }}{{ end -}}
{{- end -}}
{{- toJson $s -}}
{{- end -}}

{{/* Env entries for pods that do not read a service ConfigMap (topics Job, helm test). */}}
{{- define "fleet.kafkaEnv" -}}
{{- range $k, $v := include "fleet.kafkaSettings" . | fromJson }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- with include "fleet.kafkaPasswordSecret" . }}
{{- $ref := fromJson . }}
- name: FLEET_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- end }}
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
FLEET_MAX_CONNECTIONS: {{ $v.maxConnections | quote }}
FLEET_BROKER_DRAIN_RATE_PER_S: {{ $v.drainRatePerS | quote }}
FLEET_BROKER_COMMAND_GROUP: {{ $v.commandGroup | quote }}
{{- if include "fleet.brokerTlsSecret" $root }}
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
{{- $data := merge (dict "FLEET_BIND_HOST" "0.0.0.0" "FLEET_LOG_LEVEL" $root.Values.logLevel) (include "fleet.kafkaSettings" $root | fromJson) -}}
{{- with include "fleet.redisUrl" $root }}{{ $_ := set $data "FLEET_REDIS_URL" . }}{{ end -}}
{{- with $root.Values.redis.sentinels }}{{ $_ := set $data "FLEET_REDIS_SENTINELS" . }}{{ $_ := set $data "FLEET_REDIS_SENTINEL_NAME" $root.Values.redis.sentinelName }}{{ end -}}
{{- with dig "sasl" "services" .component "username" "" $root.Values.kafka }}
{{- if hasKey $data "FLEET_KAFKA_SASL_USERNAME" }}{{ $_ := set $data "FLEET_KAFKA_SASL_USERNAME" . }}{{ end }}
{{- end -}}
{{- if include "fleet.devMode" $root }}{{ $_ := set $data "FLEET_DEV_MODE" "1" }}{{ end -}}
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

{{/* Env vars read from Secrets: (dict "root" $ "component" "api" "keys" (dict "ENV_NAME" "secret-key")). */}}
{{- define "fleet.secretEnv" -}}
{{- $root := .root -}}
{{- range $env, $key := .keys }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "fleet.secretName" $root }}
      key: {{ $key }}
{{- end }}
{{- with include "fleet.kafkaPasswordSecret" $root }}
{{- $ref := fromJson . }}
{{- /* kafka.sasl.services.<service>: the service's own SCRAM user (docs/kafka-security.md). */}}
{{- $own := dig "sasl" "services" ($.component | default "-") "passwordSecret" dict $root.Values.kafka }}
{{- if $own.name }}{{ $ref = dict "name" $own.name "key" ($own.key | default "password") }}{{ end }}
- name: FLEET_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
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
{{- with $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- if $values.spreadAcrossNodes }}
{{- /* ScheduleAnyway prefers other nodes and zones; DoNotSchedule leaves a pod Pending rather than share. */}}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: {{ $values.spreadWhenUnsatisfiable | default "ScheduleAnyway" }}
    labelSelector:
      matchLabels:
        {{- include "fleet.selectorLabels" . | nindent 8 }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: {{ $values.spreadWhenUnsatisfiable | default "ScheduleAnyway" }}
    labelSelector:
      matchLabels:
        {{- include "fleet.selectorLabels" . | nindent 8 }}
{{- end }}
{{- with $values.initContainers }}
initContainers:
  {{- toYaml . | nindent 2 }}
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
{{- $a := $values.autoscaling -}}
{{- if $a.enabled }}
{{- $cpu := int $a.targetCPUUtilizationPercentage }}
{{- $memory := int (dig "targetMemoryUtilizationPercentage" 0 $a) }}
{{- $connections := dig "connections" dict $a }}
{{- if $connections.enabled }}
{{- /* The HPA aims below the cap: a pod at FLEET_MAX_CONNECTIONS refuses cars (CONNACK 3) before any new pod exists. */}}
{{- if ge (int $connections.targetPerPod) (int $values.maxConnections) }}
{{- fail (printf "%s.autoscaling.connections.targetPerPod (%v) must be below %s.maxConnections (%v)" .component $connections.targetPerPod .component $values.maxConnections) }}
{{- end }}
{{- end }}
{{- if not (or (gt $cpu 0) (gt $memory 0) $connections.enabled) }}
{{- fail (printf "%s.autoscaling: no metric to scale on (CPU, memory and connections all off)" .component) }}
{{- end }}
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
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  # The HPA follows whichever metric asks for the most pods.
  metrics:
    {{- if $connections.enabled }}
    # Connected cars per pod, the broker's own gauge served by the custom metrics API
    # (prometheus-adapter or KEDA: docs/deploy.md, "Sizing for 100k cars").
    - type: Pods
      pods:
        metric:
          name: {{ $connections.metricName }}
        target:
          type: AverageValue
          averageValue: {{ $connections.targetPerPod | quote }}
    {{- end }}
    {{- if gt $memory 0 }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $memory }}
    {{- end }}
    {{- if gt $cpu 0 }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $cpu }}
    {{- end }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {{ $a.scaleDownStabilizationSeconds }}
      policies:
        - type: Pods
          value: 1
          periodSeconds: 120
{{- end }}
{{- end -}}

{{/* Annotations that roll the pods when their settings or keys change. */}}
{{- define "fleet.checksums" -}}
checksum/config: {{ include "fleet.config" . | sha256sum }}
{{- if and .root.Values.secrets.create (not .root.Values.secrets.existingSecret) }}
checksum/keys: {{ include "fleet.keys" .root | sha256sum }}
{{- end }}
{{- end -}}

{{/*
fleet.refuseDevSecrets: without devMode, no value may hold a secret published in this repository
(services/shared/src/dev-secrets.ts lists the same ones; the services refuse them too).
*/}}
{{- define "fleet.refuseDevSecrets" -}}
{{- if not (include "fleet.devMode" .) -}}
{{- $published := list "fleet-dev-signing-key-do-not-use-in-production" "fleet-dev-operator-key" "fleet-dev-read-only-key" "fleet-dev-jwt-secret-do-not-use-in-production-0000" -}}
{{- $values := dict "secrets.vehicleTokenKey" .Values.secrets.vehicleTokenKey "secrets.apiKeys" .Values.secrets.apiKeys -}}
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


{{/* The pod template's metadata: chart labels and checksums, then <service>.podLabels/podAnnotations. */}}
{{- define "fleet.podMetadata" -}}
{{- $values := index .root.Values .component -}}
labels:
  {{- include "fleet.labels" . | nindent 2 }}
  {{- with $values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  {{- include "fleet.checksums" . | nindent 2 }}
  {{- with $values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The container's volume mounts: /tmp, then what the caller adds (.mounts), then <service>.extraVolumeMounts. */}}
{{- define "fleet.volumeMounts" -}}
{{- $values := index .root.Values .component | default dict -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if .root.Values.kafka.tls.caSecret.name }}
  - name: kafka-ca
    mountPath: /etc/fleet/kafka-ca
    readOnly: true
  {{- end }}
  {{- with .mounts }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with $values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The pod's volumes: /tmp's emptyDir, then what the caller adds (.volumes), then <service>.extraVolumes. */}}
{{- define "fleet.volumes" -}}
{{- $values := index .root.Values .component | default dict -}}
volumes:
  - name: tmp
    emptyDir: {}
  {{- with .root.Values.kafka.tls.caSecret }}
  {{- if .name }}
  - name: kafka-ca
    secret:
      secretName: {{ .name }}
      items:
        - key: {{ .key | default "ca.crt" }}
          path: ca.crt
  {{- end }}
  {{- end }}
  {{- with .volumes }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with $values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* A PodDisruptionBudget for one service when <service>.pdb.enabled: (dict "root" $ "component" "scorer"). */}}
{{- define "fleet.pdb" -}}
{{- $pdb := (index .root.Values .component).pdb -}}
{{- if $pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "fleet.component" . }}
  labels:
    {{- include "fleet.labels" . | nindent 4 }}
spec:
  {{- if hasKey $pdb "minAvailable" }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "fleet.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
fleet.serviceSpec: the type-dependent fields of a public Service from an options dict (type,
externalTrafficPolicy, loadBalancerClass, loadBalancerSourceRanges, sessionAffinity,
sessionAffinityTimeoutSeconds). Fields a type does not allow are left out.
*/}}
{{- define "fleet.serviceSpec" -}}
{{- $external := has .type (list "LoadBalancer" "NodePort") -}}
type: {{ .type }}
{{- if and .externalTrafficPolicy $external }}
externalTrafficPolicy: {{ .externalTrafficPolicy }}
{{- end }}
{{- if eq .type "LoadBalancer" }}
{{- with .loadBalancerClass }}
loadBalancerClass: {{ . }}
{{- end }}
{{- with .loadBalancerSourceRanges }}
loadBalancerSourceRanges:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- if eq (.sessionAffinity | default "None") "ClientIP" }}
sessionAffinity: ClientIP
sessionAffinityConfig:
  clientIP:
    timeoutSeconds: {{ .sessionAffinityTimeoutSeconds | default 10800 }}
{{- end }}
{{- end -}}


{{/* The broker's kubernetes.io/tls Secret: broker.tls.secretName, else cert-manager's (broker.tls.certManager). Empty = no TLS. */}}
{{- define "fleet.brokerTlsSecret" -}}
{{- $tls := .Values.broker.tls -}}
{{- if $tls.secretName -}}
{{- $tls.secretName -}}
{{- else if $tls.certManager.enabled -}}
{{- printf "%s-broker-tls" (include "fleet.fullname" .) -}}
{{- end -}}
{{- end -}}


{{/* The keys of the chart-made Secret (secrets.create): values, else in development mode the published ones. */}}
{{- define "fleet.keys" -}}
{{- $dev := include "fleet.devMode" . | eq "true" -}}
{{- $s := .Values.secrets -}}
vehicle-token-key: {{ $s.vehicleTokenKey | default ($dev | ternary "fleet-dev-signing-key-do-not-use-in-production" "") | required "secrets.vehicleTokenKey is required with secrets.create outside development mode (or secrets.existingSecret)" | quote }}
api-keys: {{ $s.apiKeys | default ($dev | ternary "fleet-dev-operator-key" "") | required "secrets.apiKeys is required with secrets.create outside development mode (or secrets.existingSecret)" | quote }}
{{- end -}}

{{/* Partitions per topic: services/shared/src/topics.ts's topicPartitions (test/deploy-manifests.test.ts keeps them equal). */}}
{{- define "fleet.topicPartitions" -}}
{{- toJson (dict "vehicle.telemetry" 12 "vehicle.telemetry.dlq" 3 "vehicle.anomalies" 6 "vehicle.scores" 6 "vehicle.commands" 6 "vehicle.command-events" 6 "vehicle.lifecycle" 3) -}}
{{- end -}}

{{/* The cars' endpoints the broker Service(s) offer, as a JSON list of URLs (mqtt://host:port ...). */}}
{{- define "fleet.brokerUrls" -}}
{{- $b := .Values.broker -}}
{{- $broker := include "fleet.component" (dict "root" $ "component" "broker") -}}
{{- $on := list -}}
{{- if ge (int $b.mqttPort) 0 }}{{ $on = append $on (list "mqtt" "mqtt" $b.mqttPort) }}{{ end -}}
{{- if ge (int $b.wsPort) 0 }}{{ $on = append $on (list "ws" "ws" $b.wsPort) }}{{ end -}}
{{- if include "fleet.brokerTlsSecret" . -}}
{{- $on = append $on (list "mqtts" "mqtts" $b.tls.mqttsPort) -}}
{{- $on = append $on (list "wss" "wss" $b.tls.wssPort) -}}
{{- end -}}
{{- $urls := list -}}
{{- range $l := $on -}}
{{- $o := index $b.service.listeners (index $l 0) | default dict -}}
{{- if ne (toString (dig "expose" true $o)) "false" -}}
{{- $host := (dig "separateService" false $o | toString | eq "true") | ternary (printf "%s-%s" $broker (index $l 0)) $broker -}}
{{- $urls = append $urls (printf "%s://%s:%v" (index $l 1) $host (index $l 2)) -}}
{{- end -}}
{{- end -}}
{{- toJson $urls -}}
{{- end -}}
