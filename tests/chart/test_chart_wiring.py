"""The rendered objects fit together: commands, env, Services, discovery, NetworkPolicies, dashboards, NOTES."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadlab import commands
from tests.chart.conftest import (
    CHART,
    NAMESPACE,
    PRESETS,
    RELEASE,
    ROOT,
    SCENARIOS,
    by_kind,
    container,
    env_map,
    get,
    helm_env,
    matches,
    pod_template,
    render,
    require_tool,
    scenario,
    sets,
    workloads,
)

pytestmark = pytest.mark.chart

CONTRACT_JOBS = {"api", "locust", "postgres", "pgbouncer", "redis", "prometheus"}
JOB_LABEL = "loadlab.dev/job"
LOCUSTFILE = ROOT / "locust" / "locustfile.py"


def _preset(stem: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "presets" / f"{stem}.yaml").read_text())


# --- the API --------------------------------------------------------------------------------------------


def test_api_command_and_probes():
    api = get(scenario("default"), "Deployment", "loadlab-api")
    c = container(api, "api")
    assert c["command"][0] == "python"
    assert c["command"][1:] == commands.api_serve("0.0.0.0", 8000, 9000)[1:]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["ports"] == [{"name": "http", "containerPort": 8000}, {"name": "metrics", "containerPort": 9000}]


def test_migrate_and_seed_hook_job():
    job = get(scenario("default"), "Job", "loadlab-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    migrate = container(job, "migrate")
    seed = container(job, "seed-users")
    assert migrate["command"][1:] == commands.api_migrate()[1:]
    assert seed["command"][1:] == commands.api_seed_users(1000)[1:]
    # migrations go straight to Postgres, never through PgBouncer's transaction pooling, as the database's owner
    assert env_map(migrate)["BOARD_DATABASE_URL"].startswith("postgresql+psycopg://board_owner:")
    assert "@loadlab-postgresql:5432/board" in env_map(migrate)["BOARD_DATABASE_URL"]


@pytest.mark.parametrize("pgbouncer", ["true", "false"])
def test_database_roles_least_privilege(pgbouncer):
    """The image's superuser only creates the database; files/db-roles.sql (the lab's too) makes the owner and
    the API's rows-only role at initdb; the API logs in as the latter, migrations and the exporter as the owner."""
    objs = render("--set", f"pgbouncer.enabled={pgbouncer}")
    pg = get(objs, "StatefulSet", "loadlab-postgresql")
    env = env_map(container(pg, "postgresql"))
    assert env["POSTGRES_USER"] == "postgres"
    assert env["POSTGRES_PASSWORD"]["secretKeyRef"]["key"] == "postgres-password"
    assert (env["LOADLAB_DB_OWNER"], env["LOADLAB_DB_USER"]) == ("board_owner", "board")
    assert env["LOADLAB_DB_OWNER_PASSWORD"]["secretKeyRef"]["key"] == "database-owner-password"
    assert env["LOADLAB_DB_PASSWORD"]["secretKeyRef"]["key"] == "database-password"
    initdb = get(objs, "ConfigMap", "loadlab-postgresql-initdb")
    assert initdb["data"] == {"10-db-roles.sql": (CHART / "files" / "db-roles.sql").read_text()}
    mounts = {m["mountPath"]: m["name"] for m in container(pg, "postgresql")["volumeMounts"]}
    assert mounts["/docker-entrypoint-initdb.d"] == "initdb"
    exporter = env_map(container(pg, "exporter"))
    assert exporter["DATA_SOURCE_USER"] == "board_owner"
    # Its custom queries (lock waits) are the lab's file, mounted where its flag points.
    queries = get(objs, "ConfigMap", "loadlab-postgresql-exporter-queries")
    assert queries["data"] == {"queries.yaml": (CHART / "files" / "postgres-exporter-queries.yaml").read_text()}
    assert "--extend.query-path=/etc/postgres-exporter/queries.yaml" in container(pg, "exporter")["args"]
    exporter_mounts = {m["mountPath"]: m["name"] for m in container(pg, "exporter")["volumeMounts"]}
    volumes = {v["name"]: v for v in pg["spec"]["template"]["spec"]["volumes"]}
    assert volumes[exporter_mounts["/etc/postgres-exporter"]]["configMap"]["name"] == queries["metadata"]["name"]
    api = env_map(container(get(objs, "Deployment", "loadlab-api"), "api"))
    assert api["BOARD_DATABASE_URL"].startswith("postgresql+psycopg://board:$(LOADLAB_DB_PASSWORD)@")
    assert api["LOADLAB_DB_PASSWORD"]["secretKeyRef"]["key"] == "database-password"
    # Only the Postgres pod (and the roles Job) holds the superuser's password; the owner's: those and migrate.
    for obj, pod in workloads(objs):
        for c in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]:
            keys = {
                v["secretKeyRef"]["key"] for v in env_map(c).values() if isinstance(v, dict) and "secretKeyRef" in v
            }
            name = f"{obj['metadata']['name']}/{c['name']}"
            if "postgres-password" in keys:  # and the post-upgrade Job that runs files/db-roles.sql
                assert name in ("loadlab-postgresql/postgresql", "loadlab-postgresql-roles/roles"), name
            if "database-owner-password" in keys:
                assert name.startswith(("loadlab-postgresql/", "loadlab-postgresql-roles/", "loadlab-migrate/")), name


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_api_env_is_the_preset_verbatim_plus_wiring(preset):
    data = yaml.safe_load(preset.read_text())
    objs = render("-f", str(preset))
    env = env_map(container(get(objs, "Deployment", "loadlab-api"), "api"))
    for key, value in data["api"]["env"].items():
        assert env[key] == value, key
    chart_keys = {"LOADLAB_DB_PASSWORD", "BOARD_DATABASE_URL", "BOARD_REDIS_URL", "BOARD_JWT_SECRET"}
    if data["redis"]["enabled"]:
        chart_keys.add("LOADLAB_REDIS_PASSWORD")
    if "workers" in data["api"]:  # api.workers is the chart's name for BOARD_WORKERS
        chart_keys.add("BOARD_WORKERS")
        assert env["BOARD_WORKERS"] == str(data["api"]["workers"])
    assert set(env) == set(data["api"]["env"]) | chart_keys
    url = env["BOARD_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://board:$(LOADLAB_DB_PASSWORD)@")
    if data["pgbouncer"]["enabled"]:
        assert "@loadlab-pgbouncer:6432/board" in url
        ini = get(objs, "ConfigMap", "loadlab-pgbouncer")["data"]["pgbouncer.ini"]
        assert f"default_pool_size = {data['pgbouncer']['poolSize']}" in ini
    else:
        assert "@loadlab-postgresql:5432/board" in url
        assert not [o for o in objs if o["metadata"]["name"].startswith("loadlab-pgbouncer")]
    if data["redis"]["enabled"]:
        assert env["BOARD_REDIS_URL"] == "redis://board:$(LOADLAB_REDIS_PASSWORD)@loadlab-redis:6379/0"
        assert env["LOADLAB_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "loadlab-auth", "key": "redis-password"}}
    else:
        assert env["BOARD_REDIS_URL"] == ""
        assert not [o for o in objs if o["metadata"]["name"].startswith("loadlab-redis")]
    assert env["BOARD_JWT_SECRET"] == {"secretKeyRef": {"name": "loadlab-auth", "key": "jwt-secret"}}
    assert env["LOADLAB_DB_PASSWORD"] == {"secretKeyRef": {"name": "loadlab-auth", "key": "database-password"}}
    # $(VAR) expands only for variables defined earlier in the list
    names = [e["name"] for e in container(get(objs, "Deployment", "loadlab-api"), "api")["env"]]
    assert names.index("LOADLAB_DB_PASSWORD") < names.index("BOARD_DATABASE_URL")


# --- Locust ---------------------------------------------------------------------------------------------


def _parse_locust(argv: list[str], mounted: dict[str, Path] | None = None) -> dict[str, Any]:
    """Parse a rendered Locust command line with Locust's own parser and the options of the files it loads: each
    image path (/app/locust/...) becomes the repo's file, each /mnt/locust/... file the one `mounted` names."""
    assert argv[:3] == ["python", "-m", "locust"]
    args = argv[3:]
    f = args.index("-f")
    files = [_local_file(p, mounted or {}) for p in args[f + 1].split(",")]
    args[f + 1] = ",".join(files)
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("parse_locust_args.py")), args[f + 1], "--", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"locust rejects {args}:\n{result.stderr[-2000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def _local_file(image_path: str, mounted: dict[str, Path]) -> str:
    if image_path.startswith("/app/locust/"):
        return str(ROOT / "locust" / image_path.removeprefix("/app/locust/"))
    assert image_path in mounted, f"{image_path}: say which local file stands for it"
    return str(mounted[image_path])


def _argv(c: dict[str, Any]) -> list[str]:
    return [*c["command"], *c.get("args", [])]


def test_locust_ui_mode_master_is_a_deployment_with_the_web_ui():
    objs = scenario("ui")
    master = container(get(objs, "Deployment", "loadlab-locust-master"), "master")
    opts = _parse_locust(_argv(master))
    assert opts["master"] and not opts["headless"] and opts["enable_rebalancing"]
    assert opts["host"] == "http://loadlab-api:8000"
    assert (opts["exporter_port"], opts["exporter_host"]) == (9646, "0.0.0.0")
    assert opts["scenario"] == "seed" and opts["account_count"] == 1000
    assert opts["locustfile"] == str(LOCUSTFILE)
    assert not by_kind(objs, "Job") or all("locust-run" not in j["metadata"]["name"] for j in by_kind(objs, "Job"))
    assert not [o for o in objs if o["kind"] == "PersistentVolumeClaim"]


def test_locust_run_mode_master_is_a_headless_job_writing_to_the_pvc():
    objs = scenario("run")
    assert not [
        o
        for o in objs
        if o["kind"] == "Deployment"
        and o["metadata"]["name"].startswith("loadlab-locust-")
        and o["metadata"]["name"] != "loadlab-locust-results"
    ], "run mode: no master or worker Deployment"
    job = get(objs, "Job", "loadlab-locust-run-ci-run")
    opts = _parse_locust(_argv(container(job, "master")))
    assert opts["master"] and opts["headless"] and opts["enable_rebalancing"]
    assert opts["expect_workers"] == 3, "waits for every worker replica"
    assert opts["num_users"] == 100 and opts["spawn_rate"] == 10 and opts["run_time"] == 300
    # the lab's file names (loadlab.loadtest.LocustRun.files), one folder per run
    assert opts["csv_prefix"] == "/results/ci-run/locust"
    assert opts["html_file"] == "/results/ci-run/locust.html"
    assert opts["json_file"] == "/results/ci-run/locust"
    assert opts["stop_timeout"] == 5
    assert opts["verdict_file"] == "/results/ci-run/verdict.json"
    assert opts["run_id"] == "ci-run"
    assert job["spec"]["backoffLimit"] == 0 and pod_template(job)["spec"]["restartPolicy"] == "Never"
    pvc = get(objs, "PersistentVolumeClaim", "loadlab-locust-results")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod_template(job)["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {"loadlab-locust-results"}
    assert container(job, "results-dir")["command"] == ["mkdir", "-p", "/results/ci-run"]
    results = get(objs, "Deployment", "loadlab-locust-results")
    mounts = container(results, "results")["volumeMounts"]
    assert {"name": "results", "mountPath": "/results", "readOnly": True} in mounts
    # the master Service reaches the Job's pod, so workers find it in run mode too
    service = get(objs, "Service", "loadlab-locust-master")
    assert matches(service["spec"]["selector"], pod_template(job)["metadata"]["labels"])


def test_locust_run_id_defaults_to_the_helm_revision():
    job = next(
        j for j in render("--set", "locust.master.mode=run") if j["metadata"]["name"].startswith("loadlab-locust-run")
    )
    assert job["metadata"]["name"] == "loadlab-locust-run-r1"


@pytest.mark.parametrize(
    ("name", "kind", "workers"),
    [("ui", "Deployment", "loadlab-locust-worker"), ("run", "Job", "loadlab-locust-worker-ci-run")],
)
def test_locust_workers_connect_to_the_master_service(name, kind, workers):
    objs = scenario(name)
    opts = _parse_locust(_argv(container(get(objs, kind, workers), "worker")))
    assert opts["worker"] and opts["master_host"] == "loadlab-locust-master"
    service = get(objs, "Service", "loadlab-locust-master")
    zmq = next(p for p in service["spec"]["ports"] if p["name"] == "zmq")
    assert opts["master_port"] == zmq["port"]


def test_locust_worker_command_matches_the_lab():
    """The lab's worker argv (loadlab.commands), with the master Service in place of loopback."""
    worker = container(get(scenario("default"), "Deployment", "loadlab-locust-worker"), "worker")
    lab = commands.locust_worker(5557, {"scenario": "seed", "account_count": 1000}, Path("/app/locust/locustfile.py"))
    expected = ["python", *lab[1:]]
    expected[expected.index("--master-host") + 1] = "loadlab-locust-master"
    assert _argv(worker) == expected


def test_locustfile_path_is_where_the_dockerfile_puts_it():
    """The suite's locustfile and the plugin file the chart names: locust/ files of the repo, in /app/locust."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY locust/ /app/locust/" in dockerfile
    suite = container(get(scenario("default"), "Deployment", "loadlab-locust-master"), "master")
    assert suite["command"][suite["command"].index("-f") + 1] == "/app/locust/locustfile.py"
    own = container(get(scenario("ci-locust-only-values"), "Deployment", "loadlab-locust-master"), "master")
    plugin, _ = own["command"][own["command"].index("-f") + 1].split(",")
    assert plugin == "/app/locust/loadlab_plugin.py" and (ROOT / "locust" / "loadlab_plugin.py").exists()


# --- Services and discovery ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "run", "kps", "preset-seed-baseline"])
def test_every_service_selects_pods_with_its_target_ports(name):
    objs = scenario(name)
    pods = [pod for _, pod in workloads(objs)]
    for svc in by_kind(objs, "Service"):
        selected = [p for p in pods if matches(svc["spec"]["selector"], p["metadata"]["labels"])]
        assert selected, f"Service {svc['metadata']['name']} selects no pod"
        for port in svc["spec"]["ports"]:
            target = port["targetPort"]
            for pod in selected:
                names = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
                assert target in names, f"{svc['metadata']['name']}:{target} not a port of its pods"


def _prometheus_config(objs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    data = get(objs, "ConfigMap", "loadlab-prometheus")["data"]
    rules = {k: v for k, v in data.items() if k.startswith("rules-")}
    return yaml.safe_load(data["prometheus.yml"]), rules


def test_prometheus_jobs_are_the_contract_and_find_their_pods():
    objs = scenario("default")
    config, _ = _prometheus_config(objs)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == CONTRACT_JOBS
    pods = [pod for _, pod in workloads(objs)]
    for name, job in jobs.items():
        if name == "prometheus":
            continue
        (sd,) = job["kubernetes_sd_configs"]
        assert sd["role"] == "pod" and sd["namespaces"]["names"] == [NAMESPACE]
        selector = dict(kv.split("=", 1) for kv in sd["selectors"][0]["label"].split(","))
        port_re = next(r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep")
        found = [
            p
            for pod in pods
            if matches(selector, pod["metadata"]["labels"])
            for c in pod["spec"]["containers"]
            for p in c.get("ports", [])
            if re.fullmatch(port_re, p["name"])
        ]
        assert found, f"job {name}: no pod port matches {selector} / {port_re}"
    rbac = get(objs, "Role", "loadlab-prometheus")
    assert rbac["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    binding = get(objs, "RoleBinding", "loadlab-prometheus")
    prom = get(objs, "Deployment", "loadlab-prometheus")
    assert binding["subjects"][0]["name"] == pod_template(prom)["spec"]["serviceAccountName"]


def _static_equivalent(config: dict[str, Any]) -> dict[str, Any]:
    """Debian's promtool is built without Kubernetes discovery: swap each kubernetes_sd_configs for a static
    target (relabel rules, intervals and everything else stay, so promtool still checks them)."""
    out = json.loads(json.dumps(config))
    for job in out["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["127.0.0.1:1"]}]
    return out


@pytest.mark.parametrize("name", ["default", "ci-ci-values"])
def test_promtool_checks_the_rendered_config_and_rules(name, tmp_path):
    promtool = require_tool("promtool", "apt-get install prometheus (scripts/bootstrap.sh does)")
    config, rules = _prometheus_config(scenario(name))
    assert rules, "the rules of grafana/rules are in the chart's Prometheus"
    for key, text in rules.items():
        (tmp_path / key).write_text(text)
    config = _static_equivalent(config)
    config["rule_files"] = [str(tmp_path / Path(p).name) for p in config["rule_files"]]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


# --- kube-prometheus-stack mode -------------------------------------------------------------------------


def test_kps_mode_has_no_prometheus_or_grafana_of_its_own():
    names = {(o["kind"], o["metadata"]["name"]) for o in scenario("kps")}
    assert ("Deployment", "loadlab-prometheus") not in names
    assert ("Deployment", "loadlab-grafana") not in names
    assert ("Role", "loadlab-prometheus") not in names


def test_service_monitors_have_the_required_fields_and_match_services():
    objs = scenario("kps")
    monitors = by_kind(objs, "ServiceMonitor")
    jobs = set()
    for sm in monitors:
        where = sm["metadata"]["name"]
        assert sm["apiVersion"] == "monitoring.coreos.com/v1"
        assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack", where
        spec = sm["spec"]
        assert set(spec) <= {"jobLabel", "namespaceSelector", "selector", "endpoints"}, where
        assert spec["selector"]["matchLabels"], where  # required by the CRD
        assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        assert spec["endpoints"], where
        services = [
            s for s in by_kind(objs, "Service") if matches(spec["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert len(services) == 1, f"{where} selects {len(services)} Services"
        (svc,) = services
        job = svc["metadata"]["labels"][spec["jobLabel"]]
        jobs.add(job)
        for ep in spec["endpoints"]:
            assert set(ep) <= {"port", "path", "interval", "scrapeTimeout", "relabelings"}, where
            assert ep["port"] in {p["name"] for p in svc["spec"]["ports"]}, where
            assert re.fullmatch(r"\d+[smh]", ep["interval"])
            for r in ep["relabelings"]:
                assert set(r) <= {"sourceLabels", "targetLabel", "regex", "action", "replacement"}
    assert jobs == CONTRACT_JOBS - {"prometheus"}


def test_prometheus_rule_groups_pass_promtool(tmp_path):
    promtool = require_tool("promtool", "apt-get install prometheus (scripts/bootstrap.sh does)")
    rules = by_kind(scenario("kps"), "PrometheusRule")
    sources = sorted((ROOT / "grafana" / "rules").glob("*.rules.yaml"))
    assert len(rules) == len(sources) >= 2  # loadlab.rules.yaml, saturation.rules.yaml: one PrometheusRule each
    assert all(rule["metadata"]["labels"]["release"] == "kube-prometheus-stack" for rule in rules)
    groups = [g for rule in rules for g in rule["spec"]["groups"]]
    assert groups and all(g["name"] and g["rules"] for g in groups)
    source_groups = [g for path in sources for g in yaml.safe_load(path.read_text())["groups"]]
    assert sorted(groups, key=lambda g: g["name"]) == sorted(source_groups, key=lambda g: g["name"])
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- dashboards -----------------------------------------------------------------------------------------


def test_chart_dashboards_and_rules_equal_grafana_sources():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "sync-chart-files.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, "run tools/sync-chart-files.py:\n" + result.stdout


@pytest.mark.parametrize("name", ["default", "kps"])
def test_dashboard_configmaps_carry_every_dashboard_with_the_sidecar_label(name):
    objs = scenario(name)
    sources = {p.name: p.read_text() for p in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))}
    assert sources, "grafana/dashboards is empty"
    maps = [o for o in by_kind(objs, "ConfigMap") if o["metadata"]["labels"].get("grafana_dashboard") == "1"]
    rendered = {k: v for m in maps for k, v in m["data"].items()}
    assert set(rendered) == set(sources)
    for key, text in sources.items():
        assert json.loads(rendered[key]) == json.loads(text), key
        assert '"uid": "prometheus"' in text or "${datasource}" in text, f"{key}: datasource uid"


def test_grafana_provisions_the_datasource_and_mounts_every_dashboard():
    objs = scenario("default")
    data = get(objs, "ConfigMap", "loadlab-grafana")["data"]
    (ds,) = yaml.safe_load(data["datasources.yaml"])["datasources"]
    assert ds["uid"] == "prometheus" and ds["url"] == "http://loadlab-prometheus:9090"
    provider = yaml.safe_load(data["dashboards.yaml"])["providers"][0]
    grafana = get(objs, "Deployment", "loadlab-grafana")
    volume = next(v for v in pod_template(grafana)["spec"]["volumes"] if v["name"] == "dashboards")
    projected = {s["configMap"]["name"] for s in volume["projected"]["sources"]}
    maps = {
        m["metadata"]["name"]
        for m in by_kind(objs, "ConfigMap")
        if m["metadata"]["name"].startswith("loadlab-dashboard-")
    }
    assert projected == maps
    mount = next(m for m in container(grafana, "grafana")["volumeMounts"] if m["name"] == "dashboards")
    assert mount["mountPath"] == provider["options"]["path"]
    home = env_map(container(grafana, "grafana"))["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (
        Path(home).parent == Path(mount["mountPath"]) and (ROOT / "grafana" / "dashboards" / Path(home).name).exists()
    )
    assert env_map(container(grafana, "grafana"))["GF_SECURITY_ADMIN_PASSWORD"] == {
        "secretKeyRef": {"name": "loadlab-auth", "key": "grafana-admin-password"}
    }


# --- NetworkPolicies ------------------------------------------------------------------------------------


#: a scraping Prometheus of kube-prometheus-stack: another namespace, labelled like this
EXTERNAL_PROMETHEUS = {"namespace": "monitoring", "namespace_labels": {"kubernetes.io/metadata.name": "monitoring"}}


def _peer_admits(peer: dict[str, Any], src: dict[str, Any]) -> bool:
    """NetworkPolicy peer semantics: podSelector alone = pods of the policy's namespace; namespaceSelector alone =
    every pod of the matching namespaces ({} = all); both = matching pods in matching namespaces."""
    pod_sel, ns_sel = peer.get("podSelector"), peer.get("namespaceSelector")
    if ns_sel is None:
        in_namespace = src["namespace"] == NAMESPACE
    else:
        in_namespace = matches(ns_sel.get("matchLabels", {}), src["namespace_labels"])
    return in_namespace and (pod_sel is None or matches(pod_sel.get("matchLabels", {}), src["labels"]))


def _allowed(objs: list[dict[str, Any]], src: str | dict[str, Any], dst: str, port: int) -> bool:
    """Would the policies admit a TCP connection from `src` (a component of the release, or a foreign pod) to a
    pod of component `dst` on `port`?"""
    pods = {pod["metadata"]["labels"]["app.kubernetes.io/component"]: pod for _, pod in workloads(objs)}
    if isinstance(src, str):
        src = {
            "namespace": NAMESPACE,
            "namespace_labels": {"kubernetes.io/metadata.name": NAMESPACE},
            "labels": pods[src]["metadata"]["labels"],
        }
    else:
        src = {"labels": {"app.kubernetes.io/name": "prometheus"}, **src}
    dst_labels = pods[dst]["metadata"]["labels"]
    if src["namespace"] == NAMESPACE and not _egress_allowed(objs, src["labels"], dst_labels, port):
        return False
    policies = _selecting(objs, dst_labels, "Ingress")
    if not policies:
        return True
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if port not in [p["port"] for p in rule.get("ports", [])]:
                continue
            if "from" not in rule or any(_peer_admits(peer, src) for peer in rule["from"]):
                return True
    return False


def _selecting(objs: list[dict[str, Any]], labels: dict[str, str], kind: str) -> list[dict[str, Any]]:
    """The policies of type `kind` (Ingress, Egress) that select a pod with these labels."""
    return [
        p
        for p in by_kind(objs, "NetworkPolicy")
        if matches(p["spec"]["podSelector"].get("matchLabels", {}), labels) and kind in p["spec"]["policyTypes"]
    ]


def _egress_allowed(objs: list[dict[str, Any]], src: dict[str, str], dst: dict[str, str], port: int) -> bool:
    """Would the policies selecting the source pod let it open a TCP connection to a release pod `dst` on `port`?"""
    policies = _selecting(objs, src, "Egress")
    if not policies:
        return True
    here = {"namespace": NAMESPACE, "namespace_labels": {"kubernetes.io/metadata.name": NAMESPACE}, "labels": dst}
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            ports = [(p["port"], p.get("protocol", "TCP")) for p in rule.get("ports", [])]
            if ports and (port, "TCP") not in ports:
                continue
            if "to" not in rule or any(_peer_admits(peer, here) for peer in rule["to"]):
                return True
    return False


EDGES_ALLOWED = [
    ("locust-worker", "api", 8000),
    ("locust-master", "api", 8000),
    ("test", "api", 8000),
    ("prometheus", "api", 9000),
    ("api", "pgbouncer", 6432),
    ("pgbouncer", "postgresql", 5432),
    ("migrate", "postgresql", 5432),
    ("db-roles", "postgresql", 5432),
    ("api", "redis", 6379),
    ("locust-worker", "locust-master", 5557),
    ("prometheus", "locust-master", 9646),
    ("prometheus", "postgresql", 9187),
    ("prometheus", "pgbouncer", 9127),
    ("prometheus", "redis", 9121),
    ("grafana", "prometheus", 9090),
]
EDGES_DENIED = [
    ("api", "postgresql", 5432),
    ("locust-worker", "postgresql", 5432),
    ("locust-worker", "redis", 6379),
    ("grafana", "postgresql", 5432),
    ("api", "locust-master", 5557),
    ("locust-master", "pgbouncer", 6432),
    ("api", "postgresql", 9187),
    ("api", "locust-worker", 5557),
    ("prometheus", "api", 8000),
    ("locust-worker", "api", 9000),
    ("db-roles", "api", 8000),
    ("db-roles", "redis", 6379),
]


@pytest.mark.parametrize(("src", "dst", "port"), EDGES_ALLOWED)
def test_network_policies_admit_neighbours(src, dst, port):
    assert _allowed(scenario("default"), src, dst, port)


@pytest.mark.parametrize(("src", "dst", "port"), EDGES_DENIED)
def test_network_policies_refuse_everyone_else(src, dst, port):
    assert not _allowed(scenario("default"), src, dst, port)


METRICS_PORTS = [("api", 9000), ("locust-master", 9646), ("postgresql", 9187), ("pgbouncer", 9127), ("redis", 9121)]


@pytest.mark.parametrize(("dst", "port"), METRICS_PORTS)
def test_kube_prometheus_stack_may_scrape_every_metrics_port(dst, port):
    assert _allowed(scenario("kps"), EXTERNAL_PROMETHEUS, dst, port)
    assert not _allowed(scenario("default"), EXTERNAL_PROMETHEUS, dst, port), "no ServiceMonitors: no outside scrape"


def test_kube_prometheus_stack_reaches_only_metrics_ports():
    objs = scenario("kps")
    assert not _allowed(objs, EXTERNAL_PROMETHEUS, "postgresql", 5432)
    assert not _allowed(objs, EXTERNAL_PROMETHEUS, "pgbouncer", 6432)
    assert not _allowed(objs, EXTERNAL_PROMETHEUS, "redis", 6379)
    assert not _allowed(objs, EXTERNAL_PROMETHEUS, "api", 8000)  # the API's own port: metrics are apart


def test_metrics_namespace_labels_narrow_the_scrapers():
    objs = render(*SCENARIOS["kps"], "--set", "networkPolicy.metricsNamespaceLabels.team=observability")
    assert not _allowed(objs, EXTERNAL_PROMETHEUS, "api", 9000)
    labelled = {**EXTERNAL_PROMETHEUS, "namespace_labels": {"team": "observability"}}
    assert _allowed(objs, labelled, "api", 9000)


def _labels(objs: list[dict[str, Any]], component: str) -> dict[str, str]:
    return next(
        pod["metadata"]["labels"]
        for _, pod in workloads(objs)
        if pod["metadata"]["labels"]["app.kubernetes.io/component"] == component
    )


EGRESS_DENIED = [
    ("locust-worker", "postgresql", 5432),
    ("locust-worker", "redis", 6379),
    ("locust-worker", "pgbouncer", 6432),
    ("locust-master", "postgresql", 5432),
    ("locust-master", "redis", 6379),
    ("api", "postgresql", 5432),
    ("api", "locust-master", 5557),
    ("grafana", "api", 8000),
    ("postgresql", "api", 8000),
    ("redis", "api", 8000),
    ("prometheus", "postgresql", 5432),
    ("test", "postgresql", 5432),
]


@pytest.mark.parametrize(("src", "dst", "port"), EGRESS_DENIED)
def test_egress_policies_keep_each_pod_to_its_own_flows(src, dst, port):
    """Whatever the destination's ingress says, the source's own egress policy refuses: workers reach their
    target (and the master), never the data tier."""
    objs = scenario("run")
    assert not _egress_allowed(objs, _labels(objs, src), _labels(objs, dst), port)


def test_egress_allows_every_flow_the_stack_needs():
    objs = scenario("run")
    for src, dst, port in EDGES_ALLOWED:
        assert _egress_allowed(objs, _labels(objs, src), _labels(objs, dst), port), (src, dst, port)


@pytest.mark.parametrize("name", ["default", "kps", "run"])
def test_only_the_load_and_the_test_reach_the_api_port(name):
    objs = scenario(name)
    components = {pod["metadata"]["labels"]["app.kubernetes.io/component"] for _, pod in workloads(objs)}
    reach = {c for c in components if _allowed(objs, c, "api", 8000)}
    assert reach == {"locust-worker", "locust-master", "test"} & components, reach
    assert not _allowed(objs, EXTERNAL_PROMETHEUS, "api", 8000)


def test_release_pods_are_default_denied_both_ways():
    cases = [
        ((), {"matchLabels": {"app.kubernetes.io/instance": RELEASE}}),
        (("--set", "networkPolicy.defaultDeny=namespace"), {}),
    ]
    for args, selector in cases:
        deny = get(render(*args), "NetworkPolicy", "loadlab-default-deny")
        assert deny["spec"] == {"podSelector": selector, "policyTypes": ["Ingress", "Egress"]}


def test_without_pgbouncer_the_api_may_reach_postgres():
    objs = scenario("preset-seed-baseline")
    assert _allowed(objs, "api", "postgresql", 5432)


def test_every_pod_is_covered_by_a_network_policy():
    objs = scenario("run")
    policies = by_kind(objs, "NetworkPolicy")
    for _obj, pod in workloads(objs):
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        assert any(matches(p["spec"]["podSelector"]["matchLabels"], pod["metadata"]["labels"]) for p in policies), (
            component
        )


# --- NOTES.txt ------------------------------------------------------------------------------------------


def _notes(*args: str) -> str:
    helm = require_tool("helm", "tools/install-helm.sh")
    result = subprocess.run(
        [helm, "install", RELEASE, str(CHART), "--dry-run=client", "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
        env=helm_env(),
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]


def test_notes_name_real_services_and_the_fetch_command():
    objs = scenario("run")
    notes = _notes(*SCENARIOS["run"])
    services = {s["metadata"]["name"]: s for s in by_kind(objs, "Service")}
    forwards = re.findall(r"port-forward svc/(\S+) (\d+):(\d+)", notes)
    # a run is headless: no Locust UI to forward to
    assert {f[0] for f in forwards} == {"loadlab-grafana", "loadlab-api", "loadlab-prometheus"}
    for name, _local, remote in forwards:
        assert int(remote) in [p["port"] for p in services[name]["spec"]["ports"]], name
    patched = re.search(r"patch job/(\S+) --type=merge -p '(.+)'", notes)
    assert patched and patched.group(1) in {j["metadata"]["name"] for j in by_kind(objs, "Job")}
    assert json.loads(patched.group(2)) == {"spec": {"parallelism": 4}}
    ui = _notes(*SCENARIOS["ui"])
    assert "scale deployment/loadlab-locust-worker" in ui and "port-forward svc/loadlab-locust-master 8089" in ui
    fetch = re.search(r"kubectl -n loadlab exec deploy/(\S+) -- tar cf - -C /results \.", notes)
    assert fetch and fetch.group(1) in {d["metadata"]["name"] for d in by_kind(objs, "Deployment")}
    assert "job/loadlab-locust-run-ci-run" in notes
    secret_key = re.search(r"jsonpath='\{\.data\.([^}]+)\}'", notes)
    assert secret_key and secret_key.group(1) == "grafana-admin-password"


def test_notes_warn_about_unsafe_values():
    unsafe = sets("networkPolicy.enabled=false", "grafana.anonymousViewer=true")
    notes = _notes(*unsafe, "-f", str(CHART / "presets" / "seed-baseline.yaml"))
    # Each unsafe value named by its own warning, and nothing else warned about.
    warned = re.findall(r"^WARNING: ([^: ]+)", notes, re.MULTILINE)
    assert sorted(warned) == [
        "BOARD_HASH_IN_EXECUTOR=false",
        "grafana.anonymousViewer=true",
        "networkPolicy.enabled=false",
    ]
    assert notes.count("WARNING") == 3
    assert "WARNING" not in _notes(*SCENARIOS["run"])


@pytest.mark.parametrize("name", ["ci-ci-values", "preset-seed-baseline"])
def test_locust_accepts_every_rendered_command_line(name):
    """Every Locust container of the scenario, master (Job or Deployment) and workers, through Locust's parser."""
    objs = scenario(name)
    locust = ["python", "-m", "locust"]
    lines = [
        _argv(c) for _, pod in workloads(objs) for c in pod["spec"]["containers"] if c.get("command", [])[:3] == locust
    ]
    assert len(lines) == 2
    for argv in lines:
        _parse_locust(argv)
