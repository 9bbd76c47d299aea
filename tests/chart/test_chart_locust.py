"""Locust in the chart: your own test against any host, a run mode that ends cleanly and keeps its results, worker
autoscaling (HPA, KEDA), and the web UI behind an Ingress with Locust's login."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.conftest import (
    CHART,
    ROOT,
    by_kind,
    container,
    env_map,
    get,
    matches,
    pod_template,
    render,
    scenario,
    sets,
    workloads,
)
from tests.chart.test_chart_wiring import _allowed, _argv, _parse_locust, _prometheus_config

pytestmark = pytest.mark.chart

KEDA_CRD = Path(__file__).with_name("schemas") / "keda.sh_scaledobjects.yaml"
SEED_LOCUSTFILE = ROOT / "tests" / "fixtures" / "seed_locustfile.py"
#: Options only the load suite's locustfile defines: never on the command line of someone else's locustfile.
SUITE_ONLY = {"--scenario", "--shape", "--step-users", "--step-interval", "--account-count"}
#: The plugin's options on the master's command line, for any locustfile.
PLUGIN_ONLY = {"--exporter-host", "--exporter-port", "--run-id"}
INGRESS_CONTROLLER = {
    "namespace": "ingress-nginx",
    "namespace_labels": {"kubernetes.io/metadata.name": "ingress-nginx"},
    "labels": {"app.kubernetes.io/name": "ingress-nginx"},
}


def _ci_values(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / f"{name}.yaml").read_text())


def _volumes(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_template(obj)["spec"]["volumes"]}


def _mounts(c: dict[str, Any]) -> dict[str, str]:
    return {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}


def _flag(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# --- your own test (J 1) ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop_test(tmp_path_factory) -> dict[str, Path]:
    """The locust-only CI values' inline locustfile and the helper module its lib ConfigMap would hold."""
    folder = tmp_path_factory.mktemp("shop")
    (folder / "locustfile.py").write_text(_ci_values("locust-only-values")["locust"]["locustfile"])
    (folder / "lib").mkdir()
    (folder / "lib" / "catalog.py").write_text("def product_paths():\n    return ['/products/1']\n")
    return {"/mnt/locust/locustfile.py": folder / "locustfile.py"}


def test_inline_locustfile_runs_beside_the_plugin_without_the_suites_options(shop_test):
    objs = scenario("ci-locust-only-values")
    values = _ci_values("locust-only-values")["locust"]
    configmap = get(objs, "ConfigMap", "loadlab-locustfile")
    assert configmap["data"]["locustfile.py"].strip() == values["locustfile"].strip()
    master = container(get(objs, "Deployment", "loadlab-locust-master"), "master")
    worker = container(get(objs, "Deployment", "loadlab-locust-worker"), "worker")
    for c in (master, worker):
        argv = _argv(c)
        assert _flag(argv, "-f") == "/app/locust/loadlab_plugin.py,/mnt/locust/locustfile.py"
        assert not SUITE_ONLY & set(argv), f"suite options given to someone else's locustfile: {argv}"
        assert c["workingDir"] == "/mnt/locust", "Locust reads ./locust.conf: never the suite's"
        assert _mounts(c)["/mnt/locust"] == "locustfile" and _mounts(c)["/mnt/locust/lib"] == "locust-lib"
        assert env_map(c)["SHOP_REGION"] == "eu-west-1"
        assert {"secretRef": {"name": "shop-credentials"}} in c["envFrom"]
        assert env_map(c)["PYTHONPATH"] == "/mnt/pip:/app/locust"
    opts = _parse_locust(_argv(master), shop_test)
    assert opts["host"] == "https://shop.example.com" and opts["master"]
    assert _argv(master)[-2:] == ["--tags", "browse"]
    assert _argv(worker)[-2:] == ["--loglevel", "WARNING"]
    assert _parse_locust(_argv(worker), shop_test)["worker"]
    volumes = _volumes(get(objs, "Deployment", "loadlab-locust-master"))
    assert volumes["locustfile"]["configMap"]["name"] == "loadlab-locustfile"
    assert volumes["locust-lib"]["configMap"]["name"] == "shop-lib"


def test_extra_pip_packages_install_into_an_empty_dir_first():
    deployment = get(scenario("ci-locust-only-values"), "Deployment", "loadlab-locust-worker")
    (init,) = pod_template(deployment)["spec"]["initContainers"]
    assert init["command"][:3] == ["python", "-m", "pip"] and init["command"][-1] == "faker==30.8.2"
    assert _flag(init["command"], "--target") == "/mnt/pip" and _mounts(init)["/mnt/pip"] == "pip"
    assert _volumes(deployment)["pip"]["emptyDir"] == {"sizeLimit": "256Mi"}, "locust.pipSizeLimit"
    assert {"mountPath": "/mnt/pip", "name": "pip", "readOnly": True} in container(deployment, "worker")["volumeMounts"]


def test_locust_only_install_renders_no_board_stack():
    objs = scenario("ci-locust-only-values")
    components = {o["metadata"]["labels"]["app.kubernetes.io/component"] for o in objs}
    assert not components & {"api", "postgresql", "pgbouncer", "redis", "migrate", "test"}, components
    config, _ = _prometheus_config(objs)
    assert {j["job_name"] for j in config["scrape_configs"]} == {"prometheus", "locust"}
    assert "wait-for-accounts" not in json.dumps(objs), "no seeded accounts to wait for on someone else's host"


def test_locustfile_from_an_existing_configmap():
    objs = scenario("ci-exposed-ui-values")
    master = get(objs, "Deployment", "loadlab-locust-master")
    assert _flag(_argv(container(master, "master")), "-f") == "/app/locust/loadlab_plugin.py,/mnt/locust/main.py"
    assert _volumes(master)["locustfile"]["configMap"]["name"] == "my-test"
    assert not [o for o in by_kind(objs, "ConfigMap") if o["metadata"]["name"] == "loadlab-locustfile"]


def test_locustfile_in_a_derived_image():
    objs = render("--set", "locust.locustfilePath=/home/tests/checkout.py", "--set", "locust.plugin=false")
    master = container(get(objs, "Deployment", "loadlab-locust-master"), "master")
    assert _flag(_argv(master), "-f") == "/home/tests/checkout.py" and master["workingDir"] == "/home/tests"
    assert "/mnt/locust" not in _mounts(master)
    assert not PLUGIN_ONLY & set(_argv(master)), "without the plugin, none of its options"


def test_the_plugin_gives_any_locustfile_the_exporter_verdict_and_results():
    thresholds = 'locust.thresholds="{\\"*\\": {\\"p95_ms\\": 800}}"'
    objs = render(*sets("locust.locustfile=x", "locust.master.mode=run", "locust.runId=own"), "--set-json", thresholds)
    argv = _argv(container(get(objs, "Job", "loadlab-locust-run-own"), "master"))
    assert PLUGIN_ONLY <= set(argv) and not SUITE_ONLY & set(argv)
    assert _flag(argv, "--verdict-file") == "/results/own/verdict.json" and _flag(argv, "--run-id") == "own"
    assert json.loads(_flag(argv, "--thresholds")) == {"*": {"p95_ms": 800}}
    config, _ = _prometheus_config(objs)
    assert "locust" in {j["job_name"] for j in config["scrape_configs"]}, "the dashboards get the exporter"


def test_the_seeds_own_locustfile_parses_on_the_rendered_command_lines():
    """The seed's locustfile given inline, against the chart's API: Locust (with the plugin) accepts every flag."""
    args = ("--set-file", f"locust.locustfile={SEED_LOCUSTFILE}", *sets("locust.master.mode=run", "locust.runId=seed"))
    objs = render(*args)
    mounted = {"/mnt/locust/locustfile.py": SEED_LOCUSTFILE}
    job = get(objs, "Job", "loadlab-locust-run-seed")
    opts = _parse_locust(_argv(container(job, "master")), mounted)
    assert (
        opts["host"] == "http://loadlab-api:8000" and opts["headless"] and opts["csv_prefix"] == "/results/seed/locust"
    )
    assert container(job, "wait-for-accounts"), "the chart's API: wait for its seeded accounts"
    _parse_locust(_argv(container(get(objs, "Job", "loadlab-locust-worker-seed"), "worker")), mounted)


# --- run mode (J 4, I 3) ---------------------------------------------------------------------------------


def test_run_workers_are_a_job_that_ends_with_the_master():
    objs = scenario("run")
    assert not [o for o in by_kind(objs, "Deployment") if o["metadata"]["name"] == "loadlab-locust-worker"]
    workers = get(objs, "Job", "loadlab-locust-worker-ci-run")
    spec = workers["spec"]
    assert spec["parallelism"] == 3 and "completions" not in spec, "one success (the master said quit) ends it"
    assert spec["backoffLimit"] == 6, "locust.run.workerBackoffLimit: failed worker pods replaced, then the Job fails"
    assert pod_template(workers)["spec"]["restartPolicy"] == "Never"
    master = get(objs, "Job", "loadlab-locust-run-ci-run")
    assert _flag(_argv(container(master, "master")), "--expect-workers") == "3"
    wait = env_map(container(workers, "wait-for-master"))
    service = get(objs, "Service", "loadlab-locust-master")
    assert wait["MASTER_HOST"] == service["metadata"]["name"]
    assert int(wait["MASTER_PORT"]) == next(p["port"] for p in service["spec"]["ports"] if p["name"] == "zmq")
    values = yaml.safe_load((CHART / "values.yaml").read_text())["locust"]["run"]
    assert int(wait["WAIT_SECONDS"]) > values["waitForAccountsSeconds"], "outwaits the master's own wait"
    assert matches(service["spec"]["selector"], pod_template(master)["metadata"]["labels"])
    assert pod_template(workers)["metadata"]["labels"]["loadlab.dev/run-id"] == "ci-run"


def test_run_jobs_outlive_upgrades_and_expire():
    """Helm deletes what a new revision no longer renders (the previous run's Jobs): `keep` stops that; Kubernetes
    removes them ttlSecondsAfterFinished after they end; the results PVC stays."""
    objs = scenario("run")
    for name in ("loadlab-locust-run-ci-run", "loadlab-locust-worker-ci-run"):
        job = get(objs, "Job", name)
        assert job["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", name
        assert job["spec"]["ttlSecondsAfterFinished"] == 7 * 24 * 3600, name
    forever = render("--set", "locust.master.mode=run", "--set-json", "locust.run.ttlSecondsAfterFinished=null")
    assert all(
        "ttlSecondsAfterFinished" not in j["spec"] for j in by_kind(forever, "Job") if "locust" in j["metadata"]["name"]
    )
    pvc = get(objs, "PersistentVolumeClaim", "loadlab-locust-results")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def _required_terms(pod: dict[str, Any]) -> list[dict[str, Any]]:
    affinity = pod["spec"].get("affinity", {}).get("podAffinity", {})
    return affinity.get("requiredDuringSchedulingIgnoredDuringExecution", [])


def test_a_readwriteonce_results_volume_is_never_on_two_nodes():
    """Every pod that mounts the RWO claim lands on the results pod's node: the run's master requires it."""
    node_affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["load"]}]}]
            }
        }
    }
    affinity = f"locust.master.affinity={json.dumps(node_affinity)}"
    objs = render(*sets("locust.master.mode=run", "locust.runId=x"), "--set-json", affinity)
    reader = get(objs, "Deployment", "loadlab-locust-results")
    master = get(objs, "Job", "loadlab-locust-run-x")
    assert reader["spec"]["strategy"]["type"] == "Recreate"
    assert not _required_terms(pod_template(reader)), "the reader is the anchor"
    (term,) = _required_terms(pod_template(master))
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert matches(term["labelSelector"]["matchLabels"], pod_template(reader)["metadata"]["labels"])
    assert "nodeAffinity" in pod_template(master)["spec"]["affinity"], "the role's own affinity is kept"
    mounting = [
        o for o, pod in workloads(objs) if any("persistentVolumeClaim" in v for v in pod["spec"].get("volumes", []))
    ]
    assert {o["metadata"]["name"] for o in mounting} == {"loadlab-locust-results", "loadlab-locust-run-x"}


def test_a_readwritemany_results_volume_needs_no_shared_node():
    objs = render(*sets("locust.master.mode=run", "locust.runId=x", "locust.run.persistence.accessMode=ReadWriteMany"))
    assert get(objs, "PersistentVolumeClaim", "loadlab-locust-results")["spec"]["accessModes"] == ["ReadWriteMany"]
    assert not _required_terms(pod_template(get(objs, "Job", "loadlab-locust-run-x")))


def test_an_existing_results_claim_is_used_not_created():
    objs = render(
        *sets("locust.master.mode=run", "locust.runId=x", "locust.run.persistence.existingClaim=team-results")
    )
    assert not by_kind(objs, "PersistentVolumeClaim")
    for obj in (get(objs, "Job", "loadlab-locust-run-x"), get(objs, "Deployment", "loadlab-locust-results")):
        assert _volumes(obj)["results"]["persistentVolumeClaim"]["claimName"] == "team-results"


# --- worker autoscaling (J 6) ----------------------------------------------------------------------------


def test_worker_hpa_scales_the_worker_deployment_on_cpu():
    objs = render("--set", "locust.workers.hpa.enabled=true", "--set", "locust.workers.hpa.maxReplicas=12")
    hpa = next(h for h in by_kind(objs, "HorizontalPodAutoscaler") if "worker" in h["metadata"]["name"])
    workers = get(objs, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
    assert workers["metadata"]["name"] == "loadlab-locust-worker" and "replicas" not in workers["spec"]
    assert hpa["spec"]["maxReplicas"] == 12
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    resources = container(workers, "worker")["resources"]
    assert resources["requests"]["cpu"], "utilisation is a share of the request"


def _keda_schema() -> dict[str, Any]:
    (crd,) = [d for d in yaml.safe_load_all(KEDA_CRD.read_text()) if d]
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return _closed(version["schema"]["openAPIV3Schema"])


def _closed(schema: Any) -> Any:
    """The CRD schema with unknown fields refused (the API server would prune them silently: a typo lost)."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def test_keda_scaled_object_is_valid_against_kedas_crd():
    objs = scenario("ci-exposed-ui-values")
    (scaled,) = by_kind(objs, "ScaledObject")
    schema = _keda_schema()
    jsonschema.validate({k: v for k, v in scaled.items() if k != "metadata"}, schema)
    bad = json.loads(json.dumps(scaled))
    bad["spec"]["minReplicaCont"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in bad.items() if k != "metadata"}, schema)
    workers = get(objs, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    assert "replicas" not in workers["spec"], "KEDA's HPA owns the count"
    (trigger,) = scaled["spec"]["triggers"]
    server = trigger["metadata"]["serverAddress"]
    prometheus = get(objs, "Service", "loadlab-prometheus")
    assert server == f"http://loadlab-prometheus.loadlab.svc:{prometheus['spec']['ports'][0]['port']}"
    contracts = (ROOT / "docs" / "contracts.md").read_text()
    assert "locust_worker_cpu_usage_ratio" in trigger["metadata"]["query"]
    assert "`locust_worker_cpu_usage_ratio{worker}`" in contracts, "a metric our exporter serves"
    assert scaled["spec"]["maxReplicaCount"] == 20 and float(trigger["metadata"]["threshold"]) > 0


def test_keda_may_query_the_charts_prometheus():
    objs = scenario("ci-exposed-ui-values")
    keda = {"namespace": "keda", "namespace_labels": {"kubernetes.io/metadata.name": "keda"}, "labels": {}}
    assert _allowed(objs, keda, "prometheus", 9090)
    assert not _allowed(scenario("default"), keda, "prometheus", 9090)
    assert not _allowed(objs, keda, "api", 8000)


# --- the web UI from outside (J 7) -----------------------------------------------------------------------


def test_locust_ingress_comes_with_the_login(tmp_path):
    objs = scenario("ci-exposed-ui-values")
    ingress = get(objs, "Ingress", "loadlab-locust-master")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    service = get(objs, "Service", path["backend"]["service"]["name"])
    assert path["backend"]["service"]["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert ingress["spec"]["ingressClassName"] == "nginx" and ingress["spec"]["tls"][0]["secretName"]
    master = container(get(objs, "Deployment", "loadlab-locust-master"), "master")
    argv = _argv(master)
    assert "--web-login" in argv and _flag(argv, "--web-username") == "perf"
    assert _flag(argv, "--web-base-path") == path["path"] == "/locust"
    assert master["readinessProbe"]["httpGet"]["path"] == "/locust/"
    assert env_map(master)["LOADLAB_WEB_PASSWORD"] == {
        "secretKeyRef": {"name": "loadlab-auth", "key": "locust-web-password"}
    }
    assert "locust-web-password" not in " ".join(argv)
    (tmp_path / "main.py").write_text(
        "from locust import HttpUser, task\n\n\nclass U(HttpUser):\n    @task\n    def t(self):\n        pass\n"
    )
    opts = _parse_locust(argv, {"/mnt/locust/main.py": tmp_path / "main.py"})
    assert opts["web_login"] and opts["web_username"] == "perf"


def test_grafana_ingress_at_a_sub_path():
    objs = scenario("ci-exposed-ui-values")
    ingress = get(objs, "Ingress", "loadlab-grafana")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/grafana"
    grafana = container(get(objs, "Deployment", "loadlab-grafana"), "grafana")
    env = env_map(grafana)
    assert env["GF_SERVER_ROOT_URL"].endswith("/grafana/") and env["GF_SERVER_SERVE_FROM_SUB_PATH"] == "true"
    assert grafana["readinessProbe"]["httpGet"]["path"] == "/grafana/api/health"


@pytest.mark.parametrize(("dst", "port"), [("locust-master", 8089), ("grafana", 3000)])
def test_the_ingress_controller_reaches_the_exposed_web_ports(dst, port):
    assert _allowed(scenario("ci-exposed-ui-values"), INGRESS_CONTROLLER, dst, port)
    assert not _allowed(scenario("default"), INGRESS_CONTROLLER, dst, port), "no Ingress, no controller"


@pytest.mark.parametrize(
    ("dst", "port"),
    [("locust-master", 5557), ("locust-master", 9646), ("prometheus", 9090), ("api", 8000), ("postgresql", 5432)],
)
def test_the_ingress_controller_reaches_nothing_else(dst, port):
    assert not _allowed(scenario("ci-exposed-ui-values"), INGRESS_CONTROLLER, dst, port)


@pytest.mark.parametrize(("dst", "port"), [("locust-master", 8089), ("grafana", 3000)])
def test_only_the_ingress_controller_reaches_the_exposed_web_ports(dst, port):
    stranger = {
        "namespace": "ingress-nginx",
        "namespace_labels": INGRESS_CONTROLLER["namespace_labels"],
        "labels": {"app.kubernetes.io/name": "something-else"},
    }
    assert not _allowed(scenario("ci-exposed-ui-values"), stranger, dst, port)
    elsewhere = {**INGRESS_CONTROLLER, "namespace": "dev", "namespace_labels": {"kubernetes.io/metadata.name": "dev"}}
    assert not _allowed(scenario("ci-exposed-ui-values"), elsewhere, dst, port)


def test_notes_show_the_login_and_the_ingress_urls():
    from tests.chart.test_chart_wiring import _notes

    notes = _notes("-f", str(CHART / "ci" / "exposed-ui-values.yaml"))
    assert "jsonpath='{.data.locust-web-password}'" in notes and "user perf" in notes
    assert "https://load.example.com/locust" in notes and "https://load.example.com/grafana" in notes
    assert "KEDA scales deployment/loadlab-locust-worker between 2 and 20" in notes
