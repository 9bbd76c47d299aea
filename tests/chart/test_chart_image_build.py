"""The Dockerfile's build stages, executed for real without a Docker engine.

No Docker engine runs here, so this test interprets the Dockerfile itself: the build context is what
`.dockerignore` lets through; each of the stages `builder`, `venv-api` and `venv-locust` gets its own folder
standing in for `/`; WORKDIR, ENV, COPY (from the context or `--from` a stage) and RUN are carried out with
the container's absolute paths mapped into that folder, and with a fresh virtualenv standing in for the
base image's Python. Then the `api` target's virtualenv serves `python -m board --help` and the `locust`
target's loads the real locustfile. What this proves: the wheels-only dependency step resolves with the
pinned constraints, our package builds from `service/` alone, each target installs offline from the
builder's wheels, and each image holds only its own extra. What it cannot: the base image itself, file
ownership and the non-root user (checked statically in test_chart_tools.py).

Needs PyPI (the builder downloads wheels, as `docker build` would); pip's cache makes reruns quick.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chart.conftest import ROOT

pytestmark = pytest.mark.chart

DOCKERFILE = ROOT / "Dockerfile"
STAGES = ("builder", "venv-api", "venv-locust")


def _context(dest: Path) -> Path:
    """Copy the build context: an allow-list .dockerignore (`*` then `!path` entries, then exclusions)."""
    rules = [x.strip() for x in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [x for x in rules if x and not x.startswith("#")]
    assert rules[0] == "*"
    allowed = [r[1:].rstrip("/") for r in rules[1:] if r.startswith("!")]
    excluded = [r for r in rules[1:] if not r.startswith("!")]

    def ignored(rel: str) -> bool:
        return any(
            fnmatch.fnmatch(rel, pat)
            or fnmatch.fnmatch(rel, pat.removeprefix("**/"))
            or fnmatch.fnmatch(Path(rel).name, pat.removeprefix("**/"))
            for pat in excluded
        )

    for entry in allowed:
        src = ROOT / entry
        if src.is_file():
            (dest / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / entry)
            continue
        for path in src.rglob("*"):
            rel = str(path.relative_to(ROOT))
            if path.is_file() and not any(ignored(part) for part in _prefixes(rel)):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest / rel)
    return dest


def _prefixes(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _instructions() -> dict[str, list[tuple[str, str]]]:
    """stage -> [(INSTRUCTION, rest)], continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            current = rest.split()[-1]
            stages[current] = []
        elif current:
            stages[current].append((word.upper(), rest.strip()))
    return stages


class Stage:
    """One build stage carried out in a folder that stands for the container's /."""

    def __init__(self, name: str, root: Path, base_bin: Path, context: Path, done: dict[str, Path]):
        self.name, self.root, self.context, self.done = name, root, context, done
        self.cwd = root
        self.env = {"PATH": f"{base_bin}:{os.environ['PATH']}", "HOME": str(root / "root")}
        for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_CONFIG_FILE", "PIP_CACHE_DIR"):
            if key in os.environ:
                self.env[key] = os.environ[key]
        self.env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def rewrite(self, command: str) -> str:
        """Map the container's absolute paths (/src, /wheels, /opt, /tmp/...) into the stage's folder."""
        return re.sub(r"(?<![\w.])/(src|wheels|opt|tmp)\b", lambda m: f"{self.root}/{m.group(1)}", command)

    def run(self, instruction: str, rest: str) -> None:
        if instruction == "WORKDIR":
            self.cwd = self.path(rest)
            self.cwd.mkdir(parents=True, exist_ok=True)
        elif instruction == "ENV":
            for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', rest):
                self.env[key] = value.strip('"')
        elif instruction == "COPY":
            words = shlex.split(rest)
            source_root = self.context
            if words[0].startswith("--from="):
                source_root = self.done[words.pop(0).split("=", 1)[1]]
            *sources, dest = words
            for source in sources:
                src = (source_root / source.lstrip("/")) if source_root is not self.context else self.context / source
                target = self.path(dest) if dest.startswith("/") else self.cwd / dest
                if src.is_dir():
                    shutil.copytree(
                        src,
                        target if dest.endswith("/") or len(sources) == 1 else target / src.name,
                        dirs_exist_ok=True,
                    )
                else:
                    target = target / src.name if dest.endswith("/") else target
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target)
        elif instruction == "RUN":
            command = re.sub(r"--mount=\S+\s*", "", rest)
            command = self.rewrite(command)
            (self.root / "tmp").mkdir(exist_ok=True)
            result = subprocess.run(
                ["sh", "-c", command],
                cwd=self.cwd,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert result.returncode == 0, (
                f"{self.name}: RUN {command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        elif instruction in {"LABEL", "EXPOSE", "USER", "CMD", "HEALTHCHECK", "ARG"}:
            pass
        else:
            raise AssertionError(f"{self.name}: the test does not know {instruction}")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("image-build")
    context = _context(work / "context")
    base = work / "base-python"
    subprocess.run([sys.executable, "-m", "venv", str(base)], check=True, timeout=120)
    instructions = _instructions()
    done: dict[str, Path] = {}
    for name in STAGES:
        stage = Stage(name, work / name, base / "bin", context, done)
        stage.root.mkdir()
        for instruction, rest in instructions[name]:
            stage.run(instruction, rest)
        done[name] = stage.root
    return {"context": context, **done}


def test_build_context_holds_only_what_the_images_need(built):
    names = {p.name for p in built["context"].iterdir()}
    assert names == {"pyproject.toml", "constraints.txt", "README.md", "service", "locust"}
    assert not list(built["context"].rglob("__pycache__"))


def test_builder_made_wheels_only(built):
    for sub in ("api", "locust", "project"):
        wheels = list((built["builder"] / "wheels" / sub).glob("*"))
        assert wheels and all(w.suffix == ".whl" for w in wheels), sub
    (project,) = (built["builder"] / "wheels" / "project").glob("*.whl")
    assert project.name.startswith("board_loadlab-")


def _site(venv: Path) -> set[str]:
    (site,) = (venv / "opt" / "venv" / "lib").glob("python3*/site-packages")
    return {p.name.lower() for p in site.iterdir()}


def test_api_image_venv_serves_the_board_cli(built):
    python = built["venv-api"] / "opt" / "venv" / "bin" / "python"
    result = subprocess.run(
        [str(python), "-m", "board", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=built["venv-api"],
        env={"PATH": os.environ["PATH"]},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for command in ("serve", "migrate", "seed-users"):
        assert command in result.stdout
    site = _site(built["venv-api"])
    assert "board" in site and "fastapi" in site and "psycopg" in site
    assert "locust" not in site and "matplotlib" not in site, "the api image carries only the api extra"


def test_locust_image_venv_loads_the_suite(built):
    python = built["venv-locust"] / "opt" / "venv" / "bin" / "python"
    suite = built["context"] / "locust"
    parser = Path(__file__).with_name("parse_locust_args.py")
    flags = "--scenario seed --shape step --account-count 10 --verdict-file /results/v.json --exporter-port 9646"
    args = [*flags.split(), "--run-id", "r1"]
    result = subprocess.run(
        [str(python), str(parser), str(suite / "locustfile.py"), "--", "-f", str(suite / "locustfile.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=suite,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(suite)},
        check=False,
    )
    assert result.returncode == 0, "the locustfile does not load in the locust image's venv:\n" + result.stderr[-3000:]
    assert '"scenario": "seed"' in result.stdout and '"run_id": "r1"' in result.stdout
    site = _site(built["venv-locust"])
    assert "locust" in site
    assert "board" not in site and "fastapi" not in site and "sqlalchemy" not in site
