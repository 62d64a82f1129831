{{/* The release's base name, at most 63 characters. */}}
{{- define "headway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "headway.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "headway.labels" -}}
{{ include "headway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "headway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "headway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "headway.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "headway.webhookService" -}}
{{- printf "%s-webhook" (include "headway.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "headway.tlsSecret" -}}
{{- printf "%s-webhook-tls" (include "headway.fullname" .) -}}
{{- end -}}

{{- define "headway.auditSecret" -}}
{{- printf "%s-audit" (include "headway.fullname" .) -}}
{{- end -}}

{{/* One annotation's value in a CEL match condition ('' when absent). */}}
{{- define "headway.cel.annotation" -}}
(has({{ .obj }}.metadata.annotations) && '{{ .key }}' in {{ .obj }}.metadata.annotations ? {{ .obj }}.metadata.annotations['{{ .key }}'] : '')
{{- end -}}

{{/* True when any of the annotations .keys differs between the old and new object. */}}
{{- define "headway.cel.changed" -}}
{{- $parts := list -}}
{{- range .keys -}}
{{- $parts = append $parts (printf "%s != %s" (include "headway.cel.annotation" (dict "obj" "object" "key" .)) (include "headway.cel.annotation" (dict "obj" "oldObject" "key" .))) -}}
{{- end -}}
{{- join " || " $parts -}}
{{- end -}}
