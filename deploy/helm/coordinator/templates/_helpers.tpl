{{/* The release's resource name. */}}
{{- define "coordinator.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every resource carries. */}}
{{- define "coordinator.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Labels the Deployment selects its pod by. */}}
{{- define "coordinator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "coordinator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "coordinator.secretName" -}}
{{- if .Values.secrets.create -}}
{{- include "coordinator.fullname" . -}}-secrets
{{- else -}}
{{- required "secrets.name: the Secret with the coordinator's keys" .Values.secrets.name -}}
{{- end -}}
{{- end -}}

{{/* The hardened container security context every container uses. */}}
{{- define "coordinator.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Mounts shared by the coordinator, the restore and the replicator. */}}
{{- define "coordinator.mounts" -}}
- name: data
  mountPath: /data
- name: config
  mountPath: /etc/coordinator
  readOnly: true
- name: secrets
  mountPath: /etc/coordinator-secrets
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Where the configuration is, and the S3 credentials (none: the pod's role). */}}
{{- define "coordinator.s3env" -}}
env:
  - name: COORDINATOR_CONFIG
    value: /etc/coordinator/coordinator.toml
{{- if .Values.s3CredentialsSecret }}
envFrom:
  - secretRef:
      name: {{ .Values.s3CredentialsSecret }}
{{- end }}
{{- end -}}
