"""The stand-in base image, made with debootstrap (no registry is reachable here), cached in podman's storage.

It stands in for the image our Dockerfile's FROM names (python:3.11-slim-bookworm): Debian 12 minbase with
its Python 3.11 (3.11.2, not the official image's own build: say so wherever it is used), `python` and `pip`
commands, no PEP 668 marker (the official image has none), docs and locales left out as in Debian's slim
images, services never started by package scripts (policy-rc.d), and the certificate authorities this
machine trusts (pip in a build step reaches PyPI through the same TLS proxy as the host).
The stand-ins of third-party images start from it too.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO

from containers.engine import podman

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
INCLUDE = ("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
#: the label every stand-in carries (value: the image it stands in for); images without it are never replaced
STANDIN_LABEL = "dev.loadlab.stand-in"
CACHE_REPO = "localhost/loadlab-standin"
HOST_CAS = Path("/usr/local/share/ca-certificates")
#: files written into the root filesystem before it is imported (path -> content)
FILES = {
    # package scripts must not start services in an image (what Debian's container images do)
    "usr/sbin/policy-rc.d": "#!/bin/sh\nexit 101\n",
    # the slim images' exclusions: no docs, man pages or translations
    "etc/dpkg/dpkg.cfg.d/docker": "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n"
    "path-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\n",
    "etc/apt/apt.conf.d/docker-no-recommends": 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n',
    "etc/apt/sources.list": f"deb {MIRROR} {SUITE} main\ndeb {MIRROR} {SUITE}-updates main\n"
    f"deb http://deb.debian.org/debian-security {SUITE}-security main\n",
}
CHANGES = ("ENV LANG=C.UTF-8", 'CMD ["python3"]')
DEBOOTSTRAP_TIMEOUT = 900


def cache_key() -> str:
    """What the base image is made of: debootstrap's arguments, our files and this machine's CAs."""
    digest = hashlib.sha256(repr((SUITE, MIRROR, INCLUDE, FILES, CHANGES)).encode())
    for ca in sorted(HOST_CAS.glob("*.crt")):
        digest.update(ca.name.encode() + ca.read_bytes())
    return digest.hexdigest()[:16]


def image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name]).returncode == 0


def build_base(stands_for: str, workdir: Path, log: Path) -> tuple[str, bool]:
    """The cached base image's tag, built when missing; returns (tag, built now)."""
    tag = f"{CACHE_REPO}/base:{cache_key()}"
    if image_exists(tag):
        return tag, False
    root = Path(tempfile.mkdtemp(prefix="rootfs-", dir=workdir))
    try:
        with log.open("ab") as out:
            argv = ["debootstrap", "--variant=minbase", f"--include={','.join(INCLUDE)}", SUITE, str(root), MIRROR]
            subprocess.run(argv, check=True, stdout=out, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT)
            _configure(root, out)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        changes = [*CHANGES, f"LABEL {STANDIN_LABEL}={stands_for}"]
        args = [a for change in changes for a in ("--change", change)]
        result = subprocess.run(["podman", "import", "--quiet", *args, "-", tag], stdin=tar.stdout, capture_output=True)
        tar.stdout.close()
        if tar.wait() != 0 or result.returncode != 0:
            raise RuntimeError(f"podman import of the base failed: {result.stderr.decode(errors='replace')[-1000:]}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return tag, True


def _configure(root: Path, out: BinaryIO) -> None:
    for path, content in FILES.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    for ca in HOST_CAS.glob("*.crt"):
        shutil.copy(ca, root / "usr/local/share/ca-certificates" / ca.name)
    subprocess.run(["chroot", str(root), "update-ca-certificates"], check=True, stdout=out, stderr=subprocess.STDOUT)
    for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    for folder in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"):
        for entry in (root / folder).glob("*"):
            if entry.is_file() and entry.name != "lock" and not entry.name.endswith("copyright"):
                entry.unlink()
            elif entry.is_dir() and entry.name != "partial" and folder != "usr/share/doc":
                shutil.rmtree(entry)


def tag_as(cached: str, name: str) -> str:
    """Tag `cached` as `name` unless `name` is a real (non stand-in) image already here; returns what was done."""
    if (
        image_exists(name)
        and not podman("image", "inspect", "--format", f'{{{{index .Labels "{STANDIN_LABEL}"}}}}', name).strip()
    ):
        return "kept (a real image of that name is here)"
    podman("tag", cached, name)
    return "stand-in"
