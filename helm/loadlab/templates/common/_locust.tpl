{{- /*
Locust helpers: which test runs (the built-in load suite, or the user's own locustfile), against which host,
and the master and worker containers shared by the ui Deployments and the run Jobs.
*/ -}}

{{/* Return the locustfile of the built-in load suite inside the Locust image (the Dockerfile copies locust/ there). */}}
{{- define "loadlab.suiteLocustfile" -}}
/app/locust/locustfile.py
{{- end -}}

{{/* Return "true" when Locust runs the built-in load suite, "" when it runs the user's own locustfile. */}}
{{- define "loadlab.locustSuite" -}}
{{- $l := .Values.locust -}}
{{- if not (or $l.locustfile $l.locustfileConfigMap $l.locustfilePath) -}}
true
{{- end -}}
{{- end -}}

{{/* Return "true" when the user's locustfile comes from a ConfigMap (inline text or an existing one) mounted at /mnt/locust. */}}
{{- define "loadlab.locustfileMounted" -}}
{{- if or .Values.locust.locustfile .Values.locust.locustfileConfigMap -}}
true
{{- end -}}
{{- end -}}

{{/* Return the name of the ConfigMap with the locustfile (the chart's, from locust.locustfile, or locust.locustfileConfigMap). */}}
{{- define "loadlab.locustfileConfigMapName" -}}
{{- default (include "loadlab.componentName" (dict "ctx" . "component" "locustfile")) .Values.locust.locustfileConfigMap -}}
{{- end -}}

{{/* Return the plugin file the Locust image carries beside the suite (locust/loadlab_plugin.py). */}}
{{- define "loadlab.pluginLocustfile" -}}
/app/locust/loadlab_plugin.py
{{- end -}}

{{/* Return Locust's -f argument: the suite's locustfile (it imports the plugin itself), or the plugin beside your own locustfile (locust.plugin), or yours alone. */}}
{{- define "loadlab.locustfileArg" -}}
{{- if and (not (include "loadlab.locustSuite" .)) .Values.locust.plugin -}}
{{- printf "%s,%s" (include "loadlab.pluginLocustfile" .) (include "loadlab.locustfilePath" .) -}}
{{- else -}}
{{- include "loadlab.locustfilePath" . -}}
{{- end -}}
{{- end -}}

{{/* Return the locustfile path in the Locust containers. */}}
{{- define "loadlab.locustfilePath" -}}
{{- if include "loadlab.locustfileMounted" . -}}
{{- printf "/mnt/locust/%s" .Values.locust.locustfileName -}}
{{- else -}}
{{- default (include "loadlab.suiteLocustfile" .) .Values.locust.locustfilePath -}}
{{- end -}}
{{- end -}}

{{/* Return the working directory of the Locust containers: the locustfile's folder (Locust reads ./locust.conf from it). */}}
{{- define "loadlab.locustWorkingDir" -}}
{{- dir (include "loadlab.locustfilePath" .) -}}
{{- end -}}

{{/* Return the URL Locust sends load to: locust.host, else the chart's API Service. */}}
{{- define "loadlab.locustHost" -}}
{{- default (include "loadlab.apiUrl" .) .Values.locust.host -}}
{{- end -}}

{{/* Return "true" when Locust targets the chart's own API (seeded accounts to wait for, NetworkPolicy edges). */}}
{{- define "loadlab.locustTargetsApi" -}}
{{- if and .Values.api.enabled (not .Values.locust.host) -}}
true
{{- end -}}
{{- end -}}

{{/* Return the Locust run id (locust.runId, else r<revision>). */}}
{{- define "loadlab.runId" -}}
{{- default (printf "r%d" .Release.Revision) .Values.locust.runId -}}
{{- end -}}

{{/* Return the name of one run's Job: (dict "ctx" $ "role" "run|worker"). */}}
{{- define "loadlab.runJobName" -}}
{{- $component := ternary "locust-run" "locust-worker" (eq .role "run") -}}
{{- include "loadlab.componentName" (dict "ctx" .ctx "component" (printf "%s-%s" $component (include "loadlab.runId" .ctx))) -}}
{{- end -}}

{{/* Return the number of workers a headless run waits for. */}}
{{- define "loadlab.expectWorkers" -}}
{{- if gt (int .Values.locust.run.expectWorkers) 0 -}}
{{- .Values.locust.run.expectWorkers -}}
{{- else -}}
{{- .Values.locust.workers.replicas -}}
{{- end -}}
{{- end -}}

{{/* Return "true" when the plugin runs (the suite imports it; beside your own locustfile with locust.plugin). */}}
{{- define "loadlab.locustPlugin" -}}
{{- if or (include "loadlab.locustSuite" .) .Values.locust.plugin -}}
true
{{- end -}}
{{- end -}}

{{/* Return the master's options of the plugin (exporter, run id, thresholds) and, for the suite, its own (scenarios, shapes, accounts), as `--flag value` arguments (same spelling as loadlab.commands.locust_options). */}}
{{- define "loadlab.locustSuiteArgs" -}}
{{- $l := .Values.locust -}}
{{- if include "loadlab.locustPlugin" . -}}
- --exporter-host
- "0.0.0.0"
- --exporter-port
- {{ $l.exporterPort | quote }}
- --run-id
- {{ include "loadlab.runId" . | quote }}
{{- if $l.thresholds }}
- --thresholds
- {{ $l.thresholds | quote }}
{{- end }}
{{- end }}
{{- if include "loadlab.locustSuite" . }}
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
{{- end }}
{{- end -}}

{{/* Return the suite's options that shape the users, for the workers too (as the lab passes them: LocustRun.scenario_options); nothing for the user's own locustfile. */}}
{{- define "loadlab.locustUserArgs" -}}
{{- if include "loadlab.locustSuite" . -}}
- --scenario
- {{ .Values.locust.scenario | quote }}
- --account-count
- {{ .Values.accounts.count | quote }}
{{- end }}
{{- end -}}

{{/* Return the environment of a Locust container: the extra packages' folder, locust.env, then the role's extraEnv: (dict "ctx" $ "role" .Values.locust.master). */}}
{{- define "loadlab.locustEnv" -}}
{{- $l := .ctx.Values.locust -}}
{{- $env := list -}}
{{- if $l.pipPackages -}}
{{- /* The image sets PYTHONPATH=/app/locust (the suite); the extra packages come first. */ -}}
{{- $env = append $env (dict "name" "PYTHONPATH" "value" "/mnt/pip:/app/locust") -}}
{{- end -}}
{{- range $name, $value := $l.env -}}
{{- $env = append $env (dict "name" $name "value" ($value | toString)) -}}
{{- end -}}
{{- $env = concat $env ((.role | default dict).extraEnv | default list) -}}
{{- with $env -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{/* Return the volume mounts of a Locust container: (dict "ctx" $ "role" .Values.locust.master). */}}
{{- define "loadlab.locustVolumeMounts" -}}
{{- $l := .ctx.Values.locust -}}
- name: tmp
  mountPath: /tmp
{{- if include "loadlab.locustfileMounted" .ctx }}
- name: locustfile
  mountPath: /mnt/locust
  readOnly: true
{{- end }}
{{- if $l.libConfigMap }}
- name: locust-lib
  mountPath: /mnt/locust/lib
  readOnly: true
{{- end }}
{{- if $l.pipPackages }}
- name: pip
  mountPath: /mnt/pip
  readOnly: true
{{- end }}
{{- include "loadlab.extraVolumeMounts" (dict "role" .role) }}
{{- end -}}

{{/* Return the volumes of a Locust pod: (dict "ctx" $ "role" .Values.locust.master). */}}
{{- define "loadlab.locustVolumes" -}}
{{- $l := .ctx.Values.locust -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if include "loadlab.locustfileMounted" .ctx }}
- name: locustfile
  configMap:
    name: {{ include "loadlab.locustfileConfigMapName" .ctx }}
{{- end }}
{{- if $l.libConfigMap }}
- name: locust-lib
  configMap:
    name: {{ $l.libConfigMap }}
{{- end }}
{{- if $l.pipPackages }}
- name: pip
  emptyDir:
    sizeLimit: {{ $l.pipSizeLimit }}
{{- end }}
{{- include "loadlab.extraVolumes" (dict "role" .role) }}
{{- end -}}

{{/* Return the init container that installs locust.pipPackages into the pod's /mnt/pip (needs egress to the package index). */}}
{{- define "loadlab.locustPipInit" -}}
{{- $l := .Values.locust -}}
{{- if $l.pipPackages -}}
- name: pip-packages
  image: {{ include "loadlab.image" (dict "image" $l.image "ctx" .) }}
  imagePullPolicy: {{ $l.image.pullPolicy }}
  command:
    - python
    - -m
    - pip
    - install
    - --no-cache-dir
    - --disable-pip-version-check
    - --target
    - /mnt/pip
    {{- range $l.pipPackages }}
    - {{ . | quote }}
    {{- end }}
  env:
    - name: HOME
      value: /tmp
  resources:
    {{- toYaml $l.master.resources | nindent 4 }}
  securityContext:
    {{- include "loadlab.containerSecurityContext" (dict "ctx" . "uid" $l.runAsUser) | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: pip
      mountPath: /mnt/pip
{{- end }}
{{- end -}}

{{/* Return the Locust master's container spec (shared by the ui Deployment and the run Job): (dict "ctx" $ "mode" "ui"). */}}
{{- define "loadlab.locustMasterContainer" -}}
{{- $ := .ctx -}}
{{- $l := $.Values.locust -}}
{{- $role := $l.master -}}
- name: master
  image: {{ include "loadlab.image" (dict "image" $l.image "ctx" $) }}
  imagePullPolicy: {{ $l.image.pullPolicy }}
  workingDir: {{ include "loadlab.locustWorkingDir" $ }}
  command:
    - python
    - -m
    - locust
    - -f
    - {{ include "loadlab.locustfileArg" $ | quote }}
    - --master
  args:
    - --host
    - {{ include "loadlab.locustHost" $ | quote }}
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
    {{- with include "loadlab.locustSuiteArgs" $ }}
    {{- . | nindent 4 }}
    {{- end }}
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
    - --only-summary
    {{- if include "loadlab.locustPlugin" $ }}
    - --verdict-file
    - {{ printf "%s/verdict.json" $dir | quote }}
    - --exporter-linger
    - {{ $l.run.exporterLinger | quote }}
    {{- end }}
    {{- end }}
    {{- if and (eq .mode "ui") $l.master.webLogin.enabled }}
    - --web-login
    - --web-username
    - {{ $l.master.webLogin.username | quote }}
    {{- end }}
    {{- with include "loadlab.locustWebBasePath" $ }}
    - --web-base-path
    - {{ . | quote }}
    {{- end }}
    {{- range $l.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  {{- $env := include "loadlab.locustEnv" (dict "ctx" $ "role" $role) }}
  {{- if or $env (and (eq .mode "ui") $l.master.webLogin.enabled) }}
  env:
    {{- if and (eq .mode "ui") $l.master.webLogin.enabled }}
    {{- /* Read by the plugin (loadsuite.webauth), never on the command line. */}}
    - name: LOADLAB_WEB_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ include "loadlab.secretName" $ }}
          key: {{ $.Values.auth.locustWebPasswordKey }}
    {{- end }}
    {{- with $env }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- end }}
  {{- include "loadlab.envFrom" (dict "role" $role "extra" $l.envFrom) | nindent 2 }}
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
      path: {{ printf "%s/" (include "loadlab.locustWebBasePath" $) }}
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
    {{- include "loadlab.locustVolumeMounts" (dict "ctx" $ "role" $role) | nindent 4 }}
    {{- if eq .mode "run" }}
    - name: results
      mountPath: /results
    {{- end }}
{{- end -}}

{{/* Return a Locust worker's container spec (shared by the ui Deployment and the run Job). */}}
{{- define "loadlab.locustWorkerContainer" -}}
{{- $l := .Values.locust -}}
{{- $role := $l.workers -}}
- name: worker
  image: {{ include "loadlab.image" (dict "image" $l.image "ctx" .) }}
  imagePullPolicy: {{ $l.image.pullPolicy }}
  workingDir: {{ include "loadlab.locustWorkingDir" . }}
  command:
    - python
    - -m
    - locust
    - -f
    - {{ include "loadlab.locustfileArg" . | quote }}
    - --worker
    - --master-host
    - {{ include "loadlab.componentName" (dict "ctx" . "component" "locust-master") | quote }}
    - --master-port
    - {{ $l.master.port | quote }}
  {{- /* The suite's options that shape each user go to the workers too (as in the lab); the rest comes from the master. */}}
  {{- $args := include "loadlab.locustUserArgs" . }}
  {{- if or $args $role.extraArgs }}
  args:
    {{- with $args }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- range $role.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  {{- end }}
  {{- with include "loadlab.locustEnv" (dict "ctx" . "role" $role) }}
  env:
    {{- . | nindent 4 }}
  {{- end }}
  {{- include "loadlab.envFrom" (dict "role" $role "extra" $l.envFrom) | nindent 2 }}
  {{- /* No probes: a worker serves no port, and it reconnects to the master by itself (see .checkov.yaml). */}}
  resources:
    {{- toYaml $role.resources | nindent 4 }}
  securityContext:
    {{- include "loadlab.containerSecurityContext" (dict "ctx" . "uid" $l.runAsUser) | nindent 4 }}
  volumeMounts:
    {{- include "loadlab.locustVolumeMounts" (dict "ctx" . "role" $role) | nindent 4 }}
{{- end -}}

{{/* Return the name of the results PVC (locust.run.persistence.existingClaim, else the chart's). */}}
{{- define "loadlab.resultsClaimName" -}}
{{- default (include "loadlab.componentName" (dict "ctx" . "component" "locust-results")) .Values.locust.run.persistence.existingClaim -}}
{{- end -}}

{{/* Return the run master's per-role settings (YAML): locust.master's, plus a required affinity to the results pod's node when both mount a ReadWriteOnce PVC (two nodes would be a Multi-Attach error). */}}
{{- define "loadlab.runMasterRole" -}}
{{- $role := deepCopy .Values.locust.master -}}
{{- $run := .Values.locust.run -}}
{{- if and $run.results.enabled (eq $run.persistence.accessMode "ReadWriteOnce") -}}
{{- $affinity := $role.affinity | default dict -}}
{{- $podAffinity := $affinity.podAffinity | default dict -}}
{{- $required := $podAffinity.requiredDuringSchedulingIgnoredDuringExecution | default list -}}
{{- $selector := fromYaml (include "loadlab.selectorLabels" (dict "ctx" . "component" "locust-results")) -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" $selector) -}}
{{- $_ := set $podAffinity "requiredDuringSchedulingIgnoredDuringExecution" (append $required $term) -}}
{{- $_ := set $affinity "podAffinity" $podAffinity -}}
{{- $_ := set $role "affinity" $affinity -}}
{{- end -}}
{{- toYaml $role -}}
{{- end -}}

{{/* Return the web UI's base path behind an ingress at a sub-path (--web-base-path), else nothing. */}}
{{- define "loadlab.locustWebBasePath" -}}
{{- $ing := .Values.locust.master.ingress -}}
{{- if and $ing.enabled (ne (trimSuffix "/" $ing.path) "") -}}
{{- trimSuffix "/" $ing.path -}}
{{- end -}}
{{- end -}}
