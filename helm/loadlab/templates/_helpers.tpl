{{/* Return the chart name (nameOverride or the chart's name). */}}
{{- define "loadlab.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Return the object name prefix: fullnameOverride, the release name when it contains the chart name, else release-chart. */}}
{{- define "loadlab.fullname" -}}
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

{{/* Return the name of one component's objects: loadlab.componentName (dict "ctx" $ "component" "api"). */}}
{{- define "loadlab.componentName" -}}
{{- printf "%s-%s" (include "loadlab.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Return the labels every object carries. */}}
{{- define "loadlab.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "loadlab.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: board-loadlab
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Return the selector labels of one component: (dict "ctx" $ "component" "api"). */}}
{{- define "loadlab.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loadlab.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Return the full labels of one component's objects: (dict "ctx" $ "component" "api"). */}}
{{- define "loadlab.componentLabels" -}}
{{ include "loadlab.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Return the label key that names a component's Prometheus job (api, locust, postgres, pgbouncer, redis). */}}
{{- define "loadlab.jobLabel" -}}
loadlab.dev/job
{{- end -}}

{{/* Return an image reference from {repository, tag, digest}: (dict "image" .Values.api.image "ctx" $). */}}
{{- define "loadlab.image" -}}
{{- $tag := default .ctx.Chart.AppVersion .image.tag | toString -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Return a pod securityContext running as a given numeric user: (dict "uid" 999 "gid" 999). */}}
{{- define "loadlab.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ default .uid .gid }}
fsGroup: {{ default .uid .gid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Return a container securityContext (the restricted defaults plus the user id): (dict "ctx" $ "uid" 999). */}}
{{- define "loadlab.containerSecurityContext" -}}
{{- $sc := deepCopy .ctx.Values.containerSecurityContext -}}
{{- $_ := set $sc "runAsUser" .uid -}}
{{- $_ := set $sc "runAsGroup" (default .uid .gid) -}}
{{ toYaml $sc }}
{{- end -}}

{{/* Return the pod-level scheduling and pull settings shared by every pod. */}}
{{- define "loadlab.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Return the name of the Secret holding the database password, the JWT secret and Grafana's password. */}}
{{- define "loadlab.secretName" -}}
{{- default (include "loadlab.componentName" (dict "ctx" . "component" "auth")) .Values.auth.existingSecret -}}
{{- end -}}

{{/* Return the host of Postgres (the chart's StatefulSet Service, or externalDatabase.host). */}}
{{- define "loadlab.postgresHost" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "loadlab.componentName" (dict "ctx" . "component" "postgresql") -}}
{{- else -}}
{{- .Values.externalDatabase.host -}}
{{- end -}}
{{- end -}}

{{/* Return the port of Postgres. */}}
{{- define "loadlab.postgresPort" -}}
{{- if .Values.postgresql.enabled -}}
{{- .Values.postgresql.port -}}
{{- else -}}
{{- .Values.externalDatabase.port -}}
{{- end -}}
{{- end -}}

{{/* Return the database URL the API uses, with $(LOADLAB_DB_PASSWORD) expanded by the kubelet: PgBouncer when enabled, else Postgres. */}}
{{- define "loadlab.apiDatabaseUrl" -}}
{{- $pg := .Values.postgresql -}}
{{- if .Values.pgbouncer.enabled -}}
{{- printf "postgresql+asyncpg://%s:$(LOADLAB_DB_PASSWORD)@%s:%v/%s" $pg.username (include "loadlab.componentName" (dict "ctx" . "component" "pgbouncer")) .Values.pgbouncer.port $pg.database -}}
{{- else -}}
{{- include "loadlab.directDatabaseUrl" . -}}
{{- end -}}
{{- end -}}

{{/* Return the database URL straight to Postgres (migrations always take this path). */}}
{{- define "loadlab.directDatabaseUrl" -}}
{{- $pg := .Values.postgresql -}}
{{- printf "postgresql+asyncpg://%s:$(LOADLAB_DB_PASSWORD)@%s:%v/%s" $pg.username (include "loadlab.postgresHost" .) (include "loadlab.postgresPort" .) $pg.database -}}
{{- end -}}

{{/* Return the Redis URL the API uses (empty when Redis is disabled: no cache). */}}
{{- define "loadlab.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s:%v/0" (include "loadlab.componentName" (dict "ctx" . "component" "redis")) .Values.redis.port -}}
{{- end -}}
{{- end -}}

{{/* Return the API's environment: the password first (so $(LOADLAB_DB_PASSWORD) expands), then api.env verbatim, then the URLs and the JWT secret. */}}
{{- define "loadlab.apiEnv" -}}
- name: LOADLAB_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "loadlab.secretName" . }}
      key: {{ .Values.auth.databasePasswordKey }}
{{- range $key, $value := .Values.api.env }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
- name: BOARD_DATABASE_URL
  value: {{ include "loadlab.apiDatabaseUrl" . | quote }}
- name: BOARD_REDIS_URL
  value: {{ include "loadlab.redisUrl" . | quote }}
- name: BOARD_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "loadlab.secretName" . }}
      key: {{ .Values.auth.jwtSecretKey }}
{{- end -}}

{{/* Return the Locust run id (locust.runId, else r<revision>). */}}
{{- define "loadlab.runId" -}}
{{- default (printf "r%d" .Release.Revision) .Values.locust.runId -}}
{{- end -}}

{{/* Return the load suite's own options for the master, as `--flag value` arguments (same spelling as loadlab.commands.locust_options). */}}
{{- define "loadlab.locustSuiteArgs" -}}
{{- $l := .Values.locust -}}
- --scenario
- {{ $l.scenario | quote }}
- --shape
- {{ $l.shape | quote }}
- --step-users
- {{ $l.stepUsers | quote }}
- --step-interval
- {{ $l.stepInterval | quote }}
- --account-count
- {{ .Values.accounts.count | quote }}
{{- if $l.thresholds }}
- --thresholds
- {{ $l.thresholds | quote }}
{{- end }}
{{- range $l.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Return the API Service URL Locust sends load to. */}}
{{- define "loadlab.apiUrl" -}}
{{- printf "http://%s:%v" (include "loadlab.componentName" (dict "ctx" . "component" "api")) .Values.api.port -}}
{{- end -}}

{{/* Return the number of workers a headless run waits for. */}}
{{- define "loadlab.expectWorkers" -}}
{{- if gt (int .Values.locust.run.expectWorkers) 0 -}}
{{- .Values.locust.run.expectWorkers -}}
{{- else -}}
{{- .Values.locust.workers.replicas -}}
{{- end -}}
{{- end -}}

{{/* Return the Locust master's container spec (shared by the ui Deployment and the run Job): (dict "ctx" $ "mode" "ui"). */}}
{{- define "loadlab.locustMasterContainer" -}}
{{- $ := .ctx -}}
{{- $l := $.Values.locust -}}
- name: master
  image: {{ include "loadlab.image" (dict "image" $l.image "ctx" $) }}
  imagePullPolicy: {{ $l.image.pullPolicy }}
  command:
    - python
    - -m
    - locust
    - -f
    - {{ $l.locustfile | quote }}
    - --master
  args:
    - --host
    - {{ include "loadlab.apiUrl" $ | quote }}
    - --master-bind-port
    - {{ $l.master.port | quote }}
    - --web-port
    - {{ $l.master.webPort | quote }}
    - --users
    - {{ $l.users | quote }}
    - --spawn-rate
    - {{ $l.spawnRate | quote }}
    - --enable-rebalancing
    - --stop-timeout
    - {{ $l.stopTimeout | quote }}
    - --exporter-host
    - "0.0.0.0"
    - --exporter-port
    - {{ $l.exporterPort | quote }}
    - --run-id
    - {{ include "loadlab.runId" $ | quote }}
    {{- include "loadlab.locustSuiteArgs" $ | nindent 4 }}
    {{- if eq .mode "run" }}
    {{- $dir := printf "/results/%s" (include "loadlab.runId" $) }}
    - --headless
    - --run-time
    - {{ $l.runTime | quote }}
    - --expect-workers
    - {{ include "loadlab.expectWorkers" $ | quote }}
    - --expect-workers-max-wait
    - {{ $l.run.expectWorkersMaxWait | quote }}
    - --csv
    - {{ printf "%s/locust" $dir | quote }}
    - --html
    - {{ printf "%s/locust.html" $dir | quote }}
    - --json-file
    - {{ printf "%s/locust" $dir | quote }}
    - --verdict-file
    - {{ printf "%s/verdict.json" $dir | quote }}
    - --exporter-linger
    - {{ $l.run.exporterLinger | quote }}
    - --only-summary
    {{- end }}
  ports:
    - name: zmq
      containerPort: {{ $l.master.port }}
    - name: web
      containerPort: {{ $l.master.webPort }}
    - name: metrics
      containerPort: {{ $l.exporterPort }}
  {{- if eq .mode "ui" }}
  readinessProbe:
    httpGet:
      path: /
      port: web
    periodSeconds: 10
  livenessProbe:
    tcpSocket:
      port: zmq
    periodSeconds: 20
    failureThreshold: 6
  {{- end }}
  resources:
    {{- toYaml $l.master.resources | nindent 4 }}
  securityContext:
    {{- include "loadlab.containerSecurityContext" (dict "ctx" $ "uid" $l.runAsUser) | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- if eq .mode "run" }}
    - name: results
      mountPath: /results
    {{- end }}
{{- end -}}

{{/* Collect every problem with the values and fail once. */}}
{{- define "loadlab.validateValues" -}}
{{- $problems := list -}}
{{- range $key, $value := .Values.api.env -}}
{{- if not (hasPrefix "BOARD_" $key) -}}
{{- $problems = append $problems (printf "api.env.%s: only BOARD_* settings belong here" $key) -}}
{{- end -}}
{{- if has $key (list "BOARD_DATABASE_URL" "BOARD_REDIS_URL" "BOARD_JWT_SECRET") -}}
{{- $problems = append $problems (printf "api.env.%s: the chart sets it (from pgbouncer/redis/auth values)" $key) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.pgbouncer.enabled (eq (toString (default "false" .Values.api.env.BOARD_DB_STATEMENT_CACHE) | lower) "true") -}}
{{- $problems = append $problems "api.env.BOARD_DB_STATEMENT_CACHE: must be \"false\" behind PgBouncer in transaction mode" -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.host) -}}
{{- $problems = append $problems "externalDatabase.host: required when postgresql.enabled is false" -}}
{{- end -}}
{{- if and .Values.api.hpa.enabled (lt (int .Values.api.hpa.maxReplicas) (int .Values.api.hpa.minReplicas)) -}}
{{- $problems = append $problems "api.hpa.maxReplicas: must be >= api.hpa.minReplicas" -}}
{{- end -}}
{{- if and .Values.locust.enabled (not .Values.api.enabled) -}}
{{- $problems = append $problems "locust.enabled: needs api.enabled (Locust sends its load to the chart's API)" -}}
{{- end -}}
{{- if and .Values.grafana.enabled (not .Values.prometheus.enabled) (not .Values.grafana.prometheusUrl) -}}
{{- $problems = append $problems "grafana.prometheusUrl: required when prometheus.enabled is false" -}}
{{- end -}}
{{- if $problems -}}
{{- fail (printf "\nVALUES VALIDATION:\n  - %s" (join "\n  - " $problems)) -}}
{{- end -}}
{{- end -}}

{{/* Return the environment of the migrate/seed Job: the API's, but straight to Postgres and without Redis. */}}
{{- define "loadlab.migrateEnv" -}}
- name: LOADLAB_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "loadlab.secretName" . }}
      key: {{ .Values.auth.databasePasswordKey }}
{{- range $key, $value := .Values.api.env }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
- name: BOARD_DATABASE_URL
  value: {{ include "loadlab.directDatabaseUrl" . | quote }}
- name: BOARD_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "loadlab.secretName" . }}
      key: {{ .Values.auth.jwtSecretKey }}
{{- end -}}

{{/* Return a NetworkPolicy peer selecting one component's pods: (dict "ctx" $ "component" "api"); "@external-prometheus": the namespaces of kube-prometheus-stack. */}}
{{- define "loadlab.peer" -}}
{{- if eq .component "@external-prometheus" -}}
- namespaceSelector:
    {{- with .ctx.Values.networkPolicy.metricsNamespaceLabels }}
    matchLabels:
      {{- toYaml . | nindent 6 }}
    {{- else }} {}
    {{- end }}
{{- else -}}
- podSelector:
    matchLabels:
      {{- include "loadlab.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
{{- end -}}
{{- end -}}

{{/* Return the options that shape the users, for the workers too (as the lab passes them: LocustRun.scenario_options). */}}
{{- define "loadlab.locustUserArgs" -}}
- --scenario
- {{ .Values.locust.scenario | quote }}
- --account-count
- {{ .Values.accounts.count | quote }}
{{- end -}}
