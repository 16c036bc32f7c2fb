{{/* Release-scoped prefix of every object name: the release name (≤ 40 chars leaves room for suffixes). */}}
{{- define "flageval.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "flageval.labels" -}}
app.kubernetes.io/name: flageval
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component; call with (list $ "gateway"). */}}
{{- define "flageval.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: flageval
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "flageval.evaluationNamespace" -}}
{{- .Values.evaluation.namespace | default .Release.Namespace -}}
{{- end -}}

{{- define "flageval.tag" -}}
{{- .Values.global.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/* Image of one service; call with (list $ "gateway" $serviceValues). */}}
{{- define "flageval.serviceImage" -}}
{{- $ := index . 0 -}}{{- $name := index . 1 -}}{{- $svc := index . 2 -}}
{{- $image := $svc.image | default dict -}}
{{- printf "%s:%s" ($image.repository | default (printf "%s/%s" $.Values.global.image.repository $name)) ($image.tag | default (include "flageval.tag" $)) -}}
{{- end -}}

{{- define "flageval.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "flageval.fullname" .)) -}}
{{- end -}}

{{- define "flageval.depsSecretName" -}}
{{- printf "%s-deps" (include "flageval.fullname" .) -}}
{{- end -}}

{{- define "flageval.anyDependency" -}}
{{- if or .Values.postgresql.enabled .Values.rabbitmq.enabled .Values.minio.enabled }}true{{ end -}}
{{- end -}}

{{/* A generated secret value that stays the same across upgrades: the given one, else the one in the
live Secret, else a new random one. Call with (list $ "SecretName" "KEY" given). Returns plain text. */}}
{{- define "flageval.persistentSecret" -}}
{{- $ := index . 0 -}}{{- $secret := index . 1 -}}{{- $key := index . 2 -}}{{- $given := index . 3 -}}
{{- if $given -}}
{{- $given -}}
{{- else -}}
{{- $live := lookup "v1" "Secret" $.Release.Namespace $secret -}}
{{- $data := (get ($live | default dict) "data") | default dict -}}
{{- if hasKey $data $key -}}
{{- index $data $key | b64dec -}}
{{- else -}}
{{- randAlphaNum 40 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Hardened container securityContext shared by every platform container. */}}
{{- define "flageval.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "flageval.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment of every platform container: ConfigMap + Secret, then the in-cluster dependencies'
URLs (env wins over envFrom). */}}
{{- define "flageval.envFrom" -}}
- configMapRef:
    name: {{ include "flageval.fullname" . }}-config
- secretRef:
    name: {{ include "flageval.secretName" . }}
{{- end -}}

{{- define "flageval.dependencyEnv" -}}
{{- $deps := include "flageval.depsSecretName" . -}}
{{- $keys := list -}}
{{- if .Values.postgresql.enabled }}{{ $keys = append $keys "FLAGEVAL_DATABASE_URL" }}{{ end -}}
{{- if .Values.rabbitmq.enabled }}{{ $keys = append $keys "FLAGEVAL_BROKER_URL" }}{{ end -}}
{{- if .Values.minio.enabled }}{{ $keys = concat $keys (list "FLAGEVAL_S3_ACCESS_KEY" "FLAGEVAL_S3_SECRET_KEY") }}{{ end -}}
{{- range $keys }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $deps }}
      key: {{ . }}
{{- end }}
{{- end -}}

{{/* Volumes for a read-only root filesystem: scratch space and the data dir. */}}
{{- define "flageval.scratchVolumes" -}}
- name: tmp
  emptyDir: {}
- name: data
  emptyDir: {}
{{- end -}}
{{- define "flageval.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- end -}}
