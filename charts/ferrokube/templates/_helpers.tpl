{{/* The chart name, or nameOverride. */}}
{{- define "ferrokube.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object name: fullnameOverride, else <release>-<chart> (or the release
name when it already holds the chart name). Kept short: pod names add "-<ordinal>". */}}
{{- define "ferrokube.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service that gives every server a stable DNS name. */}}
{{- define "ferrokube.peers" -}}
{{- printf "%s-peers" (include "ferrokube.fullname" .) }}
{{- end }}

{{/* The DNS domain of the headless Service: <peers>.<namespace>.svc.<clusterDomain>. */}}
{{- define "ferrokube.peerDomain" -}}
{{- printf "%s.%s.svc.%s" (include "ferrokube.peers" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* The Secret holding the join token. */}}
{{- define "ferrokube.tokenSecret" -}}
{{- default (printf "%s-join-token" (include "ferrokube.fullname" .)) .Values.joinToken.existingSecret }}
{{- end }}

{{- define "ferrokube.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ferrokube.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferrokube.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ferrokube.labels" -}}
helm.sh/chart: {{ include "ferrokube.chart" . }}
{{ include "ferrokube.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: server
{{- end }}
