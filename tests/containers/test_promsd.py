"""Kubernetes pod discovery emulated as static targets: which pods and ports, and with which meta labels."""

from __future__ import annotations

import pytest
import yaml

from containers.promsd import DiscoveredPod, UnsupportedDiscovery, pod_targets, rewrite_config

API = DiscoveredPod(
    "rel-api-0",
    "ns",
    "10.0.0.10",
    {"app.kubernetes.io/instance": "rel", "loadlab.dev/job": "api"},
    containers=(("api", (("http", 8000, "TCP"), ("metrics", 9000, "TCP"))),),
    controller=("Deployment", "rel-api"),
)
OTHER_RELEASE = DiscoveredPod(
    "other-api-0",
    "ns",
    "10.0.0.11",
    {"app.kubernetes.io/instance": "other", "loadlab.dev/job": "api"},
    containers=(("api", (("metrics", 9000, "TCP"),)),),
)
NO_PORTS = DiscoveredPod("rel-worker-0", "ns", "10.0.0.12", {"app": "w"}, containers=(("worker", ()),))

CONFIG = """
global: {scrape_interval: 5s}
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ["localhost:9090"]}]
  - job_name: api
    kubernetes_sd_configs:
      - role: pod
        namespaces: {names: [ns]}
        selectors: [{role: pod, label: "app.kubernetes.io/instance=rel,loadlab.dev/job=api"}]
    relabel_configs:
      - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: metrics, action: keep}
"""


def test_one_target_per_container_port_with_the_meta_labels() -> None:
    groups = pod_targets(API)
    assert [g["targets"] for g in groups] == [["10.0.0.10:8000"], ["10.0.0.10:9000"]]
    labels = groups[1]["labels"]
    assert labels["__meta_kubernetes_pod_container_port_name"] == "metrics"
    assert labels["__meta_kubernetes_pod_container_port_number"] == "9000"
    assert labels["__meta_kubernetes_pod_name"] == "rel-api-0"
    assert labels["__meta_kubernetes_namespace"] == "ns"
    assert labels["__meta_kubernetes_pod_label_loadlab_dev_job"] == "api"
    assert labels["__meta_kubernetes_pod_controller_kind"] == "Deployment"
    assert labels["__meta_kubernetes_pod_phase"] == "Running"


def test_a_container_without_ports_is_one_target_at_the_pod_ip() -> None:
    assert [g["targets"] for g in pod_targets(NO_PORTS)] == [["10.0.0.12"]]


def test_rewrite_keeps_static_jobs_and_relabelling_and_selects_by_label() -> None:
    rewritten = yaml.safe_load(rewrite_config(CONFIG, [API, OTHER_RELEASE, NO_PORTS], "ns") or "")
    jobs = {j["job_name"]: j for j in rewritten["scrape_configs"]}
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["localhost:9090"]}]
    assert "kubernetes_sd_configs" not in jobs["api"]
    assert jobs["api"]["relabel_configs"][0]["regex"] == "metrics"
    targets = [t for g in jobs["api"]["static_configs"] for t in g["targets"]]
    assert targets == ["10.0.0.10:8000", "10.0.0.10:9000"]  # the other release's pod is not selected


def test_rewrite_leaves_other_namespaces_out() -> None:
    elsewhere = DiscoveredPod("rel-api-1", "other-ns", "10.0.0.13", dict(API.labels), containers=API.containers)
    rewritten = yaml.safe_load(rewrite_config(CONFIG, [elsewhere], "ns") or "")
    assert rewritten["scrape_configs"][1]["static_configs"] == []


def test_rewrite_returns_none_without_kubernetes_discovery() -> None:
    assert rewrite_config("scrape_configs: [{job_name: x, static_configs: []}]", [API], "ns") is None


def test_rewrite_refuses_roles_it_cannot_answer() -> None:
    config = "scrape_configs: [{job_name: x, kubernetes_sd_configs: [{role: endpoints}]}]"
    with pytest.raises(UnsupportedDiscovery, match="endpoints"):
        rewrite_config(config, [API], "ns")


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("loadlab.dev/job=api", True),
        ("loadlab.dev/job==api", True),
        ("loadlab.dev/job!=api", False),
        ("loadlab.dev/job", True),
        ("!loadlab.dev/job", False),
        ("loadlab.dev/job=redis", False),
    ],
)
def test_label_selector_forms(selector: str, selected: bool) -> None:
    sd = f"{{role: pod, selectors: [{{role: pod, label: '{selector}'}}]}}"
    config = f"scrape_configs: [{{job_name: x, kubernetes_sd_configs: [{sd}]}}]"
    rewritten = yaml.safe_load(rewrite_config(config, [API], "ns") or "")
    assert bool(rewritten["scrape_configs"][0]["static_configs"]) is selected
