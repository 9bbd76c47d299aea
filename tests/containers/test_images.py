"""Image naming and caching rules, and what the Dockerfile must do for engines other than BuildKit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from containers import images
from containers.base import cache_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("postgres:15.10-bookworm", "docker.io/library/postgres:15.10-bookworm"),
        ("prom/prometheus:v2.55.1", "docker.io/prom/prometheus:v2.55.1"),
        ("quay.io/x/y:1", "quay.io/x/y:1"),
        ("localhost/loadlab-api:1", "localhost/loadlab-api:1"),
        ("registry:5000/x:1", "registry:5000/x:1"),
    ],
)
def test_full_name_is_how_podman_resolves_a_short_name(reference: str, expected: str) -> None:
    assert images.full_name(reference) == expected


def test_the_base_stands_in_for_the_dockerfile_s_from() -> None:
    first_from = re.search(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert first_from and images.dockerfile_base() == first_from.group(1)


def test_every_recipe_folder_has_a_containerfile_and_is_named() -> None:
    folders = {p.name for p in images.STANDINS.iterdir() if p.is_dir()}
    assert folders == set(images.RECIPES.values())
    for folder in folders:
        text = (images.STANDINS / folder / "Containerfile").read_text()
        assert text.startswith("# Stand-in for "), folder
        assert "FROM ${BASE}" in text, f"{folder} must start from the debootstrap base"


def test_a_recipe_change_changes_its_cache_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = tmp_path / "redis"
    recipe.mkdir()
    (recipe / "Containerfile").write_text("ARG BASE\nFROM ${BASE}\n")
    monkeypatch.setattr(images, "STANDINS", tmp_path)
    before = images._recipe_hash("redis", "base:1")
    assert images._recipe_hash("redis", "base:2") != before  # a new base rebuilds every stand-in
    (recipe / "Containerfile").write_text("ARG BASE\nFROM ${BASE}\nUSER 1\n")
    assert images._recipe_hash("redis", "base:1") != before


def test_the_base_cache_key_is_stable() -> None:
    assert cache_key() == cache_key() and len(cache_key()) == 16


def test_every_workdir_of_a_final_image_is_made_by_the_dockerfile() -> None:
    """buildah leaves a missing WORKDIR out of the image; with a read-only root filesystem the container then
    fails (`workdir "/app" does not exist`). Each WORKDIR of the api and locust targets must be created by a
    RUN mkdir or a COPY into it in that target's chain of stages."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: dict[str, tuple[str | None, list[str]]] = {}
    current = ""
    for line in text.splitlines():
        if match := re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.I):
            current = match.group(2)
            stages[current] = (match.group(1) if match.group(1) in stages else None, [])
        elif current and line.strip() and not line.lstrip().startswith("#"):
            stages[current][1].append(line.strip())
    for target in ("api", "locust"):
        chain: list[str] = []
        stage: str | None = target
        while stage:
            chain.insert(0, stage)
            stage = stages[stage][0]
        lines = [line for s in chain for line in stages[s][1]]
        made = " ".join(line for line in lines if line.startswith(("RUN", "COPY")))
        for workdir in (line.split()[1] for line in lines if line.startswith("WORKDIR")):
            assert re.search(rf"mkdir[^&]*\s{re.escape(workdir)}(\s|$)|COPY\s.*\s{re.escape(workdir)}/?(\s|$)", made), (
                f"{target}: WORKDIR {workdir} is never created"
            )
