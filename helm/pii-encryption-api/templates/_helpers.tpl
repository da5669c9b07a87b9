{{/* Names and labels. */}}
{{- define "pii-encryption-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pii-encryption-api.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pii-encryption-api.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "pii-encryption-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selects the API pods (not the migration Job's). */}}
{{- define "pii-encryption-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pii-encryption-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end }}

{{- define "pii-encryption-api.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pii-encryption-api.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository:tag@digest; the tag defaults to the appVersion. */}}
{{- define "pii-encryption-api.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if eq $tag "latest" }}{{ fail "image.tag must not be latest: pin a version" }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The non-secret environment, as a name → string map (YAML), for the ConfigMap and the Job. */}}
{{- define "pii-encryption-api.configEnv" -}}
{{- $env := dict "PORT" "3000" "DATA_DIR" "/tmp/data" }}
{{- if .Values.production }}
{{- $_ := set $env "NODE_ENV" "production" }}
{{- $_ := set $env "KEY_PROVIDER" "kms" }}
{{- $_ := set $env "KMS_KEY_ID" .Values.kms.keyId }}
{{- $_ := set $env "AUTH_MODE" "cognito" }}
{{- $_ := set $env "COGNITO_REGION" (default .Values.aws.region .Values.cognito.region) }}
{{- $_ := set $env "COGNITO_USER_POOL_ID" .Values.cognito.userPoolId }}
{{- $_ := set $env "COGNITO_CLIENT_IDS" (join "," .Values.cognito.clientIds) }}
{{- with .Values.cognito.userIdClaim }}{{ $_ := set $env "AUTH_USER_ID_CLAIM" . }}{{ end }}
{{- with .Values.cognito.boundClientIds }}{{ $_ := set $env "AUTH_BOUND_CLIENT_IDS" (join "," .) }}{{ end }}
{{- $_ := set $env "AUTH_SCOPE_PREFIX" .Values.cognito.scopePrefix }}
{{- with .Values.cognito.groupPermissions }}{{ $_ := set $env "AUTH_GROUP_PERMISSIONS" . }}{{ end }}
{{- else }}
{{- $_ := set $env "NODE_ENV" "development" }}
{{- $_ := set $env "KEY_PROVIDER" "local" }}
{{- $_ := set $env "AUTH_MODE" "local" }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- $_ := set $env "TLS_CERT_FILE" "/etc/pii-encryption-api/tls/tls.crt" }}
{{- $_ := set $env "TLS_KEY_FILE" "/etc/pii-encryption-api/tls/tls.key" }}
{{- end }}
{{- if gt (int .Values.metrics.port) 0 }}
{{- $_ := set $env "METRICS_PORT" (toString (int .Values.metrics.port)) }}
{{- end }}
{{- range $name, $value := .Values.config }}
{{- /* Numbers arrive as float64; print integers without an exponent (1000000, not 1e+06). */}}
{{- $_ := set $env $name (ternary (int64 $value | toString) (toString $value) (kindIs "float64" $value)) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{/* Environment set on the container itself, shared by the Deployment and the migration Job. */}}
{{- define "pii-encryption-api.containerEnv" -}}
{{- with .Values.aws.region }}
# Set on the container: the EKS pod identity webhook adds the cluster's region to env unless
# it is there already, and env wins over the ConfigMap (envFrom).
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- with .Values.extraCaBundle.configMap }}
- name: NODE_EXTRA_CA_CERTS
  value: /etc/pii-encryption-api/ca/{{ $.Values.extraCaBundle.key }}
{{- end }}
{{- if .Values.existingSecret }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.existingSecret }}
      key: {{ .Values.existingSecretKeys.databaseUrl }}
{{- with .Values.existingSecretKeys.redisUrl }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.existingSecret }}
      key: {{ . }}
{{- end }}
{{- with .Values.existingSecretKeys.databaseReplicaUrls }}
- name: DATABASE_REPLICA_URLS
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.existingSecret }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/* The API port's name, and its scheme for probes and the ServiceMonitor. */}}
{{- define "pii-encryption-api.portName" -}}
{{- ternary "https" "http" (eq (toString .Values.tls.enabled) "true") }}
{{- end }}

{{- define "pii-encryption-api.scheme" -}}
{{- ternary "HTTPS" "HTTP" (eq (toString .Values.tls.enabled) "true") }}
{{- end }}

{{- define "pii-encryption-api.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "pii-encryption-api.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/*
The OTLP collector's port, from config.OTEL_EXPORTER_OTLP_ENDPOINT (its port, else 443 for https
and 80 for http); empty when tracing is not configured.
*/}}
{{- define "pii-encryption-api.otlpPort" -}}
{{- with .Values.config.OTEL_EXPORTER_OTLP_ENDPOINT }}
{{- $url := urlParse . }}
{{- $hostPort := splitList ":" $url.host }}
{{- if gt (len $hostPort) 1 }}{{ last $hostPort }}{{ else }}{{ ternary "443" "80" (eq $url.scheme "https") }}{{ end }}
{{- end }}
{{- end }}

{{/* The Deployment's own annotations: Reloader's (reloader.enabled), then .Values.annotations. */}}
{{- define "pii-encryption-api.deploymentAnnotations" -}}
{{- $annotations := dict }}
{{- if .Values.reloader.enabled }}
{{- $secrets := list }}
{{- with .Values.existingSecret }}{{ $secrets = append $secrets . }}{{ end }}
{{- if .Values.tls.enabled }}{{ $secrets = append $secrets (include "pii-encryption-api.tlsSecretName" .) }}{{ end }}
{{- with $secrets }}{{ $_ := set $annotations "secret.reloader.stakater.com/reload" (join "," .) }}{{ end }}
{{- with .Values.extraCaBundle.configMap }}{{ $_ := set $annotations "configmap.reloader.stakater.com/reload" . }}{{ end }}
{{- end }}
{{- $annotations = merge (deepCopy .Values.annotations) $annotations }}
{{- with $annotations }}{{ toYaml . }}{{ end }}
{{- end }}

{{/* The TLS Secret's mount and volume, when tls.enabled. */}}
{{- define "pii-encryption-api.tlsMount" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/pii-encryption-api/tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "pii-encryption-api.tlsVolume" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "pii-encryption-api.tlsSecretName" . }}
    # 0440: readable by the pod's group (fsGroup 1000), not by others.
    defaultMode: 288
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}

{{/* Whether a pre-install/pre-upgrade Job migrates (it needs DATABASE_URL from the Secret). */}}
{{- define "pii-encryption-api.migrationJob" -}}
{{- if and .Values.migrations.enabled .Values.existingSecret }}true{{ end }}
{{- end }}

{{/* The extra CA bundle's mount and volume, when configured. */}}
{{- define "pii-encryption-api.caMount" -}}
{{- if .Values.extraCaBundle.configMap }}
- name: extra-ca
  mountPath: /etc/pii-encryption-api/ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "pii-encryption-api.caVolume" -}}
{{- with .Values.extraCaBundle.configMap }}
- name: extra-ca
  configMap:
    name: {{ . }}
    items:
      - key: {{ $.Values.extraCaBundle.key }}
        path: {{ $.Values.extraCaBundle.key }}
{{- end }}
{{- end }}

{{- define "pii-encryption-api.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "pii-encryption-api.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Fails rendering on combinations the schema cannot express. */}}
{{- define "pii-encryption-api.checks" -}}
{{- if not (hasKey .Values "production") }}
{{- fail "production is required: set production=true (a real release) or production=false (evaluation mode, no real data)" }}
{{- end }}
{{- if and .Values.production (not .Values.tls.enabled) (ne (toString (default "" .Values.config.ALLOW_PLAIN_HTTP)) "true") }}
{{- fail "production needs tls.enabled (HTTPS from the load balancer to the pod), or config.ALLOW_PLAIN_HTTP=true where a mesh encrypts that hop: the service refuses to start otherwise" }}
{{- end }}
{{- if and .Values.tls.enabled .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) }}
{{- fail "tls.certManager.issuerRef.name: name the cert-manager Issuer or ClusterIssuer that signs the pod's certificate (or set tls.certManager.enabled=false and tls.secretName)" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.certManager.enabled) (not .Values.tls.secretName) }}
{{- fail "tls.secretName: name the kubernetes.io/tls Secret to mount when tls.certManager.enabled is false" }}
{{- end }}
{{- if eq (int .Values.metrics.port) 3000 }}
{{- fail "metrics.port must differ from the API port (3000)" }}
{{- end }}
{{- if and .Values.production .Values.networkPolicy.enabled (gt (int .Values.metrics.port) 0) (not .Values.networkPolicy.metricsFrom) }}
{{- fail "networkPolicy.metricsFrom: name the scraper (namespace and pod selector) allowed to reach metrics.port" }}
{{- end }}
{{- if and .Values.production .Values.networkPolicy.enabled .Values.networkPolicy.egress.enabled .Values.config.OTEL_EXPORTER_OTLP_ENDPOINT (not .Values.networkPolicy.egress.otlpTo) }}
{{- fail "networkPolicy.egress.otlpTo: name the OTLP collector's peers (config.OTEL_EXPORTER_OTLP_ENDPOINT is set)" }}
{{- end }}
{{- if lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas) }}
{{- fail "autoscaling.maxReplicas must be at least autoscaling.minReplicas" }}
{{- end }}
{{- $shutdownMs := 10000 }}
{{- if hasKey .Values.config "SHUTDOWN_GRACE_MS" }}{{ $shutdownMs = int .Values.config.SHUTDOWN_GRACE_MS }}{{ end }}
{{- /* SHUTDOWN_DELAY_MS (serving on after SIGTERM before the listener closes), when the service and config have it. */}}
{{- if hasKey .Values.config "SHUTDOWN_DELAY_MS" }}{{ $shutdownMs = add $shutdownMs (int .Values.config.SHUTDOWN_DELAY_MS) }}{{ end }}
{{- $neededMs := add $shutdownMs (mul 1000 (int .Values.preStopSleepSeconds)) }}
{{- if le (mul 1000 (int .Values.terminationGracePeriodSeconds)) $neededMs }}
{{- fail (printf "terminationGracePeriodSeconds (%v s) must exceed preStopSleepSeconds plus config.SHUTDOWN_GRACE_MS (and SHUTDOWN_DELAY_MS; %v ms in all)" .Values.terminationGracePeriodSeconds $neededMs) }}
{{- end }}
{{- end }}
