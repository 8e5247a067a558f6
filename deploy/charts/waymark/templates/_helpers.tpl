{{/* Names, labels and the pieces every Deployment shares. */}}

{{- define "waymark.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", e.g. waymark-xds-server. Call with (list $ "xds-server"). */}}
{{- define "waymark.name" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "waymark.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "waymark.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: waymark
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "waymark.labels" -}}
{{- $root := index . 0 -}}
{{ include "waymark.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: waymark
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version }}
{{- end -}}

{{- define "waymark.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s/%s:%s" $root.Values.image.registry (index . 1) (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{/* The Secret holding the NATS users' passwords (chart-made or existing), or "" for none. */}}
{{- define "waymark.natsAuthSecret" -}}
{{- if .Values.nats.enabled -}}
{{- default (include "waymark.name" (list . "nats-auth")) .Values.nats.auth.existingSecret -}}
{{- else -}}
{{- .Values.nats.external.authSecret -}}
{{- end -}}
{{- end -}}

{{/* The chart's NATS servers (nats.replicas), failing on a count JetStream cannot replicate on. */}}
{{- define "waymark.natsReplicas" -}}
{{- $r := ternary .Values.nats.replicas .Values.nats.external.replicas .Values.nats.enabled | int -}}
{{- if not (has $r (list 1 3 5)) -}}
{{- fail (printf "%s is %d: use 1, or 3 or 5 for a JetStream cluster (NATS replicates a bucket on an odd number of servers, at most 5)" (ternary "nats.replicas" "nats.external.replicas" .Values.nats.enabled) $r) -}}
{{- end -}}
{{- $r -}}
{{- end -}}

{{/* Client URLs of NATS: the Service of a single server; every pod of a cluster, comma-separated. */}}
{{- define "waymark.natsHostUrl" -}}
{{- if .Values.nats.enabled -}}
{{- $name := include "waymark.name" (list . "nats") -}}
{{- $r := include "waymark.natsReplicas" . | int -}}
{{- if eq $r 1 -}}
{{- printf "nats://%s.%s.svc:4222" $name .Release.Namespace -}}
{{- else -}}
{{- $urls := list -}}
{{- range $i := until $r -}}
{{- $urls = append $urls (printf "nats://%s-%d.%s-headless.%s.svc:4222" $name $i $name $.Release.Namespace) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}
{{- else -}}
{{- required "nats.external.url is required when nats.enabled is false" .Values.nats.external.url -}}
{{- end -}}
{{- end -}}

{{/*
The NATS env of a service: its password from the Secret, then WAYMARK_NATS_URL with the user and a
$(NATS_PASSWORD) reference (in each URL of a cluster), which Kubernetes expands in the container, and
WAYMARK_NATS_REPLICAS when the buckets have more than one replica. Call with (list $ "watcher").
*/}}
{{- define "waymark.natsEnv" -}}
{{- $root := index . 0 -}}
{{- $user := index . 1 -}}
{{- $secret := include "waymark.natsAuthSecret" $root -}}
{{- $url := include "waymark.natsHostUrl" $root -}}
{{- if $secret }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $user }}
- name: WAYMARK_NATS_URL
  value: {{ regexReplaceAll "(^|,)([a-z]+://)" $url (printf "${1}${2}%s:$(NATS_PASSWORD)@" $user) | quote }}
{{- else }}
- name: WAYMARK_NATS_URL
  value: {{ $url | quote }}
{{- end }}
{{- $replicas := include "waymark.natsReplicas" $root }}
{{- if ne $replicas "1" }}
- name: WAYMARK_NATS_REPLICAS
  value: {{ $replicas | quote }}
{{- end }}
{{- end -}}

{{- define "waymark.otlpEndpoint" -}}
{{- if .Values.tracing.otlpEndpoint -}}
{{- .Values.tracing.otlpEndpoint -}}
{{- else if .Values.jaeger.enabled -}}
{{- printf "http://%s.%s.svc:4318" (include "waymark.name" (list . "jaeger")) .Release.Namespace -}}
{{- else -}}
{{- fail "tracing.enabled needs tracing.otlpEndpoint or jaeger.enabled" -}}
{{- end -}}
{{- end -}}

{{/*
Env every service gets: Node's flags, logging, the ops endpoint and, when on, tracing.
NODE_OPTIONS (the service's `nodeOptions` value overrides it): V8's young generation grows to two
16 MiB semi-spaces (64 MiB committed) while the modules load and compile at start-up, and those pages
stay resident: 60 of an idle service's ~190 MiB RSS (`pnpm bench memory`, heap space statistics).
1 MiB semi-spaces scavenge more often; the ADS fan-out spent less CPU per push with them (0.15-0.18
against 0.30 ms, `pnpm bench xds-fanout proxies=1000`) and the translation figures did not move. The
old generation is left to Node's default, which follows the container's memory limit.
*/}}
{{- define "waymark.commonEnv" -}}
{{- $root := index . 0 -}}
{{- $v := index . 1 -}}
- name: NODE_OPTIONS
  value: {{ $v.nodeOptions | default "--max-semi-space-size=1" | quote }}
- name: WAYMARK_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: WAYMARK_METRICS_ADDRESS
  value: {{ printf "0.0.0.0:%v" $root.Values.metricsPort | quote }}
{{- if $root.Values.tracing.enabled }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ include "waymark.otlpEndpoint" $root | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)"
{{- end }}
{{- end -}}

{{/* The downward-API env first in every container, so later values may refer to it. */}}
{{- define "waymark.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{/* Ops port, probes, security and the writable /tmp: the same in the three services. */}}
{{- define "waymark.opsPorts" -}}
- name: metrics
  containerPort: {{ .Values.metricsPort }}
  protocol: TCP
{{- end -}}

{{- define "waymark.probes" -}}
startupProbe:
  httpGet: { path: /healthz, port: metrics }
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: { path: /healthz, port: metrics }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: metrics }
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* Ends with the volumes list, and containerCommon with volumeMounts: watcher.yaml appends to both. */}}
{{- define "waymark.podCommon" -}}
{{- $root := index . 0 -}}
{{- $v := index . 1 -}}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
{{- end -}}

{{- define "waymark.containerCommon" -}}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* A PodDisruptionBudget for a component. Call with (list $ "translator" .Values.translator). */}}
{{- define "waymark.pdb" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $v := index . 2 -}}
{{- if $v.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "waymark.name" (list $root $name) }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "waymark.labels" (list $root $name) | nindent 4 }}
spec:
  maxUnavailable: {{ $v.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "waymark.selectorLabels" (list $root $name) | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "waymark.serviceAccount" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "waymark.name" (list $root $name) }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "waymark.labels" (list $root $name) | nindent 4 }}
{{- /* Only the watcher talks to the Kubernetes API; the others get no token at all. */}}
automountServiceAccountToken: {{ eq $name "watcher" }}
{{- end -}}

{{/* The JetStream file store limit in bytes: 90% of the volume, leaving room for NATS's own files. */}}
{{- define "waymark.natsStoreBytes" -}}
{{- $size := .Values.nats.storage.size -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- $m := regexFind "^[0-9]+" $size -}}
{{- $u := trimPrefix $m $size -}}
{{- if not (hasKey $units $u) -}}
{{- fail (printf "nats.storage.size %q: use Ki, Mi, Gi or Ti, e.g. 2Gi" $size) -}}
{{- end -}}
{{- div (mul (int64 $m) (get $units $u) 9) 10 -}}
{{- end -}}

{{/* The GatewayClass, as deploy/gatewayclass.yaml (the watcher also applies it at start). */}}
{{- define "waymark.gatewayClass" -}}
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: {{ .Values.waypointClassName }}
  labels:
    {{- include "waymark.labels" (list $ "gatewayclass") | nindent 4 }}
  annotations:
    ambient.istio.io/waypoint-inbound-binding: PROXY/15088
spec:
  controllerName: {{ .Values.controllerName }}
  description: Waymark waypoint proxies (Envoy) for Istio ambient
{{- end -}}
