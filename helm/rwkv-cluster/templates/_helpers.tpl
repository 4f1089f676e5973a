{{/* Chart name, overridable. */}}
{{- define "rwkv.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object-name prefix: <release>-<chart>, or the release name when it contains the chart. */}}
{{- define "rwkv.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<suffix>" within 63 characters. Call with (list $ "suffix"). */}}
{{- define "rwkv.componentName" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $prefix := include "rwkv.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $prefix $suffix -}}
{{- end -}}

{{- define "rwkv.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels shared by every object, besides the selector labels. */}}
{{- define "rwkv.commonLabels" -}}
helm.sh/chart: {{ include "rwkv.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rwkv-cluster
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "worker" "pool" "cpu"). */}}
{{- define "rwkv.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rwkv.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .pool }}
rwkv.dev/pool: {{ . }}
{{- end }}
{{- end -}}

{{/* Common + selector labels of one component (same argument as rwkv.selectorLabels). */}}
{{- define "rwkv.labels" -}}
{{ include "rwkv.commonLabels" .root }}
{{ include "rwkv.selectorLabels" . }}
{{- end -}}

{{/* Image reference: explicit override, else <registry>/<name>:<tag or appVersion>.
     Call with (dict "root" $ "name" "rwkv-converter" "override" .Values.converter.image). */}}
{{- define "rwkv.image" -}}
{{- if .override -}}
{{- .override -}}
{{- else -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- with .root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .) $.name $tag -}}
{{- else -}}
{{- printf "%s:%s" .name $tag -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the shared storage claim. */}}
{{- define "rwkv.storageClaim" -}}
{{- if .Values.storage.persistence.create -}}
{{- include "rwkv.componentName" (list . "storage") -}}
{{- else -}}
{{- required "storage.persistence.existingClaim is required when storage.persistence.create is false" .Values.storage.persistence.existingClaim -}}
{{- end -}}
{{- end -}}

{{/* Worker pool object name. Call with (list $ $pool). */}}
{{- define "rwkv.workerName" -}}
{{- $root := index . 0 -}}
{{- $pool := index . 1 -}}
{{- include "rwkv.componentName" (list $root (printf "worker-%s" $pool.name)) -}}
{{- end -}}

{{/* Pod-level settings shared by every component: pull secrets, security, storage volume. */}}
{{- define "rwkv.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Volumes every pod mounts: the shared storage claim and a writable /tmp. */}}
{{- define "rwkv.volumes" -}}
volumes:
  - name: storage
    persistentVolumeClaim:
      claimName: {{ include "rwkv.storageClaim" . }}
  - name: tmp
    emptyDir: {}
{{- end -}}

{{- define "rwkv.volumeMounts" -}}
volumeMounts:
  - name: storage
    mountPath: {{ .Values.storage.root }}
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* Native gRPC probes on the serving port. Call with (dict "port" 50052 "service" "rwkv.v1.Inference" "startupFailures" 120). */}}
{{- define "rwkv.grpcProbes" -}}
startupProbe:
  grpc:
    port: {{ .port }}
    {{- with .liveService }}
    service: {{ . }}
    {{- end }}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: {{ .startupFailures }}
livenessProbe:
  grpc:
    port: {{ .port }}
    {{- with .liveService }}
    service: {{ . }}
    {{- end }}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 6
readinessProbe:
  grpc:
    port: {{ .port }}
    {{- with .service }}
    service: {{ . }}
    {{- end }}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* Worker pool scaling behaviour (HPA and KEDA): up fast when requests queue, down one pod
at a time after a calm spell, since a removed worker drains for up to --drain-timeout. */}}
{{- define "rwkv.workerScalingBehavior" -}}
scaleUp:
  stabilizationWindowSeconds: 0
  policies:
    - type: Percent
      value: 100
      periodSeconds: 60
    - type: Pods
      value: 2
      periodSeconds: 60
  selectPolicy: Max
scaleDown:
  stabilizationWindowSeconds: 300
  policies:
    - type: Pods
      value: 1
      periodSeconds: 120
{{- end -}}

{{/* A Kubernetes quantity ("800m", "2", 2) as a decimal string for KEDA thresholds ("0.8"). */}}
{{- define "rwkv.quantityDecimal" -}}
{{- $q := toString . -}}
{{- if hasSuffix "m" $q -}}
{{- divf (trimSuffix "m" $q | float64) 1000.0 -}}
{{- else -}}
{{- $q -}}
{{- end -}}
{{- end -}}
