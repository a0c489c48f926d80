{{/* Labels of the metrics source. Its name differs from the operator's so neither Deployment's selector
     matches the other's pods. */}}
{{- define "herd.metricsApi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herd.name" . }}-metrics-api
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "herd.metricsApi.labels" -}}
helm.sh/chart: {{ include "herd.chart" . }}
{{ include "herd.metricsApi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: metrics-api
app.kubernetes.io/part-of: herd
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
