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

{{/* Return an image reference from {repository, tag, digest}, behind global.imageRegistry when set: (dict "image" .Values.api.image "ctx" $). */}}
{{- define "loadlab.image" -}}
{{- $tag := default .ctx.Chart.AppVersion .image.tag | toString -}}
{{- $repository := .image.repository -}}
{{- with .ctx.Values.global.imageRegistry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
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
{{- printf "postgresql+psycopg://%s:$(LOADLAB_DB_PASSWORD)@%s:%v/%s" $pg.username (include "loadlab.componentName" (dict "ctx" . "component" "pgbouncer")) .Values.pgbouncer.port $pg.database -}}
{{- else -}}
{{- include "loadlab.directDatabaseUrl" . -}}
{{- end -}}
{{- end -}}

{{/* Return the database URL of the database's owner straight to Postgres: the migrate Job's. */}}
{{- define "loadlab.ownerDatabaseUrl" -}}
{{- $pg := .Values.postgresql -}}
{{- printf "postgresql+psycopg://%s:$(LOADLAB_DB_OWNER_PASSWORD)@%s:%v/%s" $pg.ownerUsername (include "loadlab.postgresHost" .) (include "loadlab.postgresPort" .) $pg.database -}}
{{- end -}}

{{/* Return the API role's database URL straight to Postgres (the API's without PgBouncer). */}}
{{- define "loadlab.directDatabaseUrl" -}}
{{- $pg := .Values.postgresql -}}
{{- printf "postgresql+psycopg://%s:$(LOADLAB_DB_PASSWORD)@%s:%v/%s" $pg.username (include "loadlab.postgresHost" .) (include "loadlab.postgresPort" .) $pg.database -}}
{{- end -}}

{{/* Return the Redis URL the API uses: its ACL user `board` (files/redis-users.conf), its password from
$(LOADLAB_REDIS_PASSWORD) (empty when Redis is disabled: no cache). */}}
{{- define "loadlab.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://board:$(LOADLAB_REDIS_PASSWORD)@%s:%v/0" (include "loadlab.componentName" (dict "ctx" . "component" "redis")) .Values.redis.port -}}
{{- end -}}
{{- end -}}

{{/* Return the environment of a board process: (dict "ctx" $ "passwordVar" NAME "passwordKey" KEY "databaseUrl" URL
["redisUrl" URL]). The database password first (so $(NAME) expands in the URL), then api.env verbatim, then the
URLs and the JWT secret. */}}
{{- define "loadlab.boardEnv" -}}
{{- $ctx := .ctx -}}
- name: {{ .passwordVar }}
  valueFrom:
    secretKeyRef:
      name: {{ include "loadlab.secretName" $ctx }}
      key: {{ .passwordKey }}
{{- if and (hasKey . "redisUrl") $ctx.Values.redis.enabled }}
- name: LOADLAB_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "loadlab.secretName" $ctx }}
      key: {{ $ctx.Values.auth.redisPasswordKey }}
{{- end }}
{{- range $key, $value := $ctx.Values.api.env }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
- name: BOARD_DATABASE_URL
  value: {{ .databaseUrl | quote }}
{{- if hasKey . "redisUrl" }}
- name: BOARD_REDIS_URL
  value: {{ .redisUrl | quote }}
{{- end }}
- name: BOARD_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "loadlab.secretName" $ctx }}
      key: {{ $ctx.Values.auth.jwtSecretKey }}
{{- end -}}

{{/* Return the API's environment: through PgBouncer (when enabled), with Redis. */}}
{{- define "loadlab.apiEnv" -}}
{{- include "loadlab.boardEnv" (dict "ctx" . "passwordVar" "LOADLAB_DB_PASSWORD" "passwordKey" .Values.auth.databasePasswordKey "databaseUrl" (include "loadlab.apiDatabaseUrl" .) "redisUrl" (include "loadlab.redisUrl" .)) -}}
{{- end -}}

{{/* Return the URL of the API Service (Locust's default target). */}}
{{- define "loadlab.apiUrl" -}}
{{- printf "http://%s:%v" (include "loadlab.componentName" (dict "ctx" . "component" "api")) .Values.api.port -}}
{{- end -}}

{{/* Collect every problem with the values and fail once. */}}
{{- define "loadlab.validateValues" -}}
{{- $problems := list -}}
{{- /* values.schema.json already refuses unknown keys, wrong types, BOARD_* knobs out of range and statement
       caches behind PgBouncer (tools/chart-docs.py); what remains are checks across values. */ -}}
{{- if and (or .Values.api.enabled .Values.pgbouncer.enabled) (not .Values.postgresql.enabled) (not .Values.externalDatabase.host) -}}
{{- $problems = append $problems "externalDatabase.host: required when postgresql.enabled is false (the API and PgBouncer need a database)" -}}
{{- end -}}
{{- /* Connections: at most (API pods) x (pool + overflow) clients, each PgBouncer opens up to poolSize to Postgres.
       The fallbacks are board.config.Settings' defaults (tests/chart checks they still are). */ -}}
{{- if .Values.api.enabled -}}
{{- $apiPods := ternary .Values.api.hpa.maxReplicas .Values.api.replicas .Values.api.hpa.enabled | int -}}
{{- $pool := .Values.api.env.BOARD_DB_POOL_SIZE | default "10" | atoi -}}
{{- $overflow := .Values.api.env.BOARD_DB_MAX_OVERFLOW | default "10" | atoi -}}
{{- $clients := mul $apiPods (add $pool $overflow) -}}
{{- $reserve := 10 -}}
{{- if .Values.pgbouncer.enabled -}}
{{- $pb := .Values.pgbouncer -}}
{{- if gt $clients (mul $pb.replicas $pb.maxClientConn) -}}
{{- $problems = append $problems (printf "pgbouncer.maxClientConn: %d API pods x (pool %d + overflow %d) = %d clients, more than %d PgBouncer pods x %d" $apiPods $pool $overflow $clients (int $pb.replicas) (int $pb.maxClientConn)) -}}
{{- end -}}
{{- if and .Values.postgresql.enabled (gt (mul $pb.replicas $pb.poolSize) (sub .Values.postgresql.maxConnections $reserve)) -}}
{{- $problems = append $problems (printf "pgbouncer.poolSize: %d PgBouncer pods x %d server connections exceed postgresql.maxConnections %d minus %d for migrations and the exporter" (int $pb.replicas) (int $pb.poolSize) (int .Values.postgresql.maxConnections) $reserve) -}}
{{- end -}}
{{- else if and .Values.postgresql.enabled (gt $clients (sub .Values.postgresql.maxConnections $reserve)) -}}
{{- $problems = append $problems (printf "postgresql.maxConnections: %d API pods x (pool %d + overflow %d) = %d connections, more than %d minus %d for migrations and the exporter" $apiPods $pool $overflow $clients (int .Values.postgresql.maxConnections) $reserve) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.api.hpa.enabled (lt (int .Values.api.hpa.maxReplicas) (int .Values.api.hpa.minReplicas)) -}}
{{- $problems = append $problems "api.hpa.maxReplicas: must be >= api.hpa.minReplicas" -}}
{{- end -}}
{{- $l := .Values.locust -}}
{{- if $l.enabled -}}
{{- if and (not .Values.api.enabled) (not $l.host) -}}
{{- $problems = append $problems "locust.host: required when api.enabled is false (Locust needs a target)" -}}
{{- end -}}
{{- if gt (len (compact (list $l.locustfile $l.locustfileConfigMap $l.locustfilePath))) 1 -}}
{{- $problems = append $problems "locust.locustfile, locust.locustfileConfigMap, locust.locustfilePath: set one of them" -}}
{{- end -}}
{{- if not (hasSuffix ".py" $l.locustfileName) -}}
{{- $problems = append $problems (printf "locust.locustfileName: %q must be a .py file name" $l.locustfileName) -}}
{{- end -}}
{{- if and $l.workers.hpa.enabled $l.workers.keda.enabled -}}
{{- $problems = append $problems "locust.workers.hpa.enabled, locust.workers.keda.enabled: choose one (KEDA makes its own HPA)" -}}
{{- end -}}
{{- if and (eq $l.master.mode "run") (or $l.workers.hpa.enabled $l.workers.keda.enabled) -}}
{{- $problems = append $problems "locust.workers.hpa/keda: autoscaling applies to ui mode; a run's workers are a Job (locust.workers.replicas is its parallelism)" -}}
{{- end -}}
{{- if and (eq $l.master.mode "ui") (or $l.master.ingress.enabled .Values.networkPolicy.allowExternalUI) (not $l.master.webLogin.enabled) -}}
{{- $problems = append $problems "locust.master.webLogin.enabled: required when the web UI is exposed beyond a port-forward (locust.master.ingress.enabled or networkPolicy.allowExternalUI): it starts tests against real services" -}}
{{- end -}}
{{- if and (eq $l.master.mode "run") $l.master.ingress.enabled -}}
{{- $problems = append $problems "locust.master.ingress.enabled: a run (locust.master.mode=run) is headless and has no web UI" -}}
{{- end -}}
{{- if and $l.master.webLogin.enabled (not (include "loadlab.locustSuite" .)) (not $l.plugin) -}}
{{- $problems = append $problems "locust.master.webLogin.enabled: needs locust.plugin with your own locustfile (the plugin checks the login)" -}}
{{- end -}}
{{- if and $l.workers.keda.enabled (not .Values.prometheus.enabled) (not $l.workers.keda.serverAddress) -}}
{{- $problems = append $problems "locust.workers.keda.serverAddress: required when prometheus.enabled is false" -}}
{{- end -}}
{{- range $name, $auto := dict "hpa" $l.workers.hpa "keda" $l.workers.keda -}}
{{- if and $auto.enabled (lt (int $auto.maxReplicas) (int $auto.minReplicas)) -}}
{{- $problems = append $problems (printf "locust.workers.%s.maxReplicas: must be >= locust.workers.%s.minReplicas" $name $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.grafana.enabled (not .Values.prometheus.enabled) (not .Values.grafana.prometheusUrl) -}}
{{- $problems = append $problems "grafana.prometheusUrl: required when prometheus.enabled is false" -}}
{{- end -}}
{{- if $problems -}}
{{- fail (printf "\nVALUES VALIDATION:\n  - %s" (join "\n  - " $problems)) -}}
{{- end -}}
{{- end -}}

{{/* Return the environment of the migrate/seed Job: the API's, but as the database's owner straight to Postgres and without Redis. */}}
{{- define "loadlab.migrateEnv" -}}
{{- include "loadlab.boardEnv" (dict "ctx" . "passwordVar" "LOADLAB_DB_OWNER_PASSWORD" "passwordKey" .Values.auth.databaseOwnerPasswordKey "databaseUrl" (include "loadlab.ownerDatabaseUrl" .)) -}}
{{- end -}}

{{/* Return a NetworkPolicy peer selecting one component's pods: (dict "ctx" $ "component" "api"); "@external-prometheus": the namespaces of kube-prometheus-stack; "@ingress-controller": the ingress controller's pods; "@keda": KEDA's namespace. */}}
{{- define "loadlab.peer" -}}
{{- $np := .ctx.Values.networkPolicy -}}
{{- if eq .component "@external-prometheus" -}}
- namespaceSelector:
    {{- with $np.metricsNamespaceLabels }}
    matchLabels:
      {{- toYaml . | nindent 6 }}
    {{- else }} {}
    {{- end }}
{{- else if eq .component "@ingress-controller" -}}
- namespaceSelector:
    {{- with $np.ingressController.namespaceLabels }}
    matchLabels:
      {{- toYaml . | nindent 6 }}
    {{- else }} {}
    {{- end }}
  {{- with $np.ingressController.podLabels }}
  podSelector:
    matchLabels:
      {{- toYaml . | nindent 6 }}
  {{- end }}
{{- else if eq .component "@dns" -}}
- namespaceSelector:
    {{- with $np.dns.namespaceLabels }}
    matchLabels:
      {{- toYaml . | nindent 6 }}
    {{- else }} {}
    {{- end }}
  {{- with $np.dns.podLabels }}
  podSelector:
    matchLabels:
      {{- toYaml . | nindent 6 }}
  {{- end }}
{{- else if eq .component "@keda" -}}
- namespaceSelector:
    {{- with $np.kedaNamespaceLabels }}
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
