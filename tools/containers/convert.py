"""Rendered Kubernetes objects -> pods that `podman kube play` 4.3 runs the way a cluster would.

What podman 4.3 gets wrong or lacks, and what this does instead (measured, see the README section
"Try the images without a cluster"):

- no controllers: Deployments, StatefulSets, ReplicaSets, DaemonSets and Jobs become their pods
  (`<name>-<ordinal>`: replicas, or a Job's parallelism), restartPolicy Always for the long-lived kinds;
- no Service DNS: every pod gets a fixed IP on the podman network and `hostAliases` naming each Service
  (and `name.namespace[.svc.cluster.local]`) after one of its backends, spread by the client pod's ordinal;
  a Service port that differs from its target port cannot be emulated this way and is refused;
- Secrets are not read from YAML: they become `podman secret create` inputs (the `data` map as JSON);
- `$(VAR)` in env values, command and args is not expanded: it is expanded here (expand.py);
- emptyDir volumes are shared by name between pods and owned by the first user, `fsGroup` is ignored: each
  emptyDir and PersistentVolumeClaim becomes a named volume that the runner creates with Kubernetes' ownership
  (group fsGroup, setgid, emptyDir 2777, claim 2775; on disk, medium Memory too; sizeLimit not enforced), and
  fsGroup joins the pod's supplemental groups as the kubelet does;
- every containerPort is published on the host at 0.0.0.0: ports are removed (Prometheus discovery and the
  probes keep what they need);
- probes become healthchecks needing curl, and nothing runs their timers: they are removed and handed to
  the runner, which runs readiness/startup probes once to know when a pod is ready;
- a ConfigMap volume mounted with subPath becomes a folder mounted over the file (runc fails): ConfigMap
  volumes become hostPath folders of files the runner writes (`files`), a subPath mount a hostPath file;
- init containers are deleted once they ran: an annotation keeps them, so their user and exit code can be
  checked; and they get the pod's restartPolicy, so Always would rerun them forever: a restartPolicy Always
  pod with init containers becomes OnFailure (a server that fails still restarts; one that exits 0 does not);
- images come from local storage only (imagePullPolicy Never): there is no registry here.

Pure functions of the rendered objects: `tests/containers/test_convert.py` covers them without podman.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from containers.expand import expand
from containers.promsd import DiscoveredPod, rewrite_config

#: podman's pod annotation for init containers that stay after they ran (the default, "once", removes them).
INIT_CONTAINER_TYPE = "io.podman.annotations.init.container.type"
#: IPs .1-.9 of the network are left to the gateway and anything else the network may add.
FIRST_HOST = 10
CONTROLLER_KINDS = {"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job"}
LONG_LIVED_KINDS = {"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet"}
#: kinds with nothing to run here, and why (the summary lists them)
NOT_RUN = {
    "Service": "hostAliases on every pod",
    "PersistentVolumeClaim": "a podman volume",
    "ConfigMap": "given to the pods that mount it",
    "Secret": "a podman secret",
    "NetworkPolicy": "not enforced (no CNI policy engine)",
    "PodDisruptionBudget": "no eviction API",
    "HorizontalPodAutoscaler": "no metrics API",
    "ServiceAccount": "no API server tokens",
    "Role": "no API server",
    "RoleBinding": "no API server",
    "ServiceMonitor": "no Prometheus operator",
    "PrometheusRule": "no Prometheus operator",
}


class ConversionError(ValueError):
    """Something in the manifests that podman cannot be made to do as a cluster would."""


@dataclass(frozen=True)
class Volume:
    """A podman volume the runner creates before the pod starts, owned as the kubelet would own it."""

    name: str
    gid: int
    mode: int
    #: a PersistentVolumeClaim (outlives pods, may be shared) rather than a pod's emptyDir
    claim: bool = False


@dataclass(frozen=True)
class Probe:
    """A readiness or startup probe of one container, its port resolved to a number."""

    container: str
    kind: str
    action: str  # exec | httpGet | tcpSocket
    command: tuple[str, ...] = ()
    port: int = 0
    path: str = "/"


@dataclass
class PodPlan:
    """One pod to play: its manifest (with the ConfigMaps it mounts), IP, volumes, probes and ports."""

    name: str
    workload: str  # "Kind/name" of the object it came from
    ordinal: int
    ip: str
    manifest: dict[str, Any]
    configmaps: list[dict[str, Any]]
    volumes: list[Volume]
    probes: list[Probe]
    #: container name -> {port name: number}, as the manifest declared them before they were removed
    ports: dict[str, dict[str, int]]
    hook: str = ""  # the source object's helm.sh/hook annotation, if any
    run_as: dict[str, tuple[int | None, bool]] = field(default_factory=dict)  # container -> (uid, read-only root)
    #: host path -> (content, mode): the ConfigMap files the runner writes before the pod starts
    files: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass
class Plan:
    """Everything to create, in the order the objects were rendered."""

    namespace: str
    secrets: dict[str, bytes]
    pods: list[PodPlan]
    not_run: list[str]


def _name(obj: dict[str, Any]) -> str:
    return obj["metadata"]["name"]


def _secret_json(secret: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """(podman secret input: the data map as JSON, base64 values; decoded values for $(VAR) expansion)."""
    data = dict(secret.get("data") or {})
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    decoded = {key: base64.b64decode(value).decode(errors="replace") for key, value in data.items()}
    return json.dumps(data, sort_keys=True).encode(), decoded


def _pod_count(obj: dict[str, Any]) -> int:
    spec = obj.get("spec") or {}
    if obj["kind"] == "Job":
        return int(spec.get("parallelism", 1))
    if obj["kind"] == "DaemonSet":
        return 1  # one node
    return int(spec.get("replicas", 1))


class Converter:
    """Turns one rendered release into a Plan; `pod()` makes more pods of a workload later (scaling)."""

    def __init__(self, objects: Iterable[dict[str, Any]], subnet: str, namespace: str, files_dir: str) -> None:
        self.objects = [o for o in objects if o]
        self.namespace = namespace
        self.files_dir = files_dir.rstrip("/")
        self._discovered: list[DiscoveredPod] = []
        self._hosts = iter(list(ipaddress.ip_network(subnet).hosts())[FIRST_HOST - 1 :])
        self._configmaps = {_name(o): o for o in self.objects if o["kind"] == "ConfigMap"}
        self._secrets = {_name(o): _secret_json(o) for o in self.objects if o["kind"] == "Secret"}
        self._services = [o for o in self.objects if o["kind"] == "Service"]
        self._workloads = {
            f"{o['kind']}/{_name(o)}": o for o in self.objects if o["kind"] in CONTROLLER_KINDS | {"Pod"}
        }
        self._backends: dict[str, list[PodPlan]] = {}

    # -- the plan ----------------------------------------------------------------------------------------
    def plan(self) -> Plan:
        """Pods for every workload (IPs first, so every Service has its backends before aliases are written)."""
        pods = [self._skeleton(key, i) for key, obj in self._workloads.items() for i in range(_pod_count(obj))]
        self._backends = self._service_backends(pods)
        for pod in pods:
            self._finish(pod)
        self._discovered = [_discovered(p, self.namespace) for p in pods if not p.hook]
        for pod in pods:
            self._write_configmaps(pod)
        kinds = Counter(o["kind"] for o in self.objects if o["kind"] not in CONTROLLER_KINDS | {"Pod"})
        not_run = [f"{kind} x{count}: {NOT_RUN.get(kind, 'not emulated')}" for kind, count in sorted(kinds.items())]
        return Plan(self.namespace, {name: raw for name, (raw, _) in self._secrets.items()}, pods, not_run)

    def pod(self, workload: str, ordinal: int) -> PodPlan:
        """One more pod of `workload` ("Kind/name"), as its controller would add when scaled up."""
        if workload not in self._workloads:
            raise ConversionError(f"no workload {workload!r} in the manifests (have: {sorted(self._workloads)})")
        pod = self._skeleton(workload, ordinal)
        self._finish(pod)
        self._write_configmaps(pod)
        return pod

    # -- one pod -----------------------------------------------------------------------------------------
    def _skeleton(self, workload: str, ordinal: int) -> PodPlan:
        obj = self._workloads[workload]
        kind = obj["kind"]
        template = obj if kind == "Pod" else obj["spec"]["template"]
        name = _name(obj) if kind == "Pod" else f"{_name(obj)}-{ordinal}"
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        if kind == "StatefulSet":
            labels["statefulset.kubernetes.io/pod-name"] = name
        if kind == "Job":
            labels["job-name"] = _name(obj)
        annotations = dict((template.get("metadata") or {}).get("annotations") or {})
        spec = copy.deepcopy(template["spec"])
        annotations[INIT_CONTAINER_TYPE] = "always"
        if kind in LONG_LIVED_KINDS:
            spec["restartPolicy"] = "Always"
        if spec.get("initContainers") and spec.get("restartPolicy", "Always") == "Always":
            # podman 4.3 gives init containers the pod's policy: Always would rerun them forever
            spec["restartPolicy"] = "OnFailure"
        manifest = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
            "spec": spec,
        }
        ports = {c["name"]: _declared_ports(c) for c in spec.get("containers", [])}
        hook = ((obj.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
        return PodPlan(name, workload, ordinal, str(next(self._hosts)), manifest, [], [], [], ports, hook)

    def _finish(self, pod: PodPlan) -> None:
        obj = self._workloads[pod.workload]
        spec = pod.manifest["spec"]
        pod_sc = spec.setdefault("securityContext", {})
        fs_group = pod_sc.get("fsGroup")
        if fs_group is not None:
            groups = list(pod_sc.get("supplementalGroups") or [])
            pod_sc["supplementalGroups"] = groups if fs_group in groups else [*groups, fs_group]
        aliases = self._host_aliases(pod)
        if aliases:
            spec["hostAliases"] = list(spec.get("hostAliases") or []) + aliases
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            self._container(pod, container, pod_sc)
        self._volumes(pod, obj, fs_group)

    def _container(self, pod: PodPlan, container: dict[str, Any], pod_sc: dict[str, Any]) -> None:
        name = container["name"]
        declared = {
            p.get("name", str(p["containerPort"])): int(p["containerPort"]) for p in container.get("ports") or []
        }
        container.pop("ports", None)
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container.pop(kind, None)
            if probe and kind != "livenessProbe":
                pod.probes.append(_probe(name, kind, probe, declared))
        container["imagePullPolicy"] = "Never"
        env = self._environment(pod, container)
        for key in ("command", "args"):
            if key in container:
                container[key] = [expand(str(arg), env) for arg in container[key]]
        sc = {**pod_sc, **(container.get("securityContext") or {})}
        pod.run_as[name] = (sc.get("runAsUser"), bool(sc.get("readOnlyRootFilesystem")))

    def _environment(self, pod: PodPlan, container: dict[str, Any]) -> dict[str, str]:
        """The container's variables in order, each value expanded against the ones before it."""
        known: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                values = self._secrets.get(source["secretRef"]["name"], (b"", {}))[1]
            else:
                values = (self._configmaps.get(source.get("configMapRef", {}).get("name", "")) or {}).get("data") or {}
            known.update({prefix + k: str(v) for k, v in values.items()})
        for var in container.get("env") or []:
            if "value" in var:
                var["value"] = expand(str(var["value"]), known)
                known[var["name"]] = var["value"]
            elif (value := self._value_from(pod, var.get("valueFrom") or {})) is not None:
                known[var["name"]] = value
        return known

    def _value_from(self, pod: PodPlan, source: dict[str, Any]) -> str | None:
        if ref := source.get("secretKeyRef"):
            return self._secrets.get(ref["name"], (b"", {}))[1].get(ref["key"])
        if ref := source.get("configMapKeyRef"):
            return ((self._configmaps.get(ref["name"]) or {}).get("data") or {}).get(ref["key"])
        if ref := source.get("fieldRef"):
            fields = {"metadata.name": pod.name, "metadata.namespace": self.namespace, "status.podIP": pod.ip}
            return fields.get(ref.get("fieldPath", ""))
        return None

    def _volumes(self, pod: PodPlan, obj: dict[str, Any], fs_group: int | None) -> None:
        spec = pod.manifest["spec"]
        volumes = spec.setdefault("volumes", [])
        if obj["kind"] == "StatefulSet":
            for claim in obj["spec"].get("volumeClaimTemplates") or []:
                claim_name = f"{_name(claim)}-{pod.name}"  # Kubernetes' name for a StatefulSet pod's claim
                volumes.append({"name": _name(claim), "persistentVolumeClaim": {"claimName": claim_name}})
        gid = fs_group or 0
        for volume in list(volumes):  # a snapshot: subPath mounts append hostPath volumes of their own
            if "emptyDir" in volume:
                volume.pop("emptyDir")
                claim_name = f"{pod.name}-{volume['name']}"
                # medium Memory too: podman mounts a tmpfs volume afresh for each container, so an init
                # container's files would never reach the others
                pod.volumes.append(Volume(claim_name, gid, 0o2777 if fs_group else 0o777))
                volume["persistentVolumeClaim"] = {"claimName": claim_name}
            elif "persistentVolumeClaim" in volume:
                claim_name = volume["persistentVolumeClaim"]["claimName"]
                pod.volumes.append(Volume(claim_name, gid, 0o2775 if fs_group else 0o755, claim=True))
            elif "configMap" in volume:
                self._configmap_volume(pod, volume)
            else:
                raise ConversionError(f"pod {pod.name}: volume {volume['name']} of a kind not emulated: {volume}")

    def _configmap_volume(self, pod: PodPlan, volume: dict[str, Any]) -> None:
        """A ConfigMap volume -> a hostPath folder (files written later); subPath mounts -> hostPath files."""
        source = volume.pop("configMap")
        if source["name"] not in self._configmaps:
            raise ConversionError(f"pod {pod.name}: ConfigMap {source['name']} is not in the manifests")
        configmap = copy.deepcopy(self._configmaps[source["name"]])
        configmap["volume"] = {"folder": f"{self.files_dir}/{pod.name}/{volume['name']}", **source}
        pod.configmaps.append(configmap)
        volume["hostPath"] = {"path": configmap["volume"]["folder"], "type": "Directory"}
        spec = pod.manifest["spec"]
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            for mount in container.get("volumeMounts") or []:
                if mount["name"] == volume["name"] and mount.get("subPath"):
                    name = f"{volume['name']}-{len(spec['volumes'])}"
                    path = f"{configmap['volume']['folder']}/{mount.pop('subPath')}"
                    spec["volumes"].append({"name": name, "hostPath": {"path": path, "type": "File"}})
                    mount["name"] = name

    def _write_configmaps(self, pod: PodPlan) -> None:
        """The files of the pod's ConfigMap volumes, a prometheus.yml's Kubernetes discovery answered first."""
        for configmap in pod.configmaps:
            source = configmap.pop("volume")
            data = configmap.get("data") or {}
            for key, text in data.items():
                if key.endswith((".yml", ".yaml")) and "kubernetes_sd_configs" in text:
                    data[key] = rewrite_config(text, self._discovered, self.namespace) or text
            items = source.get("items") or [{"key": key, "path": key} for key in data]
            for item in items:
                mode = int(item.get("mode", source.get("defaultMode", 0o644)))
                pod.files[f"{source['folder']}/{item['path']}"] = (data[item["key"]], mode)

    # -- Services ----------------------------------------------------------------------------------------
    def _service_backends(self, pods: list[PodPlan]) -> dict[str, list[PodPlan]]:
        """Service name -> the pods its selector picks (helm test pods aside), each checked port by port."""
        backends = {}
        for service in self._services:
            selector = (service.get("spec") or {}).get("selector") or {}
            if not selector:
                continue
            chosen = [p for p in pods if not p.hook and _matches(selector, p.manifest["metadata"]["labels"])]
            for port in service["spec"].get("ports") or []:
                for pod in chosen:
                    _check_port(service, port, pod)
            backends[_name(service)] = chosen
        return backends

    def _host_aliases(self, pod: PodPlan) -> list[dict[str, Any]]:
        by_ip: dict[str, list[str]] = {}
        ns = self.namespace
        for service, backends in self._backends.items():
            if backends:
                target = backends[pod.ordinal % len(backends)]
                names = [service, f"{service}.{ns}", f"{service}.{ns}.svc", f"{service}.{ns}.svc.cluster.local"]
                by_ip.setdefault(target.ip, []).extend(names)
                sts = self._workloads.get(target.workload, {})
                if (sts.get("spec") or {}).get("serviceName") == service:
                    by_ip[target.ip].append(f"{target.name}.{service}")
        return [{"ip": ip, "hostnames": names} for ip, names in by_ip.items()]


def _discovered(pod: PodPlan, namespace: str) -> DiscoveredPod:
    """What Prometheus' pod discovery would know about one of our pods."""
    kind, _, name = pod.workload.partition("/")
    containers = tuple((c, tuple((n, number, "TCP") for n, number in ports.items())) for c, ports in pod.ports.items())
    controller = (kind, name) if kind != "Pod" else None
    return DiscoveredPod(pod.name, namespace, pod.ip, pod.manifest["metadata"]["labels"], {}, containers, controller)


def _declared_ports(container: dict[str, Any]) -> dict[str, int]:
    """Port name (the number when unnamed) -> number, as the container declares them."""
    return {p.get("name", str(p["containerPort"])): int(p["containerPort"]) for p in container.get("ports") or []}


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _check_port(service: dict[str, Any], port: dict[str, Any], pod: PodPlan) -> None:
    """A Service port reaches its backend's container port only if both numbers agree (no kube-proxy here)."""
    target = port.get("targetPort", port["port"])
    declared = {name: number for ports in pod.ports.values() for name, number in ports.items()}
    number = declared.get(target) if isinstance(target, str) else int(target)
    if number is None:
        raise ConversionError(f"Service {_name(service)} port {port['port']}: pod {pod.name} has no port {target!r}")
    if number != int(port["port"]):
        raise ConversionError(
            f"Service {_name(service)} port {port['port']} -> {pod.name}:{number}: hostAliases cannot remap ports"
        )


def _probe(container: str, kind: str, probe: dict[str, Any], ports: dict[str, int]) -> Probe:
    def number(port: Any) -> int:
        if isinstance(port, str) and not port.isdigit():
            if port not in ports:
                raise ConversionError(f"container {container}: {kind} names port {port!r}, not declared")
            return ports[port]
        return int(port)

    if "exec" in probe:
        return Probe(container, kind, "exec", command=tuple(probe["exec"]["command"]))
    if "httpGet" in probe:
        get = probe["httpGet"]
        return Probe(container, kind, "httpGet", port=number(get["port"]), path=get.get("path", "/"))
    if "tcpSocket" in probe:
        return Probe(container, kind, "tcpSocket", port=number(probe["tcpSocket"]["port"]))
    raise ConversionError(f"container {container}: {kind} of a kind not emulated: {sorted(probe)}")
