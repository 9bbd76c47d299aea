{{- /*
Pod-level helpers shared by every workload. A "role" is the values block of one kind of pod (.Values.api,
.Values.locust.master, .Values.redis, ...) with the per-role keys of values.yaml: extraEnv, envFrom,
podAnnotations, podLabels, nodeSelector, tolerations, affinity, topologySpreadConstraints, priorityClassName,
extraVolumes, extraVolumeMounts, serviceAccount. Pods without such a block (migrate, results, helm test) pass
an empty dict and get the global settings only.
*/ -}}

{{/* Return the ServiceAccount a role's pods run as: its own (created, or named), else the shared token-less one: (dict "ctx" $ "role" .Values.api "component" "api"). */}}
{{- define "loadlab.serviceAccountName" -}}
{{- $sa := (.role | default dict).serviceAccount | default dict -}}
{{- if $sa.create -}}
{{- default (include "loadlab.componentName" (dict "ctx" .ctx "component" .component)) $sa.name -}}
{{- else -}}
{{- default (include "loadlab.componentName" (dict "ctx" .ctx "component" "workload")) $sa.name -}}
{{- end -}}
{{- end -}}

{{/* Return a pod template's metadata: labels (the chart's win over podLabels) and annotations (the chart's checksums win over podAnnotations): (dict "ctx" $ "role" .Values.api "component" "api" "job" "api" "annotations" (dict ...)). */}}
{{- define "loadlab.podMetadata" -}}
{{- $labels := fromYaml (include "loadlab.componentLabels" (dict "ctx" .ctx "component" .component)) -}}
{{- if .job -}}
{{- $_ := set $labels (include "loadlab.jobLabel" .ctx) .job -}}
{{- end -}}
{{- range $key, $value := .extraLabels | default dict -}}
{{- $_ := set $labels $key $value -}}
{{- end -}}
{{- $labels = merge $labels ((.role | default dict).podLabels | default dict) -}}
{{- $annotations := merge (.annotations | default dict) ((.role | default dict).podAnnotations | default dict) -}}
labels:
  {{- toYaml $labels | nindent 2 }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Return the pod spec fields every workload shares: ServiceAccount, pod securityContext, pull secrets, scheduling: (dict "ctx" $ "role" .Values.api "component" "api" "uid" 10001 ["serviceAccountName" "x" "automountToken" true]). */}}
{{- define "loadlab.podSpec" -}}
{{- $ := .ctx -}}
{{- $role := .role | default dict -}}
serviceAccountName: {{ default (include "loadlab.serviceAccountName" .) .serviceAccountName }}
automountServiceAccountToken: {{ .automountToken | default false }}
securityContext:
  {{- include "loadlab.podSecurityContext" (dict "uid" .uid) | nindent 2 }}
{{- $pullSecrets := list }}
{{- range concat ($.Values.global.imagePullSecrets | default list) $.Values.imagePullSecrets }}
{{- $pullSecrets = append $pullSecrets (ternary (dict "name" .) . (kindIs "string" .)) }}
{{- end }}
{{- $pullSecrets = $pullSecrets | uniq }}
{{- with $pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ .name }}
  {{- end }}
{{- end }}
{{- with merge (dict) ($role.nodeSelector | default dict) $.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with concat $.Values.tolerations ($role.tolerations | default list) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Return a role's extra container env entries (Kubernetes EnvVar list), to append to a container's env: (dict "role" .Values.api). */}}
{{- define "loadlab.extraEnv" -}}
{{- with (.role | default dict).extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Return a container's envFrom block (nothing when the role has none): (dict "role" .Values.api ["extra" list]). */}}
{{- define "loadlab.envFrom" -}}
{{- with concat (.extra | default list) ((.role | default dict).envFrom | default list) }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Return a role's extra volume mounts, to append to its main container's volumeMounts: (dict "role" .Values.api). */}}
{{- define "loadlab.extraVolumeMounts" -}}
{{- with (.role | default dict).extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Return a role's extra volumes, to append to its pod's volumes: (dict "role" .Values.api). */}}
{{- define "loadlab.extraVolumes" -}}
{{- with (.role | default dict).extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Return the StorageClass of a PVC: its own, else global.storageClass ("-" means the empty class); empty: the cluster default. */}}
{{- define "loadlab.storageClass" -}}
{{- $class := default .ctx.Values.global.storageClass .storageClass -}}
{{- if eq $class "-" -}}
storageClassName: ""
{{- else if $class -}}
storageClassName: {{ $class | quote }}
{{- end -}}
{{- end -}}
