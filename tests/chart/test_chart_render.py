"""The chart lints, renders valid Kubernetes objects in every scenario, and its values schema rejects mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.chart.conftest import (
    CHART,
    CI_VALUES,
    KUBE_VERSION,
    PRESETS,
    ROOT,
    SCENARIOS,
    RenderError,
    by_kind,
    containers,
    helm_env,
    render,
    require_tool,
    scenario,
    workloads,
)

pytestmark = pytest.mark.chart

CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}


@pytest.mark.parametrize("values", [None, *PRESETS, *CI_VALUES], ids=lambda p: p.name if p else "default")
def test_helm_lint_strict(values):
    helm = require_tool("helm", "tools/install-helm.sh")
    argv = [helm, "lint", "--strict", str(CHART)] + (["-f", str(values)] if values else [])
    result = subprocess.run(argv, capture_output=True, text=True, env=helm_env(), check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_object_is_valid_kubernetes(name):
    """Each rendered object against the Kubernetes OpenAPI schema (strict: unknown fields fail too)."""
    objs = scenario(name)
    assert objs, f"{name} rendered nothing"
    problems = []
    for obj in objs:
        if obj["kind"] in CRD_KINDS:
            continue  # not in the core schema: test_chart_wiring (monitoring) and test_chart_locust (KEDA) check them
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)


def test_kubernetes_validate_catches_mistakes():
    """The validator itself is live: an unknown field and a wrong type are both reported."""
    deployment = next(o for o in scenario("default") if o["kind"] == "Deployment")
    bad = json.loads(json.dumps(deployment))
    bad["spec"]["replicass"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBE_VERSION, strict=True)
    bad = json.loads(json.dumps(deployment))
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBE_VERSION, strict=True)


def _restricted_problems(obj: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    """What keeps a pod from the "restricted" Pod Security Standard, plus our own rules (limits, probes' ports)."""
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    problems = []
    psc = pod["spec"].get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod runAsNonRoot")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile")
    if not isinstance(psc.get("runAsUser"), int) or psc["runAsUser"] == 0:
        problems.append(f"{where}: pod runAsUser must be a numeric non-root id")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod["spec"].get(key):
            problems.append(f"{where}: {key}")
    for volume in pod["spec"].get("volumes", []):
        if "hostPath" in volume:
            problems.append(f"{where}: hostPath volume {volume['name']}")
    for c in containers(pod):
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cw}: allowPrivilegeEscalation")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cw}: readOnlyRootFilesystem")
        if sc.get("runAsNonRoot") is not True or sc.get("runAsUser", 1) == 0:
            problems.append(f"{cw}: runAsNonRoot")
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
            problems.append(f"{cw}: capabilities must drop ALL and add none")
        if sc.get("privileged"):
            problems.append(f"{cw}: privileged")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in res.get(part, {}):
                    problems.append(f"{cw}: resources.{part}.{resource} missing")
        image = c["image"]
        if image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
            problems.append(f"{cw}: image {image} is not pinned")
    return problems


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_pods_meet_restricted_pod_security(name):
    problems = []
    for obj, pod in workloads(scenario(name)):
        problems += _restricted_problems(obj, pod)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_secret_literal_in_manifests(name):
    """Passwords only come from the Secret: no env value looks like a credential, no DSN carries a literal one."""
    problems = []
    for obj, pod in workloads(scenario(name)):
        for c in containers(pod):
            for e in c.get("env", []):
                value = e.get("value", "")
                if any(word in e["name"] for word in ("PASSWORD", "SECRET", "PASS")) and "value" in e:
                    problems.append(f"{obj['metadata']['name']}/{c['name']}: {e['name']} is a literal")
                if "://" in value and "@" in value and "$(" not in value.split("@")[0]:
                    problems.append(f"{obj['metadata']['name']}/{c['name']}: {e['name']} has a literal password")
    assert not problems, "\n".join(problems)


def test_generated_secret_has_every_key():
    secret = next(o for o in scenario("default") if o["kind"] == "Secret")
    assert set(secret["data"]) == {
        "database-password",
        "database-owner-password",
        "postgres-password",
        "redis-password",
        "redis-exporter-password",
        "jwt-secret",
        "grafana-admin-password",
        "locust-web-password",
    }
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not by_kind(scenario("hpa-existing-secret"), "Secret"), "an existing Secret must not be generated"


def test_every_object_has_namespace_and_labels():
    for name in ("default", "run", "kps"):
        for obj in scenario(name):
            meta = obj["metadata"]
            assert meta.get("namespace") == "loadlab", f"{obj['kind']}/{meta['name']} lacks the release namespace"
            assert meta["labels"]["app.kubernetes.io/instance"] == "loadlab"
            assert len(meta["name"]) <= 63


# --- values.schema.json ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--set", "api.replicaz=2"), "additional properties 'replicaz' not allowed"),
        (("--set", "typo=1"), "additional properties 'typo' not allowed"),
        (("--set", "api.replicas=-1"), "minimum"),
        (("--set", "locust.workers.replicas=-3"), "minimum"),
        (("--set", "api.replicas=two"), "want integer"),
        (("--set", "pgbouncer.enabled=maybe"), "want boolean"),
        (("--set", "api.port=70000"), "maximum"),
        (("--set", "locust.master.mode=batch"), "value must be one of"),
        (("--set", "api.env.BOARD_BCRYPT_ROUNDS=10"), "want string"),
        (("--set-string", "api.env.DATABASE_URL=x"), "additional properties 'DATABASE_URL' not allowed"),
        (("--set-string", "api.env.BOARD_DB_POOL_SIZ=5"), "additional properties 'BOARD_DB_POOL_SIZ' not allowed"),
        (("--set-string", "api.env.BOARD_BCRYPT_ROUNDS=3"), "/api/env/BOARD_BCRYPT_ROUNDS"),
        (("--set-string", "api.env.BOARD_DB_POOL_TIMEOUT=0"), "/api/env/BOARD_DB_POOL_TIMEOUT"),
        (("--set-string", "api.env.BOARD_LOG_LEVEL=loud"), "value must be one of"),
        (("--set-string", "api.env.BOARD_CACHE_ENABLED=yes"), "value must be one of"),
        # dev mode signs tokens with a published secret: never deployed
        (("--set-string", "api.env.BOARD_DEV_MODE=true"), "/api/env/BOARD_DEV_MODE"),
        # the chart wires these from its Services and Secret: never a knob
        (("--set-string", "api.env.BOARD_DATABASE_URL=postgresql+psycopg://x"), "'BOARD_DATABASE_URL' not allowed"),
        (("--set-string", "api.env.BOARD_DB_STATEMENT_CACHE=true"), "/api/env/BOARD_DB_STATEMENT_CACHE"),
        (("--set", "pgbouncer.poolSize=0"), "minimum"),
        (("--set", "global.imagePullSecrets[0]=3"), "/global/imagePullSecrets/0"),
        (("--set", "api.resources.cpu=1"), "additional properties 'cpu' not allowed"),
        (("--set", "accounts.count=0"), "minimum"),
        (("--set", "locust.runId=My_Run"), "does not match pattern"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_schema_rejects_bad_values(args, expected):
    with pytest.raises(RenderError) as info:
        render(*args)
    assert expected in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--set", "postgresql.enabled=false"), "externalDatabase.host"),
        (("--set", "api.hpa.enabled=true", "--set", "api.hpa.maxReplicas=1"), "maxReplicas"),
        (("--set", "prometheus.enabled=false"), "grafana.prometheusUrl"),
        (("--set", "api.enabled=false"), "locust.host: required when api.enabled is false"),
        (("--set", "locust.locustfile=x", "--set", "locust.locustfilePath=/t.py"), "set one of them"),
        (("--set", "locust.locustfileName=main"), "must be a .py file name"),
        (("--set", "locust.workers.hpa.enabled=true", "--set", "locust.workers.keda.enabled=true"), "choose one"),
        (("--set", "locust.master.mode=run", "--set", "locust.workers.hpa.enabled=true"), "autoscaling applies to ui"),
        (
            ("--set", "locust.workers.keda.enabled=true", "--set", "locust.workers.keda.maxReplicas=1"),
            "keda.maxReplicas",
        ),
        (
            (
                "--set",
                "locust.workers.keda.enabled=true",
                "--set",
                "prometheus.enabled=false",
                "--set",
                "grafana.prometheusUrl=http://p:9090",
            ),
            "keda.serverAddress: required",
        ),
        (("--set", "locust.master.ingress.enabled=true"), "webLogin.enabled: required"),
        (("--set", "networkPolicy.allowExternalUI=true"), "webLogin.enabled: required"),
        (("--set", "locust.master.mode=run", "--set", "locust.master.ingress.enabled=true"), "headless"),
        (
            (
                "--set",
                "locust.master.webLogin.enabled=true",
                "--set",
                "locust.locustfile=x",
                "--set",
                "locust.plugin=false",
            ),
            "needs locust.plugin",
        ),
        (
            ("--set", "pgbouncer.replicas=4", "--set", "pgbouncer.poolSize=60"),
            "pgbouncer.poolSize: 4 PgBouncer pods x 60",
        ),
        (("--set", "api.replicas=60"), "pgbouncer.maxClientConn: 60 API pods"),
        (("--set", "pgbouncer.enabled=false", "--set", "api.replicas=12"), "postgresql.maxConnections: 12 API pods"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_validate_values_fails_with_every_problem(args, expected):
    with pytest.raises(RenderError) as info:
        render(*args)
    assert "VALUES VALIDATION" in str(info.value) and expected in str(info.value), str(info.value)


def test_connection_sums_fall_back_to_the_apis_defaults():
    """Without BOARD_DB_POOL_SIZE / BOARD_DB_MAX_OVERFLOW the chart counts with board.config.Settings' defaults."""
    from board.config import Settings

    pool, overflow = Settings.model_fields["db_pool_size"].default, Settings.model_fields["db_max_overflow"].default
    with pytest.raises(RenderError) as info:
        render("--set", "api.replicas=60")
    assert f"(pool {pool} + overflow {overflow})" in str(info.value), str(info.value)


def test_statement_cache_may_be_on_without_pgbouncer():
    """The rule is conditional: straight to Postgres (seed-baseline), prepared statements are fine."""
    objs = render("--set", "pgbouncer.enabled=false", "--set-string", "api.env.BOARD_DB_STATEMENT_CACHE=true")
    assert by_kind(objs, "Deployment")


def test_global_values_of_a_parent_chart_are_accepted():
    """values.schema.json allows `global` (Helm gives every subchart its parent's map), unknown keys included."""
    objs = render("--set", "global.someParentKey=x", "--set", "global.imageRegistry=mirror.example.com")
    images = {c["image"] for _, pod in workloads(objs) for c in containers(pod)}
    assert images and all(i.startswith("mirror.example.com/") for i in images), images


def test_validate_values_collects_all_problems_at_once():
    with pytest.raises(RenderError) as info:
        render("--set", "postgresql.enabled=false", "--set", "prometheus.enabled=false")
    assert "externalDatabase.host" in str(info.value) and "grafana.prometheusUrl" in str(info.value)


def test_schema_and_readme_are_generated_from_values():
    """values.schema.json and the README table equal what tools/chart-docs.py makes of values.yaml's @param lines."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "chart-docs.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_value_is_documented_and_typed():
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], sch: dict[str, Any], path: str) -> None:
        # `global` is the one open map: a parent chart puts its own keys there.
        want = path == "global."
        assert sch.get("additionalProperties") is want, f"{path or '<root>'}: additionalProperties is not {want}"
        for key, value in node.items():
            sub = sch["properties"][key]
            if "properties" in sub:
                walk(value, sub, f"{path}{key}.")
            else:
                assert "type" in sub, f"{path}{key} has no type"

    walk(values, schema, "")


# --- presets --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_has_the_contract_shape(preset):
    """docs/contracts.md: api.env (BOARD_* -> string), pgbouncer.enabled/poolSize, redis.enabled, which the lab reads;
    any other chart value only in a preset made for clusters (the lab ignores it, the schema still checks it)."""
    data = yaml.safe_load(preset.read_text())
    assert {"api", "pgbouncer", "redis"} <= set(data)
    assert all(k.startswith("BOARD_") and isinstance(v, str) for k, v in data["api"]["env"].items())
    assert isinstance(data["pgbouncer"]["enabled"], bool) and isinstance(data["redis"]["enabled"], bool)
    if preset.stem != "cluster":
        assert set(data) == {"api", "pgbouncer", "redis"} and set(data["api"]) <= {"env", "workers"}
        assert set(data["pgbouncer"]) <= {"enabled", "poolSize"} and set(data["redis"]) == {"enabled"}


def test_cluster_preset_is_made_for_a_real_cluster():
    """bcrypt cost >= 10 (OWASP), API replicas with an HPA and a PDB, PgBouncer sized for the most API pods."""
    values = yaml.safe_load((CHART / "presets" / "cluster.yaml").read_text())
    api, pgb = values["api"], values["pgbouncer"]
    assert int(api["env"]["BOARD_BCRYPT_ROUNDS"]) >= 10
    assert api["hpa"]["enabled"] and api["hpa"]["minReplicas"] >= 2 and api["pdb"]["enabled"]
    clients = api["hpa"]["maxReplicas"] * (
        int(api["env"]["BOARD_DB_POOL_SIZE"]) + int(api["env"]["BOARD_DB_MAX_OVERFLOW"])
    )
    assert clients <= pgb["replicas"] * pgb["maxClientConn"]
    assert pgb["replicas"] * pgb["poolSize"] <= values["postgresql"]["maxConnections"] - 10
    objs = render("-f", str(CHART / "presets" / "cluster.yaml"))
    assert by_kind(objs, "HorizontalPodAutoscaler") and by_kind(objs, "PodDisruptionBudget")
    ini = next(o for o in objs if o["metadata"]["name"] == "loadlab-pgbouncer" and o["kind"] == "ConfigMap")
    assert f"default_pool_size = {pgb['poolSize']}" in ini["data"]["pgbouncer.ini"]


def test_presets_say_what_the_post_and_our_tuning_say():
    seed = yaml.safe_load((CHART / "presets" / "seed-baseline.yaml").read_text())
    env = seed["api"]["env"]
    assert env["BOARD_BCRYPT_ROUNDS"] == "12" and env["BOARD_HASH_IN_EXECUTOR"] == "false"
    assert (env["BOARD_DB_POOL_SIZE"], env["BOARD_DB_MAX_OVERFLOW"], env["BOARD_DB_POOL_TIMEOUT"]) == ("5", "10", "30")
    assert env["BOARD_CACHE_ENABLED"] == "false"
    assert seed["pgbouncer"]["enabled"] is False and seed["redis"]["enabled"] is False
    tuned = yaml.safe_load((CHART / "presets" / "tuned.yaml").read_text())
    assert tuned["pgbouncer"]["enabled"] is True and tuned["redis"]["enabled"] is True
    assert tuned["api"]["env"]["BOARD_DB_STATEMENT_CACHE"] == "false"  # behind PgBouncer's transaction mode


def test_scenario_enum_is_the_load_suites():
    """values.schema.json's scenarios are those locust/loadsuite defines (a typo fails at install, not in the pod)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    enum = schema["properties"]["locust"]["properties"]["scenario"]["enum"]
    code = (
        "import json, sys; sys.path.insert(0, 'locust'); "
        "from loadsuite.scenarios import SCENARIOS; print(json.dumps(list(SCENARIOS)))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert enum == json.loads(result.stdout)


DIGEST = "sha256:" + "ab" * 32


def test_every_image_may_be_pinned_by_digest():
    """Each image block of values.yaml takes a digest (the schema allows it), and the rendered image is then
    `repository@digest`, whatever the tag."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def image_paths(node: object, path: str = "") -> list[str]:
        if not isinstance(node, dict):
            return []
        found = [path + "image"] if isinstance(node.get("image"), dict) and "repository" in node["image"] else []
        return found + [p for key, child in node.items() for p in image_paths(child, f"{path}{key}.")]

    paths = image_paths(values)
    assert len(paths) >= 10, paths
    args = [arg for p in paths for arg in ("--set", f"{p}.digest={DIGEST}")]
    objs = render(*args, "--set", "locust.master.mode=run")
    images = {c["image"] for _, pod in workloads(objs) for c in containers(pod)}
    assert images and all(image.endswith("@" + DIGEST) for image in images), sorted(images)
