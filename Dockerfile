# syntax=docker/dockerfile:1.7
# board-loadlab images, one Dockerfile, two targets:
#   docker build --target api    -t loadlab-api .      # the board API (pyproject extra `api`)
#   docker build --target locust -t loadlab-locust .   # the load suite (extra `locust` + the locust/ folder)
# Layout after astral-sh/uv-docker-example multistage.Dockerfile: pinned dependencies are resolved into
# wheels before the source is copied (a code change rebuilds only the last layers), pip's cache lives in a
# BuildKit cache mount, and the final stages get a virtualenv and no compiler.

# ---------------------------------------------------------------------------------------------------
# python-base: the one pinned base image every stage starts from.
FROM python:3.11.13-slim-bookworm AS python-base

# ---------------------------------------------------------------------------------------------------
# builder: wheels for both targets (the shared dependency stage), then our own package's wheel.
FROM python-base AS builder
# Ref: https://github.com/fastapi/full-stack-fastapi-template/blob/master/backend/Dockerfile
# (no .pyc files written at build time by pip's own process, unbuffered logs, no pip version check)
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Dependencies first: only the files that pin them.
COPY pyproject.toml constraints.txt README.md ./
# One requirements file per image, read from pyproject's extras (tomllib: no extra tool needed).
# Ref: https://packaging.python.org/en/latest/specifications/pyproject-toml/#dependencies-optional-dependencies
RUN python -c 'import tomllib; x = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]; [open(f"requirements-{n}.txt", "w").write("\n".join(x[n]) + "\n") for n in ("api", "locust")]'
# Wheels pinned by constraints.txt, binary only (no compiler is ever needed); pip's download cache in a
# BuildKit cache mount survives builds.
# Ref: https://pip.pypa.io/en/stable/cli/pip_wheel/
# Ref: https://docs.docker.com/build/cache/optimize/#use-cache-mounts
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --only-binary=:all: --wheel-dir /wheels/api -c constraints.txt -r requirements-api.txt \
 && pip wheel --only-binary=:all: --wheel-dir /wheels/locust -c constraints.txt -r requirements-locust.txt
# Then the source: the API package only (the lab and tests stay out of the images).
COPY service/ service/
# Ref: https://github.com/astral-sh/uv-docker-example/blob/main/multistage.Dockerfile (the project after its dependencies)
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --no-deps --wheel-dir /wheels/project .

# ---------------------------------------------------------------------------------------------------
# venv-api / venv-locust: each target's virtualenv, installed offline from the builder's wheels.
FROM python-base AS venv-api
COPY --from=builder /wheels/api /wheels/api
COPY --from=builder /wheels/project /wheels/project
COPY constraints.txt /tmp/constraints.txt
# Offline from the builder's wheels only (--no-index): the image gets exactly what the builder resolved.
# Ref: https://pip.pypa.io/en/stable/topics/repeatable-installs/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels/api --find-links /wheels/project \
      -c /tmp/constraints.txt "board-loadlab[api]"

FROM python-base AS venv-locust
COPY --from=builder /wheels/locust /wheels/locust
COPY --from=builder /src/requirements-locust.txt /tmp/requirements-locust.txt
COPY constraints.txt /tmp/constraints.txt
# Ref: https://pip.pypa.io/en/stable/topics/repeatable-installs/ (as venv-api: offline, from the builder's wheels)
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels/locust \
      -c /tmp/constraints.txt -r /tmp/requirements-locust.txt

# ---------------------------------------------------------------------------------------------------
# runtime: what both final images share: a numeric non-root user (so runAsNonRoot is verifiable).
FROM python-base AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.source="https://github.com/board-loadlab/board-loadlab" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.vendor="board-loadlab"
# Ref: https://github.com/fastapi/full-stack-fastapi-template/blob/master/backend/Dockerfile
# (the venv first on PATH; unbuffered logs; no .pyc writes into a read-only root filesystem)
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A system account with fixed numeric ids, no home, no shell; and /app made here, owned by root: BuildKit
# creates a WORKDIR that is missing, buildah/podman leave it out of the image (the engine makes it when a
# container starts, which a read-only root filesystem forbids: `workdir "/app" does not exist`).
# Ref: https://docs.docker.com/build/building/best-practices/#user
# Ref: https://github.com/podman-container-tools/buildah/issues/2475 (buildah: WORKDIR left out of the image)
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app \
 && mkdir /app

# ---------------------------------------------------------------------------------------------------
# api: `python -m board serve` (the chart passes the same command; migrate and seed-users use this image too).
FROM runtime AS api
LABEL org.opencontainers.image.title="loadlab-api" \
      org.opencontainers.image.description="board-loadlab: the board API (FastAPI) under test"
COPY --from=venv-api /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000 9000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["python", "-m", "board", "serve", "--host", "0.0.0.0", "--port", "8000", "--metrics-port", "9000"]

# ---------------------------------------------------------------------------------------------------
# locust: the load suite at /app/locust (locustfile.py + loadsuite/; not installed, Locust imports it from there).
FROM runtime AS locust
LABEL org.opencontainers.image.title="loadlab-locust" \
      org.opencontainers.image.description="board-loadlab: the distributed Locust load suite"
COPY --from=venv-locust /opt/venv /opt/venv
COPY locust/ /app/locust/
WORKDIR /app/locust
# Ref: https://docs.locust.io/en/stable/running-in-docker.html (the locustfile's folder on the import path)
ENV PYTHONPATH=/app/locust
USER 10001:10001
EXPOSE 8089 5557 9646
# A master's liveness is its web UI or exporter, a worker has no port: the chart's probes decide, not the image.
HEALTHCHECK NONE
CMD ["python", "-m", "locust", "-f", "/app/locust/locustfile.py"]
