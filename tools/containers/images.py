"""Every image the rendered chart needs: our two Dockerfile targets, built as they are, and stand-ins for the
third-party images (standins/<name>/Containerfile on the debootstrap base), cached between runs.

A stand-in is built once per recipe: its tag in podman's own storage, `localhost/loadlab-standin/<name>:<hash>`,
hashes the recipe's files and the base image, so a second run only re-tags it under the chart's name.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from containers.base import CACHE_REPO, STANDIN_LABEL, build_base, image_exists, tag_as
from containers.engine import podman

ROOT = Path(__file__).resolve().parents[2]
STANDINS = Path(__file__).with_name("standins")
#: image repository (as the chart names it) -> recipe folder under standins/
RECIPES = {
    "postgres": "postgres",
    "edoburu/pgbouncer": "pgbouncer",
    "redis": "redis",
    "prom/prometheus": "prometheus",
    "prometheuscommunity/postgres-exporter": "postgres-exporter",
    "prometheuscommunity/pgbouncer-exporter": "pgbouncer-exporter",
    "oliver006/redis_exporter": "redis-exporter",
}
#: files a recipe takes from the repository (recipe -> paths), part of its hash
EXTRA_FILES = {"pgbouncer-exporter": ("lab/loadlab/pgbouncer_exporter.py",)}
#: our Dockerfile's targets, each named in the chart's values as `<target>.image.repository`
TARGETS = ("api", "locust")
BUILD_TIMEOUT = 1200


@dataclass
class Image:
    """One image of the run: the name pods use, where it came from, its size."""

    name: str
    source: str  # "Dockerfile --target api", "stand-in (standins/postgres)", ...
    action: str  # "built", "cached", "kept (...)"
    seconds: float = 0.0
    size: str = ""


def full_name(reference: str) -> str:
    """`postgres:15` -> `docker.io/library/postgres:15`: how podman resolves a short name to its storage."""
    first = reference.split("/", 1)[0]
    if "/" in reference and ("." in first or ":" in first or first == "localhost"):
        return reference
    return f"docker.io/{reference}" if "/" in reference else f"docker.io/library/{reference}"


def project_repositories() -> dict[str, str]:
    """Dockerfile target -> the image repository the chart's values give it (loadlab-api, loadlab-locust)."""
    values = yaml.safe_load((ROOT / "helm" / "loadlab" / "values.yaml").read_text())
    return {target: values[target]["image"]["repository"] for target in TARGETS}


def dockerfile_base() -> str:
    """The image our Dockerfile's first stage starts FROM (the one the stand-in base must be named as)."""
    match = re.search(r"^FROM\s+(\S+)\s+AS\s+python-base", (ROOT / "Dockerfile").read_text(), re.M | re.I)
    if not match:
        raise RuntimeError("Dockerfile: no `FROM <image> AS python-base` stage")
    return match.group(1)


def _nice() -> list[str]:
    # The machine is shared: builds yield the CPU to interactive work.
    return ["nice", "-n", "10"] if shutil.which("nice") else []


def _recipe_hash(recipe: str, base: str) -> str:
    digest = hashlib.sha256(base.encode())
    for path in sorted((STANDINS / recipe).rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(STANDINS)).encode() + path.read_bytes())
    for extra in EXTRA_FILES.get(recipe, ()):
        digest.update(extra.encode() + (ROOT / extra).read_bytes())
    return digest.hexdigest()[:16]


def standin(reference: str, base: str, workdir: Path, log: Path) -> Image:
    """The stand-in for a third-party image `reference` (repository:tag), built unless cached, tagged as it."""
    repository = reference.rsplit(":", 1)[0]
    recipe = RECIPES.get(repository)
    if recipe is None:
        raise RuntimeError(f"no stand-in recipe for {reference} (known: {sorted(RECIPES)}): add one under {STANDINS}")
    cached = f"{CACHE_REPO}/{recipe}:{_recipe_hash(recipe, base)}"
    started = _now()
    action = "cached"
    if not image_exists(cached):
        context = Path(tempfile.mkdtemp(prefix=f"ctx-{recipe}-", dir=workdir))
        shutil.copytree(STANDINS / recipe, context, dirs_exist_ok=True)
        for extra in EXTRA_FILES.get(recipe, ()):
            shutil.copy(ROOT / extra, context / Path(extra).name)
        _build([f"--build-arg=BASE={base}", f"--label={STANDIN_LABEL}={reference}", "-t", cached, str(context)], log)
        shutil.rmtree(context, ignore_errors=True)
        action = "built"
    kept = tag_as(cached, full_name(reference))
    return Image(reference, f"stand-in (standins/{recipe})", action if kept == "stand-in" else kept, _now() - started)


def base_image(workdir: Path, log: Path) -> tuple[str, Image]:
    """(cached base tag, the Image row for the name our Dockerfile's FROM uses)."""
    name = dockerfile_base()
    started = _now()
    cached, built = build_base(name, workdir, log)
    kept = tag_as(cached, full_name(name))
    action = ("built (debootstrap)" if built else "cached") if kept == "stand-in" else kept
    return cached, Image(name, "stand-in (debootstrap, Debian's Python 3.11.2)", action, _now() - started)


def project_image(target: str, name: str, log: Path) -> Image:
    """Our Dockerfile's `target`, built as it is (podman's layer cache makes a second build quick)."""
    started = _now()
    revision = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    stamp = f"--build-arg=REVISION={revision.stdout.strip() or 'unknown'}"
    _build(["--target", target, stamp, "-t", name, "-f", str(ROOT / "Dockerfile"), str(ROOT)], log)
    return Image(name, f"Dockerfile --target {target}", "built", _now() - started)


def _build(args: list[str], log: Path) -> None:
    # --format docker keeps HEALTHCHECK (the OCI format drops it); --jobs 1: one stage at a time on a shared machine
    argv = [*_nice(), "podman", "build", "--format", "docker", "--jobs", "1", "--layers", *args]
    with log.open("ab") as out:
        out.write(("\n$ " + " ".join(argv) + "\n").encode())
        out.flush()
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"podman build {' '.join(args[-3:])} failed (exit {result.returncode}): see {log}")


def sizes(images: list[Image]) -> None:
    """Fill in each image's size (MB, as podman counts it: every layer)."""
    for image in images:
        size = podman("image", "inspect", "--format", "{{.Size}}", image.name, check=False).strip()
        image.size = f"{int(size) / 1e6:.0f} MB" if size.isdigit() else "?"


def _now() -> float:
    return time.monotonic()
