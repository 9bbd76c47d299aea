"""The converter: rendered objects -> pods podman 4.3 runs as a cluster would (no podman needed here)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from containers.convert import INIT_CONTAINER_TYPE, ConversionError, Converter, Plan, PodPlan

SUBNET = "10.89.7.0/24"
NS = "ns"
FILES = "/run/e2e/files"


MANIFESTS = """
apiVersion: v1
kind: Secret
metadata: {name: auth}
data: {pw: czNjcjN0}  # s3cr3t
stringData: {plain: hello}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: rel-prom}
data:
  prometheus.yml: |
    scrape_configs:
      - job_name: api
        kubernetes_sd_configs: [{role: pod, selectors: [{role: pod, label: app=api}]}]
        relabel_configs: [{source_labels: [__meta_kubernetes_pod_container_port_name], regex: http, action: keep}]
---
apiVersion: v1
kind: Service
metadata: {name: rel-api}
spec: {selector: {app: api}, ports: [{port: 8000, targetPort: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: rel-db}
spec: {selector: {app: db}, ports: [{port: 5432, targetPort: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: rel-db-headless}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432, targetPort: pg}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: rel-api}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: api}}
    spec:
      securityContext: {runAsUser: 10001, fsGroup: 10001}
      containers:
        - name: main
          image: img:1
          command: [serve, --pw, $(PW)]
          ports: [{name: http, containerPort: 8000}]
          readinessProbe: {httpGet: {path: /readyz, port: http}}
          livenessProbe: {tcpSocket: {port: 8000}}
          env:
            - {name: PW, valueFrom: {secretKeyRef: {name: auth, key: pw}}}
            - {name: URL, value: "pg://u:$(PW)@db/x"}
            - {name: ME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: LATER, value: $(DEFINED_AFTER)}
            - {name: DEFINED_AFTER, value: x}
          securityContext: {readOnlyRootFilesystem: true}
          volumeMounts: [{name: tmp, mountPath: /tmp}, {name: mem, mountPath: /mem}]
      volumes:
        - {name: tmp, emptyDir: {sizeLimit: 64Mi}}
        - {name: mem, emptyDir: {medium: Memory, sizeLimit: 1Mi}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: rel-db}
spec:
  serviceName: rel-db-headless
  replicas: 1
  template:
    metadata: {labels: {app: db}}
    spec:
      securityContext: {fsGroup: 999}
      containers: [{name: db, image: "pg:15", ports: [{name: pg, containerPort: 5432}]}]
  volumeClaimTemplates: [{metadata: {name: data}, spec: {}}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: rel-worker}
spec:
  parallelism: 3
  template:
    metadata: {labels: {app: worker}}
    spec:
      restartPolicy: OnFailure
      initContainers: [{name: wait, image: "img:1"}]
      containers: [{name: worker, image: "img:1"}]
---
apiVersion: v1
kind: Pod
metadata: {name: rel-test, labels: {app: api}, annotations: {helm.sh/hook: test}}
spec: {restartPolicy: Never, containers: [{name: t, image: "img:1"}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: rel-prom}
spec:
  template:
    metadata: {labels: {app: prom}}
    spec:
      containers: [{name: prometheus, image: "prom:2", volumeMounts: [{name: config, mountPath: /etc/p}]}]
      volumes: [{name: config, configMap: {name: rel-prom}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny}
"""
OBJECTS = list(yaml.safe_load_all(MANIFESTS))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def deployment(name: str, port: int, **spec: Any) -> dict[str, Any]:
    """A one-container Deployment labelled app=api, declaring `port` as "http"."""
    container = {"name": "main", "image": "img:1", "ports": [{"name": "http", "containerPort": port}]}
    template = {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [container], **spec}}
    return {"kind": "Deployment", "metadata": {"name": name}, "spec": {"template": template}}


@pytest.fixture
def plan() -> Plan:
    return Converter(OBJECTS, SUBNET, NS, FILES).plan()


def pod(plan: Plan, name: str) -> PodPlan:
    return next(p for p in plan.pods if p.name == name)


def main(p: PodPlan) -> dict[str, Any]:
    return p.manifest["spec"]["containers"][0]


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_controllers_become_their_pods_with_fixed_ips(plan: Plan) -> None:
    assert [(p.name, p.workload) for p in plan.pods] == [
        ("rel-api-0", "Deployment/rel-api"),
        ("rel-api-1", "Deployment/rel-api"),
        ("rel-db-0", "StatefulSet/rel-db"),
        ("rel-worker-0", "Job/rel-worker"),
        ("rel-worker-1", "Job/rel-worker"),
        ("rel-worker-2", "Job/rel-worker"),
        ("rel-test", "Pod/rel-test"),
        ("rel-prom-0", "Deployment/rel-prom"),
    ]
    ips = [p.ip for p in plan.pods]
    assert ips[0] == "10.89.7.10" and len(set(ips)) == len(ips)
    assert all(p.manifest["kind"] == "Pod" and p.manifest["metadata"]["name"] == p.name for p in plan.pods)


def test_restart_policy_always_for_long_lived_kinds_the_template_s_for_jobs(plan: Plan) -> None:
    assert pod(plan, "rel-api-0").manifest["spec"]["restartPolicy"] == "Always"
    assert pod(plan, "rel-worker-0").manifest["spec"]["restartPolicy"] == "OnFailure"
    assert pod(plan, "rel-worker-0").manifest["metadata"]["labels"]["job-name"] == "rel-worker"
    assert pod(plan, "rel-db-0").manifest["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "rel-db-0"


def test_init_containers_are_kept_and_never_rerun() -> None:
    """Kept, their user and exit code can be read; podman 4.3 gives them the pod's restartPolicy, so a pod with
    init containers never has Always (which would rerun them forever)."""
    objects = [deployment("x", 8000, initContainers=[{"name": "init", "image": "img:1"}]), deployment("y", 8001)]
    with_init, without = Converter(objects, SUBNET, NS, FILES).plan().pods
    assert with_init.manifest["metadata"]["annotations"][INIT_CONTAINER_TYPE] == "always"
    assert with_init.manifest["spec"]["restartPolicy"] == "OnFailure"
    assert without.manifest["spec"]["restartPolicy"] == "Always"


def test_images_come_from_local_storage_only(plan: Plan) -> None:
    worker = pod(plan, "rel-worker-0").manifest
    containers = worker["spec"]["initContainers"] + worker["spec"]["containers"]
    assert {c["imagePullPolicy"] for c in containers} == {"Never"}


def test_secrets_become_podman_secret_json_with_base64_values(plan: Plan) -> None:
    assert json.loads(plan.secrets["auth"]) == {"pw": b64("s3cr3t"), "plain": b64("hello")}


def test_var_references_are_expanded_in_env_and_command_in_order(plan: Plan) -> None:
    api = main(pod(plan, "rel-api-1"))
    values = env(api)
    assert values["URL"] == "pg://u:s3cr3t@db/x"
    assert values["PW"] == {"secretKeyRef": {"name": "auth", "key": "pw"}}  # podman reads the secret itself
    assert values["LATER"] == "$(DEFINED_AFTER)"  # defined after it: left as the kubelet leaves it
    assert api["command"] == ["serve", "--pw", "s3cr3t"]
    assert values["ME"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_ports_and_probes_leave_the_manifest_but_are_remembered(plan: Plan) -> None:
    api = pod(plan, "rel-api-0")
    assert "ports" not in main(api)
    assert not {"readinessProbe", "livenessProbe", "startupProbe"} & set(main(api))
    assert api.ports == {"main": {"http": 8000}}
    assert [(p.kind, p.action, p.port, p.path) for p in api.probes] == [("readinessProbe", "httpGet", 8000, "/readyz")]


def test_empty_dirs_become_pod_scoped_volumes_owned_as_the_kubelet_would(plan: Plan) -> None:
    api = pod(plan, "rel-api-0")
    volumes = {v.name: v for v in api.volumes}
    assert volumes["rel-api-0-tmp"].gid == 10001 and volumes["rel-api-0-tmp"].mode == 0o2777
    assert not volumes["rel-api-0-tmp"].claim and volumes["rel-api-0-mem"].mode == 0o2777
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in api.manifest["spec"]["volumes"]}
    assert claims == {"tmp": "rel-api-0-tmp", "mem": "rel-api-0-mem"}
    assert {v.name for v in pod(plan, "rel-api-1").volumes} == {"rel-api-1-tmp", "rel-api-1-mem"}


def test_fs_group_joins_the_supplemental_groups(plan: Plan) -> None:
    assert pod(plan, "rel-api-0").manifest["spec"]["securityContext"]["supplementalGroups"] == [10001]


def test_stateful_set_claims_get_kubernetes_names(plan: Plan) -> None:
    db = pod(plan, "rel-db-0")
    assert db.volumes == [db.volumes[0]] and db.volumes[0].name == "data-rel-db-0"
    assert db.volumes[0].claim and db.volumes[0].gid == 999 and db.volumes[0].mode == 0o2775


def test_services_resolve_through_host_aliases_spread_by_ordinal(plan: Plan) -> None:
    def aliases(p: PodPlan) -> dict[str, str]:
        return {name: a["ip"] for a in p.manifest["spec"]["hostAliases"] for name in a["hostnames"]}

    api0, api1, db = pod(plan, "rel-api-0").ip, pod(plan, "rel-api-1").ip, pod(plan, "rel-db-0").ip
    assert [aliases(pod(plan, f"rel-worker-{i}"))["rel-api"] for i in range(3)] == [api0, api1, api0]
    worker = aliases(pod(plan, "rel-worker-0"))
    assert worker["rel-db"] == worker["rel-db.ns.svc.cluster.local"] == worker["rel-db-0.rel-db-headless"] == db
    assert "rel-api" in worker and all(ip != pod(plan, "rel-test").ip for ip in worker.values())  # hooks are no backend


def test_config_map_volumes_become_files_the_runner_writes(plan: Plan) -> None:
    prom = pod(plan, "rel-prom-0")
    folder = f"{FILES}/rel-prom-0/config"
    assert prom.manifest["spec"]["volumes"] == [{"name": "config", "hostPath": {"path": folder, "type": "Directory"}}]
    assert list(prom.files) == [f"{folder}/prometheus.yml"] and prom.files[f"{folder}/prometheus.yml"][1] == 0o644


def test_a_sub_path_mount_of_a_config_map_becomes_a_file_mount() -> None:
    objects = [
        {"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a.conf": "x", "b.conf": "y"}},
        deployment("x", 8000, volumes=[{"name": "cfg", "configMap": {"name": "cm", "defaultMode": 0o600}}]),
    ]
    objects[1]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "cfg", "mountPath": "/etc/a.conf", "subPath": "a.conf", "readOnly": True},
        {"name": "cfg", "mountPath": "/etc/all"},
    ]
    x = Converter(objects, SUBNET, NS, FILES).plan().pods[0]
    mounts = x.manifest["spec"]["containers"][0]["volumeMounts"]
    volumes = {v["name"]: v["hostPath"] for v in x.manifest["spec"]["volumes"]}
    assert volumes[mounts[0]["name"]] == {"path": f"{FILES}/x-0/cfg/a.conf", "type": "File"}
    assert "subPath" not in mounts[0] and mounts[0]["readOnly"] is True
    assert volumes[mounts[1]["name"]] == {"path": f"{FILES}/x-0/cfg", "type": "Directory"}
    assert x.files == {f"{FILES}/x-0/cfg/a.conf": ("x", 0o600), f"{FILES}/x-0/cfg/b.conf": ("y", 0o600)}


def test_prometheus_discovery_becomes_the_pods_targets(plan: Plan) -> None:
    prom = pod(plan, "rel-prom-0")
    config = yaml.safe_load(prom.files[f"{FILES}/rel-prom-0/config/prometheus.yml"][0])
    job = config["scrape_configs"][0]
    assert "kubernetes_sd_configs" not in job
    api = [f"{pod(plan, 'rel-api-0').ip}:8000", f"{pod(plan, 'rel-api-1').ip}:8000"]
    assert [t for g in job["static_configs"] for t in g["targets"]] == api
    assert yaml.safe_load(prom.configmaps[0]["data"]["prometheus.yml"]) == config


def test_objects_with_nothing_to_run_are_listed_with_why(plan: Plan) -> None:
    assert "NetworkPolicy x1: not enforced (no CNI policy engine)" in plan.not_run
    assert "Service x3: hostAliases on every pod" in plan.not_run


def test_scaling_adds_a_pod_with_a_new_ip_and_the_same_aliases(plan: Plan) -> None:
    converter = Converter(OBJECTS, SUBNET, NS, FILES)
    first = converter.plan()
    extra = converter.pod("Job/rel-worker", 3)
    assert extra.name == "rel-worker-3" and extra.ip not in {p.ip for p in first.pods}
    assert extra.manifest["spec"]["hostAliases"]
    with pytest.raises(ConversionError, match="no workload"):
        converter.pod("Deployment/nope", 0)


def test_a_service_port_that_differs_from_its_target_is_refused() -> None:
    remapped = {
        "kind": "Service",
        "metadata": {"name": "rel-api"},
        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    objects = [remapped, deployment("rel-api", 8000)]
    with pytest.raises(ConversionError, match="cannot remap ports"):
        Converter(objects, SUBNET, NS, FILES).plan()


def test_a_volume_kind_not_emulated_is_refused() -> None:
    objects = [deployment("x", 8000, volumes=[{"name": "h", "hostPath": {"path": "/etc"}}])]
    with pytest.raises(ConversionError, match="not emulated"):
        Converter(objects, SUBNET, NS, FILES).plan()
