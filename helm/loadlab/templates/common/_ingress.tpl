{{/* Return an Ingress for one component's web port: (dict "ctx" $ "component" "grafana" "ingress" .Values.grafana.ingress "port" "http"). */}}
{{- define "loadlab.ingress" -}}
{{- $ing := .ingress -}}
{{- $name := include "loadlab.componentName" (dict "ctx" .ctx "component" .component) -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "loadlab.componentLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
  {{- with $ing.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $ing.className }}
  ingressClassName: {{ . | quote }}
  {{- end }}
  {{- with $ing.tls }}
  tls:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    {{- range ($ing.hosts | default (list "")) }}
    - {{- if . }}
      host: {{ . | quote }}
      {{- end }}
      http:
        paths:
          - path: {{ $ing.path }}
            pathType: {{ $ing.pathType }}
            backend:
              service:
                name: {{ $name }}
                port:
                  name: {{ $.port }}
    {{- end }}
{{- end -}}

{{/* Return Grafana's sub-path behind its Ingress (grafana.ingress.path without the trailing slash), else nothing. */}}
{{- define "loadlab.grafanaSubPath" -}}
{{- $ing := .Values.grafana.ingress -}}
{{- if $ing.enabled -}}
{{- trimSuffix "/" $ing.path -}}
{{- end -}}
{{- end -}}
