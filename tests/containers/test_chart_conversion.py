"""The converter on the chart as it renders today (tuned preset, run mode, the e2e's values), without podman:
a chart change that the e2e could not play fails here first, in seconds."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from containers.convert import Converter, Plan
from containers.e2e import NAMESPACE, PRESET, RUN_VALUES
from containers.images import RECIPES, project_repositories
from tests.chart.conftest import CHART, render

pytestmark = pytest.mark.chart

FILES = "/tmp/e2e-files"


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    values = tmp_path_factory.mktemp("e2e") / "e2e-values.yaml"
    values.write_text(yaml.safe_dump(RUN_VALUES))
    return render("-f", str(CHART / PRESET), "-f", str(values))


@pytest.fixture(scope="module")
def plan(objects: list[dict[str, Any]]) -> Plan:
    return Converter(objects, "10.89.3.0/24", NAMESPACE, FILES).plan()


def component(plan: Plan, name: str) -> list[Any]:
    return [p for p in plan.pods if p.manifest["metadata"]["labels"].get("app.kubernetes.io/component") == name]


def test_every_image_is_ours_or_has_a_stand_in(objects: list[dict[str, Any]]) -> None:
    ours = set(project_repositories().values())
    images = set()
    for obj in objects:
        spec = obj.get("spec") or {}
        spec = spec if obj["kind"] == "Pod" else (spec.get("template") or {}).get("spec") or {}
        images |= {c["image"].rsplit(":", 1)[0] for c in spec.get("initContainers", []) + spec.get("containers", [])}
    assert images - ours <= set(RECIPES), f"no stand-in recipe for {sorted(images - ours - set(RECIPES))}"
    assert ours <= images


def test_the_run_has_what_the_e2e_plays(plan: Plan) -> None:
    assert len(component(plan, "api")) == 2
    assert len(component(plan, "locust-master")) == 1
    assert len(component(plan, "locust-worker")) == 2
    assert len(component(plan, "locust-results")) == 1
    assert {"postgresql", "pgbouncer", "redis", "prometheus", "migrate"} <= {
        p.manifest["metadata"]["labels"].get("app.kubernetes.io/component") for p in plan.pods
    }


def test_no_pod_publishes_a_port_or_keeps_a_probe(plan: Plan) -> None:
    for pod in plan.pods:
        spec = pod.manifest["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            assert "ports" not in container, f"{pod.name}/{container['name']}"
            assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(container), pod.name


def test_every_service_name_resolves_in_every_pod(plan: Plan, objects: list[dict[str, Any]]) -> None:
    services = {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}
    ips = {p.ip for p in plan.pods}
    for pod in plan.pods:
        names = {n: a["ip"] for a in pod.manifest["spec"]["hostAliases"] for n in a["hostnames"]}
        assert services <= set(names), f"{pod.name} cannot resolve {sorted(services - set(names))}"
        assert set(names.values()) <= ips


def test_no_var_reference_is_left_for_podman(plan: Plan) -> None:
    """podman 4.3 would pass `$(LOADLAB_DB_PASSWORD)` through literally: every reference to a variable of the
    container must be expanded. A shell's `$(printf ...)` in a script is no reference (the kubelet leaves it too)."""
    for pod in plan.pods:
        spec = pod.manifest["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            text = yaml.safe_dump({k: container.get(k) for k in ("command", "args", "env")})
            names = {e["name"] for e in container.get("env") or []}
            left = [n for n in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", text) if n in names]
            assert left == [], f"{pod.name}/{container['name']}: $({left[0]}) left unexpanded"


def test_the_run_gets_the_e2e_thresholds(plan: Plan) -> None:
    """Inline thresholds survive helm and reach the master's --thresholds as JSON."""
    (master,) = component(plan, "locust-master")
    args = master.manifest["spec"]["containers"][0]["args"]
    assert json.loads(args[args.index("--thresholds") + 1]) == json.loads(RUN_VALUES["locust"]["thresholds"])


def test_prometheus_scrapes_the_pods_discovery_would_find(plan: Plan) -> None:
    (prometheus,) = component(plan, "prometheus")
    (path,) = [p for p in prometheus.files if p.endswith("/prometheus.yml")]
    config = yaml.safe_load(prometheus.files[path][0])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert not [j for j in jobs.values() if "kubernetes_sd_configs" in j]
    api_ips = {p.ip for p in component(plan, "api")}
    api_targets = {t.split(":")[0] for group in jobs["api"]["static_configs"] for t in group["targets"]}
    assert api_targets == api_ips
    assert {"api", "locust", "postgres", "pgbouncer", "redis"} <= set(jobs)


def test_volumes_are_pod_scoped_or_named_claims(plan: Plan) -> None:
    names = [v.name for p in plan.pods for v in p.volumes if not v.claim]
    assert len(names) == len(set(names)), "two pods share an emptyDir"
    claims = {v.name for p in plan.pods for v in p.volumes if v.claim}
    assert any(name.endswith("locust-results") for name in claims)
    assert any(name.startswith("data-") and name.endswith("postgresql-0") for name in claims)
