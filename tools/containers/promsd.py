"""Prometheus' Kubernetes pod discovery, done once at conversion time for pods that podman runs.

Without an API server `kubernetes_sd_configs` finds nothing (and Debian's Prometheus is built without it), so
each one becomes `static_configs` holding the targets that discovery would have produced for our pods: one
per container port (or one per container without ports), with the same `__meta_kubernetes_pod_*` labels.
The scrape job's own `relabel_configs` then run unchanged in a real Prometheus: the chart's choice of port
name, pod phase and target labels is exercised, not re-implemented.
Ref: https://prometheus.io/docs/prometheus/latest/configuration/configuration/#kubernetes_sd_config (role pod)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass(frozen=True)
class DiscoveredPod:
    """What discovery knows about one pod: name, namespace, IP, labels, annotations and its containers."""

    name: str
    namespace: str
    ip: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: (container name, [(port name, number, protocol), ...]) for the pod's regular containers
    containers: tuple[tuple[str, tuple[tuple[str, int, str], ...]], ...] = ()
    controller: tuple[str, str] | None = None


def _sanitize(name: str) -> str:
    """A Kubernetes label name as Prometheus spells it in a meta label (invalid characters become `_`)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """A label selector of the equality kind (`a=b,c!=d`, `key`, `!key`) against a pod's labels."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _pod_labels(pod: DiscoveredPod) -> dict[str, str]:
    meta = {
        "__meta_kubernetes_namespace": pod.namespace,
        "__meta_kubernetes_pod_name": pod.name,
        "__meta_kubernetes_pod_ip": pod.ip,
        # Discovery runs while the pods run: a pod that has ended still shows as Running here (and is down).
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_ready": "true",
    }
    for key, value in pod.labels.items():
        meta[f"__meta_kubernetes_pod_label_{_sanitize(key)}"] = value
        meta[f"__meta_kubernetes_pod_labelpresent_{_sanitize(key)}"] = "true"
    for key, value in pod.annotations.items():
        meta[f"__meta_kubernetes_pod_annotation_{_sanitize(key)}"] = value
        meta[f"__meta_kubernetes_pod_annotationpresent_{_sanitize(key)}"] = "true"
    if pod.controller:
        meta["__meta_kubernetes_pod_controller_kind"], meta["__meta_kubernetes_pod_controller_name"] = pod.controller
    return meta


def pod_targets(pod: DiscoveredPod) -> list[dict[str, Any]]:
    """The target groups role `pod` discovery gives for one pod, as `static_configs` entries."""
    groups = []
    for container, ports in pod.containers:
        base = {
            **_pod_labels(pod),
            "__meta_kubernetes_pod_container_name": container,
            "__meta_kubernetes_pod_container_init": "false",
        }
        if not ports:
            groups.append({"targets": [pod.ip], "labels": base})
        for name, number, protocol in ports:
            labels = {
                **base,
                "__meta_kubernetes_pod_container_port_name": name,
                "__meta_kubernetes_pod_container_port_number": str(number),
                "__meta_kubernetes_pod_container_port_protocol": protocol,
            }
            groups.append({"targets": [f"{pod.ip}:{number}"], "labels": labels})
    return groups


class UnsupportedDiscovery(ValueError):
    """A `kubernetes_sd_configs` entry this emulation cannot answer (a role other than pod, a field selector)."""


def _discover(sd: Mapping[str, Any], pods: Iterable[DiscoveredPod], default_namespace: str) -> list[dict[str, Any]]:
    if sd.get("role") != "pod":
        raise UnsupportedDiscovery(f"kubernetes_sd_configs role {sd.get('role')!r}: only role pod is emulated")
    namespaces = (sd.get("namespaces") or {}).get("names") or [default_namespace]
    selectors = [s for s in sd.get("selectors") or [] if s.get("role") == "pod"]
    if any("field" in s for s in selectors):
        raise UnsupportedDiscovery("kubernetes_sd_configs field selectors are not emulated")
    groups = []
    for pod in pods:
        if pod.namespace in namespaces and all(_selector_matches(s.get("label", ""), pod.labels) for s in selectors):
            groups.extend(pod_targets(pod))
    return groups


def rewrite_config(text: str, pods: Iterable[DiscoveredPod], default_namespace: str) -> str | None:
    """A prometheus.yml with every `kubernetes_sd_configs` replaced by the targets found among `pods`.

    None when `text` holds no Kubernetes discovery (nothing to change). Jobs keep everything else.
    """
    config = yaml.safe_load(text)
    if not isinstance(config, dict) or not any(
        "kubernetes_sd_configs" in j for j in config.get("scrape_configs") or []
    ):
        return None
    pods = list(pods)
    for job in config["scrape_configs"]:
        sds = job.pop("kubernetes_sd_configs", None)
        if sds is None:
            continue
        groups = [g for sd in sds for g in _discover(sd, pods, default_namespace)]
        job["static_configs"] = list(job.get("static_configs") or []) + groups
    return yaml.safe_dump(config, sort_keys=False)
