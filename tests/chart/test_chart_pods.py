"""Per-role pod settings (env, envFrom, annotations, labels, scheduling, volumes, ServiceAccount) land on the right
pods, `global` works, and the chart renders as a subchart of a parent chart."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.chart.conftest import (
    CHART,
    by_kind,
    container,
    containers,
    env_map,
    get,
    helm_env,
    pod_template,
    require_tool,
    scenario,
    workloads,
)

pytestmark = pytest.mark.chart

#: component label -> (workload kind, name, main container, path of its values block)
ROLES = {
    "api": ("Deployment", "loadlab-api", "api", ("api",)),
    "postgresql": ("StatefulSet", "loadlab-postgresql", "postgresql", ("postgresql",)),
    "pgbouncer": ("Deployment", "loadlab-pgbouncer", "pgbouncer", ("pgbouncer",)),
    "redis": ("Deployment", "loadlab-redis", "redis", ("redis",)),
    "locust-master": ("Deployment", "loadlab-locust-master", "master", ("locust", "master")),
    "locust-worker": ("Deployment", "loadlab-locust-worker", "worker", ("locust", "workers")),
    "prometheus": ("Deployment", "loadlab-prometheus", "prometheus", ("prometheus",)),
    "grafana": ("Deployment", "loadlab-grafana", "grafana", ("grafana",)),
}
VALUES = yaml.safe_load((CHART / "ci" / "pod-settings-values.yaml").read_text())


def _role(path: tuple[str, ...]) -> dict[str, Any]:
    node = VALUES
    for part in path:
        node = node[part]
    return node


@pytest.mark.parametrize("component", list(ROLES))
def test_each_roles_settings_land_on_its_own_pods(component):
    kind, name, main, path = ROLES[component]
    role = _role(path)
    obj = get(scenario("ci-pod-settings-values"), kind, name)
    pod = pod_template(obj)
    spec = pod["spec"]
    c = container(obj, main)
    assert pod["metadata"]["annotations"]["example.com/role"] == component
    labels = pod["metadata"]["labels"]
    assert labels["team"] == "perf"
    assert labels["app.kubernetes.io/component"] == component, "the chart's labels win over podLabels"
    assert spec["nodeSelector"] == {**VALUES["nodeSelector"], **role["nodeSelector"]}
    assert spec["tolerations"] == VALUES["tolerations"] + role["tolerations"]
    assert spec["affinity"] == role["affinity"]
    assert spec["topologySpreadConstraints"] == role["topologySpreadConstraints"]
    assert spec["priorityClassName"] == "loadtest-high"
    assert role["extraVolumes"][0] in spec["volumes"]
    assert role["extraVolumeMounts"][0] in c["volumeMounts"]
    assert env_map(c)["ROLE_NAME"] == component and "fieldRef" in env_map(c)["NODE_NAME"]
    assert role["envFrom"][0] in c["envFrom"]
    others = [x for x in containers(pod) if x["name"] != main]
    assert all("ROLE_NAME" not in env_map(x) for x in others), "sidecars and init containers keep their own env"


def test_only_the_roles_own_settings_apply():
    """The API's annotations are not Redis's: no role leaks into another."""
    objs = scenario("ci-pod-settings-values")
    for component, (kind, name, _main, _path) in ROLES.items():
        annotations = pod_template(get(objs, kind, name))["metadata"]["annotations"]
        assert annotations["example.com/role"] == component


def test_service_accounts_per_role():
    objs = scenario("ci-pod-settings-values")
    accounts = {sa["metadata"]["name"]: sa for sa in by_kind(objs, "ServiceAccount")}
    for component in ("api", "locust-worker"):
        kind, name, _main, path = ROLES[component]
        pod = pod_template(get(objs, kind, name))
        account = accounts[pod["spec"]["serviceAccountName"]]
        assert account["metadata"]["name"] == f"loadlab-{component}"
        assert account["metadata"]["annotations"] == _role(path)["serviceAccount"]["annotations"]
        assert account["automountServiceAccountToken"] is False and pod["spec"]["automountServiceAccountToken"] is False
    grafana = pod_template(get(objs, "Deployment", "loadlab-grafana"))
    assert grafana["spec"]["serviceAccountName"] == "existing-sa" and "existing-sa" not in accounts
    redis = pod_template(get(objs, "Deployment", "loadlab-redis"))
    assert redis["spec"]["serviceAccountName"] == "loadlab-workload"


def test_global_registry_pull_secrets_and_storage_class():
    objs = scenario("ci-pod-settings-values")
    for _obj, pod in workloads(objs):
        assert all(c["image"].startswith("mirror.example.com/") for c in containers(pod))
        assert pod["spec"]["imagePullSecrets"] == [{"name": "mirror-pull"}, {"name": "regcred"}]
    (claim,) = get(objs, "StatefulSet", "loadlab-postgresql")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast-ssd"


# --- as a subchart ---------------------------------------------------------------------------------------


PARENT_CHART = {
    "apiVersion": "v2",
    "name": "perf-platform",
    "version": "1.0.0",
    "type": "application",
    "dependencies": [{"name": "loadlab", "version": "0.1.0", "alias": "load"}],
}
PARENT_VALUES = {
    "global": {"imageRegistry": "registry.corp.example", "imagePullSecrets": ["corp-pull"], "environment": "staging"},
    "load": {"api": {"replicas": 3}, "locust": {"master": {"mode": "run"}, "runId": "nightly"}},
}


def _template_parent(tmp_path, *args: str) -> list[dict[str, Any]]:
    helm = require_tool("helm", "tools/install-helm.sh")
    parent = tmp_path / "perf-platform"
    (parent / "charts").mkdir(parents=True)
    (parent / "Chart.yaml").write_text(yaml.safe_dump(PARENT_CHART))
    (parent / "values.yaml").write_text(yaml.safe_dump(PARENT_VALUES))
    shutil.copytree(CHART, parent / "charts" / "loadlab")
    argv = [helm, "template", "perf", str(parent), "--namespace", "perf", *args]
    result = subprocess.run(argv, capture_output=True, text=True, env=helm_env(), check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_renders_as_a_subchart_with_the_parents_globals(tmp_path):
    objs = _template_parent(tmp_path, "--set", "global.team=perf")
    api = get(objs, "Deployment", "perf-load-api")  # the alias names the objects
    assert api["spec"]["replicas"] == 3, "the parent's values for the alias reach the chart"
    assert get(objs, "Job", "perf-load-locust-run-nightly") and get(objs, "Job", "perf-load-locust-worker-nightly")
    for _obj, pod in workloads(objs):
        assert all(c["image"].startswith("registry.corp.example/") for c in containers(pod))
        assert {"name": "corp-pull"} in pod["spec"]["imagePullSecrets"]
    assert {o["metadata"]["namespace"] for o in objs} == {"perf"}


def test_a_subcharts_values_are_still_checked(tmp_path):
    helm = require_tool("helm", "tools/install-helm.sh")
    _template_parent(tmp_path)  # builds the parent folder
    parent = tmp_path / "perf-platform"
    result = subprocess.run(
        [helm, "template", "perf", str(parent), "--set", "load.api.replicaz=2"],
        capture_output=True,
        text=True,
        env=helm_env(),
        check=False,
        timeout=120,
    )
    assert result.returncode != 0 and "replicaz" in result.stderr
