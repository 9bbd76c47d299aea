"""Runs a converted Plan with podman: network, secrets, volumes, pods; probes once; waits; inspects; tears down.

Everything it creates is remembered, so teardown removes exactly that (also after a failure half-way) and
then looks for leftovers. The host reaches pods on the podman bridge by their IPs: no port is published.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from containers.convert import PodPlan, Probe, Volume
from containers.engine import EngineError, podman

POLL = 1.0
PROBE_TIMEOUT = 5.0
#: seconds a container gets to stop before it is killed (Kubernetes gives 30; nothing here needs them)
STOP_TIMEOUT = 5


class StackError(RuntimeError):
    """A pod did not become ready or did not end in time; the message says which and why."""


@dataclass
class ContainerState:
    """What podman says about one container of a pod (init containers included)."""

    pod: str
    name: str
    user: str
    read_only: bool
    status: str
    exit_code: int
    restarts: int


class Stack:
    """The podman objects of one run, named after the release so concurrent runs never meet."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.pods: dict[str, PodPlan] = {}
        self.pod_names: list[str] = []  # what teardown removes (a sweep knows only names)
        self.volumes: list[str] = []
        self.secrets: list[str] = []
        self.network = ""
        #: container -> its state when created, before anything ran (see play)
        self.configured: dict[str, ContainerState] = {}

    # -- create ------------------------------------------------------------------------------------------
    def create_network(self) -> str:
        """A bridge network of our own (podman picks a free subnet); returns the subnet."""
        podman("network", "create", self.name)
        self.network = self.name
        return podman("network", "inspect", "--format", "{{range .Subnets}}{{.Subnet}}{{end}}", self.name).strip()

    def create_secrets(self, secrets: dict[str, bytes]) -> None:
        for name, data in secrets.items():
            podman("secret", "create", name, "-", input=data)
            self.secrets.append(name)

    def _create_volume(self, volume: Volume) -> None:
        if volume.name in self.volumes:
            return  # a claim shared by several pods: the first one made it
        # uid/gid set at creation: podman then leaves the volume's owner alone when a container mounts it
        podman("volume", "create", "--opt", f"o=uid=0,gid={volume.gid}", volume.name)
        mountpoint = Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", volume.name).strip())
        mountpoint.chmod(volume.mode)
        self.volumes.append(volume.name)

    def play(self, pod: PodPlan) -> None:
        """Volumes and ConfigMap files first, then `podman kube play` on our network at the pod's fixed IP.

        The pod is created stopped and inspected before it starts: init containers of restartPolicy Always
        pods are removed once they ran, and this is the only time their user can be read.
        """
        for volume in pod.volumes:
            self._create_volume(volume)
        for path, (content, mode) in pod.files.items():
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            target.chmod(mode)
        manifest = self.workdir / "pods" / f"{pod.name}.yaml"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(yaml.safe_dump(pod.manifest, sort_keys=False))
        self.pods[pod.name] = pod
        self.pod_names.append(pod.name)
        podman("kube", "play", "--network", self.network, "--ip", pod.ip, "--start=false", str(manifest))
        for state in self._inspect(pod):
            self.configured[state.name] = state
        podman("pod", "start", pod.name)

    # -- wait --------------------------------------------------------------------------------------------
    def probe(self, pod: PodPlan, probe: Probe) -> bool:
        """Run one probe once, as the kubelet would (exec in the container, HTTP or TCP to the pod's IP)."""
        try:
            if probe.action == "exec":
                argv = ["podman", "exec", f"{pod.name}-{probe.container}", *probe.command]
                return subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT).returncode == 0
            if probe.action == "httpGet":
                url = f"http://{pod.ip}:{probe.port}{probe.path}"
                with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as response:
                    return 200 <= response.status < 400
            socket.create_connection((pod.ip, probe.port), timeout=PROBE_TIMEOUT).close()
            return True
        except (OSError, subprocess.TimeoutExpired):
            return False

    def wait_ready(self, pod: PodPlan, timeout: float) -> float:
        """Wait until every startup and readiness probe of the pod passes; returns the seconds it took."""
        started = time.monotonic()
        pending = sorted(pod.probes, key=lambda p: p.kind != "startupProbe")
        while pending:
            if time.monotonic() - started > timeout:
                raise StackError(f"{pod.name}: not ready after {timeout:.0f} s ({pending[0]}); logs in {self.workdir}")
            ended = [s for s in self.states(pod) if s.status == "exited" and s.name in self._main_containers(pod)]
            if ended:
                raise StackError(f"{pod.name}: {ended[0].name} exited ({ended[0].exit_code}) before it was ready")
            if self.probe(pod, pending[0]):
                pending.pop(0)
            else:
                time.sleep(POLL)
        return time.monotonic() - started

    def wait_ended(self, pod: PodPlan, timeout: float) -> list[ContainerState]:
        """Wait until every regular container of the pod has exited; returns the pod's container states."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states(pod)
            running = _running(pod, states)
            if running is not None and not running:
                return states
            if time.monotonic() > deadline:
                raise StackError(f"{pod.name}: still running after {timeout:.0f} s: {running}")
            time.sleep(POLL)

    def ended_check(self, pod: PodPlan) -> Callable[[], bool]:
        """A condition to poll: every regular container of the pod has exited."""
        return lambda: _running(pod, self.states(pod)) == []

    @staticmethod
    def _main_containers(pod: PodPlan) -> set[str]:
        return {f"{pod.name}-{c['name']}" for c in pod.manifest["spec"]["containers"]}

    # -- look --------------------------------------------------------------------------------------------
    def states(self, pod: PodPlan) -> list[ContainerState]:
        """Every container of the pod but its infra container, in the manifest's order; an init container podman
        removed after it ran (it exited 0: podman starts the others only then) as it was configured."""
        found = {state.name: state for state in self._inspect(pod)}
        states = []
        for name in _container_names(pod):
            if name in found:
                states.append(found[name])
            elif name in self.configured:
                was = self.configured[name]
                states.append(ContainerState(pod.name, name, was.user, was.read_only, "ran once, removed", 0, 0))
        return states

    def _inspect(self, pod: PodPlan) -> list[ContainerState]:
        out = podman("container", "inspect", *_container_names(pod), check=False)
        states = []
        for c in json.loads(out or "[]"):
            user, read_only = c["Config"].get("User", ""), bool(c["HostConfig"].get("ReadonlyRootfs"))
            state = c["State"]
            states.append(
                ContainerState(
                    pod.name,
                    c["Name"],
                    user,
                    read_only,
                    state["Status"],
                    int(state.get("ExitCode", -1)),
                    int(c.get("RestartCount", 0)),
                )
            )
        return states

    def process_uids(self, container: str) -> set[str]:
        """The effective user ids of a running container's processes, read from the host's /proc."""
        out = podman("top", container, "hpid", check=False)
        uids = set()
        for pid in (line.strip() for line in out.splitlines()[1:]):
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{pid}/status").read_text()
                uids.add(next(line.split()[2] for line in status.splitlines() if line.startswith("Uid:")))
        return uids

    def published_ports(self) -> list[str]:
        """Host ports bound by any container of our pods (there must be none)."""
        out = podman(
            "ps", "-a", "--filter", f"network={self.network}", "--format", "{{.Names}} {{.Ports}}", check=False
        )
        return [line for line in out.splitlines() if len(line.split()) > 1]

    def save_logs(self) -> None:
        folder = self.workdir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        for pod in self.pods.values():
            for state in self.states(pod):
                logs = subprocess.run(["podman", "logs", state.name], capture_output=True)
                (folder / f"{state.name}.log").write_bytes(logs.stdout + logs.stderr)

    # -- remove ------------------------------------------------------------------------------------------
    def teardown(self) -> list[str]:
        """Remove our pods, volumes, secrets and network; returns whatever is still there afterwards."""

        # podman stops the pods of one command one after the other (a grace period each): one command per pod
        def remove(pod: str) -> None:
            podman("pod", "rm", "--force", "--time", str(STOP_TIMEOUT), pod, check=False)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(remove, self.pod_names))
        for volume in self.volumes:
            podman("volume", "rm", "--force", volume, check=False)
        for secret in self.secrets:
            podman("secret", "rm", secret, check=False)
        if self.network:
            podman("network", "rm", "--force", self.network, check=False)
        return self.leftovers()

    @classmethod
    def sweep(cls, name: str) -> list[str]:
        """Remove whatever a run called `name` left (a --keep run, a killed one); returns what is still there."""
        stack = cls(name, Path("/nonexistent"))
        stack.network = name
        stack.pod_names = podman("pod", "ps", "--filter", f"name=^{name}-", "--format", "{{.Name}}").split()
        stack.volumes = [v for v in podman("volume", "ls", "--format", "{{.Name}}").split() if name in v]
        stack.secrets = [s for s in podman("secret", "ls", "--format", "{{.Name}}").split() if s.startswith(name + "-")]
        return stack.teardown()

    def leftovers(self) -> list[str]:
        left = []
        for name in self.pod_names:
            if _exists("pod", name):
                left.append(f"pod {name}")
        containers = podman("ps", "-a", "--format", "{{.Names}}", check=False).split()
        left += [f"container {c}" for c in containers if any(c.startswith(p + "-") for p in self.pod_names)]
        left += [f"volume {v}" for v in self.volumes if _exists("volume", v)]
        secrets = podman("secret", "ls", "--format", "{{.Name}}", check=False).split()
        left += [f"secret {s}" for s in self.secrets if s in secrets]
        if self.network and _exists("network", self.network):
            left.append(f"network {self.network}")
        return left


def _running(pod: PodPlan, states: list[ContainerState]) -> list[str] | None:
    """The pod's regular containers that have not exited (None: podman shows none of them yet)."""
    main = [f"{pod.name}-{c['name']}" for c in pod.manifest["spec"]["containers"]]
    found = [s for s in states if s.name in main]
    return [s.name for s in found if s.status not in ("exited", "stopped")] if found else None


def _container_names(pod: PodPlan) -> list[str]:
    spec = pod.manifest["spec"]
    return [f"{pod.name}-{c['name']}" for c in spec.get("initContainers", []) + spec["containers"]]


def _exists(kind: str, name: str) -> bool:
    try:
        podman(kind, "exists", name)
    except EngineError:
        return False
    return True
