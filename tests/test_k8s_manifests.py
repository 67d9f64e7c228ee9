"""deploy/k8s agrees with Kubernetes' own schemas and with the code: settings, CLI, queues, catalog, shutdown.

Every core document is validated offline (no socket may connect) against the strict schemas of a pinned
Kubernetes version that kubernetes-validate ships in its wheel; the KEDA ScaledObjects (a CRD, no schema
there) are checked field by field against the Deployments and queues they scale. The scripts the manifests
run (the API's wait for the migration, a worker as PID 1 stopping on SIGTERM) are run here for real.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import typer
import yaml

from api.cli import app as cli_app
from api.routes.health import router as health_router
from storage.catalogs import load_hardware_catalog
from storage.settings import Settings
from tests.processes import wait_for
from workers.dispatch import RUN_KINDS
from workers.hardware import catalog_gpu_id
from workers.routing import CPU_QUEUE_MAX_BYTES, choose_queue
from workers.runtime import MAX_RUN_S

REPO_ROOT = Path(__file__).resolve().parents[1]
K8S = REPO_ROOT / "deploy" / "k8s"
KEDA = K8S / "keda"
K8S_VERSION = "1.30"
"""The oldest Kubernetes the manifests target (native sidecars, sleep hooks and the like are not used)."""

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
SETTING_NAMES = {f"TUNECAST_{name.upper()}" for name in Settings.model_fields}
OTHER_ENV = {"HOME"}  # pointed at the writable /tmp: the root filesystem is read-only
CLI = typer.main.get_command(cli_app)
HARDWARE = {row["id"]: row for row in load_hardware_catalog()}
ROUTABLE_QUEUES = {
    choose_queue(kind, {"peak_memory_bytes": peak}) for kind in RUN_KINDS for peak in (0, CPU_QUEUE_MAX_BYTES + 1)
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def manifest_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*.yaml") if path.name != "kustomization.yaml")


BASE = [(path, doc) for path in manifest_files(K8S) for doc in documents(path)]
SCALED_OBJECTS = [doc for path in manifest_files(KEDA) for doc in documents(path)]


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in BASE if doc["kind"] == kind}


DEPLOYMENTS = objects("Deployment")
SERVICES = objects("Service")
API = DEPLOYMENTS["tunecast-api"]
WORKERS = {
    name: doc
    for name, doc in DEPLOYMENTS.items()
    if doc["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"
}
GPU_WORKERS = {
    name: doc
    for name, doc in WORKERS.items()
    if "nvidia.com/gpu" in doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
}
CONFIG = objects("ConfigMap")["tunecast-config"]["data"]
SECRET = objects("Secret")["tunecast-secrets"]["stringData"]


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for _, doc in BASE:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def params(argv: list[str]) -> dict[str, Any]:
    """What the real CLI parses ``argv`` (``tunecast <command> ...``) into, without running it."""
    assert argv[0] == "tunecast", argv
    group: Any = CLI
    rest = argv[1:]
    while hasattr(group, "commands"):
        assert rest and rest[0] in group.commands, f"{argv}: no command {rest[:1]} in {sorted(group.commands)}"
        group, rest = group.commands[rest[0]], rest[1:]
    return dict(group.make_context(argv[-1], list(rest)).params)


def worker_queues(deployment: dict[str, Any]) -> set[str]:
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["tunecast", "worker"], command
    return {queue.strip() for queue in params(command)["queues"].split(",")}


def quantity_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * units.get(unit, 1)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("validation tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --- Kubernetes' schemas ---------------------------------------------------------------------------------------


def test_the_pinned_schemas_ship_with_kubernetes_validate() -> None:
    folder = resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{K8S_VERSION}.0-local-strict"
    assert folder.is_dir(), f"this kubernetes-validate ships no schemas for Kubernetes {K8S_VERSION}"
    assert (folder / "deployment-apps-v1.json").is_file()


@pytest.mark.parametrize(
    "doc", [doc for _, doc in BASE], ids=[f"{path.name}:{doc['kind']}/{doc['metadata']['name']}" for path, doc in BASE]
)
def test_every_document_validates_against_the_pinned_kubernetes_schema(doc: dict[str, Any], no_network: None) -> None:
    # strict: unknown fields (a misspelt probe, a field in the wrong place) fail too
    assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == K8S_VERSION


def test_the_validator_rejects_broken_documents(no_network: None) -> None:
    misspelt = copy.deepcopy(API)
    container = misspelt["spec"]["template"]["spec"]["containers"][0]
    container["livenesProbe"] = container.pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, K8S_VERSION, strict=True)
    config = copy.deepcopy(objects("ConfigMap")["tunecast-config"])
    config["data"]["TUNECAST_MAX_EVENT_STREAMS"] = 200  # ConfigMap values are strings
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(config, K8S_VERSION, strict=True)


def test_no_object_names_a_namespace() -> None:
    for doc in [doc for _, doc in BASE] + SCALED_OBJECTS:
        assert "namespace" not in doc["metadata"], doc["metadata"]
    assert not objects("Namespace")


def test_the_kustomizations_apply_every_manifest_and_the_dockerfile_images() -> None:
    base = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(base["resources"]) == [path.name for path in manifest_files(K8S)]
    assert sorted(yaml.safe_load((KEDA / "kustomization.yaml").read_text())["resources"]) == [
        path.name for path in manifest_files(KEDA)
    ]
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    used = {container["image"] for _, pod in pod_specs() for container in containers(pod)}
    assert {image["name"] for image in base["images"]} == used
    assert {image["newTag"] for image in base["images"]} == {version}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on PATH to render the kustomizations")
def test_the_rendered_kustomization_validates(no_network: None) -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    docs = [doc for doc in yaml.safe_load_all(rendered) if doc]
    assert len(docs) == len(BASE)
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        for container in containers(doc["spec"]["template"]["spec"]) if doc["kind"] in ("Deployment", "Job") else []:
            assert container["image"].startswith("registry.example.com/tunecast/"), container["image"]
    keda = subprocess.run(["kubectl", "kustomize", str(KEDA)], capture_output=True, text=True, timeout=60, check=True)
    assert len([doc for doc in yaml.safe_load_all(keda.stdout) if doc]) == len(SCALED_OBJECTS)


# --- settings, images, commands --------------------------------------------------------------------------------


def test_config_and_secret_hold_only_real_settings_and_everything_compose_sets() -> None:
    assert set(CONFIG) <= SETTING_NAMES, set(CONFIG) - SETTING_NAMES
    assert set(SECRET) <= SETTING_NAMES, set(SECRET) - SETTING_NAMES
    assert set(COMPOSE["services"]["api"]["environment"]) <= set(CONFIG) | set(SECRET)
    assert {"TUNECAST_DATABASE_URL", "TUNECAST_BROKER_URL"} <= set(SECRET)  # credentials stay out of the ConfigMap


def test_every_container_gets_the_settings_and_no_other_tunecast_variable() -> None:
    for name, pod in pod_specs():
        for container in containers(pod):
            sources = {(key, ref["name"]) for source in container["envFrom"] for key, ref in source.items()}
            assert sources == {("configMapRef", "tunecast-config"), ("secretRef", "tunecast-secrets")}, name
            names = {variable["name"] for variable in container.get("env", [])}
            assert names <= SETTING_NAMES | OTHER_ENV, (name, names - SETTING_NAMES - OTHER_ENV)


def test_the_settings_validate_and_point_at_declared_services() -> None:
    settings = Settings(**{key.removeprefix("TUNECAST_").lower(): value for key, value in {**CONFIG, **SECRET}.items()})
    assert settings.environment == "production"
    assert settings.database_url.startswith("postgresql+psycopg://") and not settings.broker_is_embedded
    for url in (settings.database_url, settings.broker_url):
        host = urlsplit(url).hostname
        assert host in SERVICES, f"{url}: no Service {host} in deploy/k8s"
    assert urlsplit(settings.broker_url).scheme == "redis"


def test_the_data_dir_and_model_roots_are_mounted_where_the_settings_say() -> None:
    settings = Settings(**{key.removeprefix("TUNECAST_").lower(): value for key, value in {**CONFIG, **SECRET}.items()})
    claims = {claim["metadata"]["name"] for claim in objects("PersistentVolumeClaim").values()}
    for name, deployment in DEPLOYMENTS.items():
        pod = deployment["spec"]["template"]["spec"]
        mounts = {mount["mountPath"]: mount for mount in pod["containers"][0]["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        wanted = [settings.data_dir] + ([*settings.model_roots] if name in WORKERS else [])
        for path in wanted:
            assert str(path) in mounts, f"{name}: nothing mounted at {path}"
            claim = volumes[mounts[str(path)]["name"]]["persistentVolumeClaim"]["claimName"]
            assert claim in claims
        if name == "tunecast-api":
            assert not mounts[str(settings.data_dir)].get("readOnly"), "the API writes uploaded datasets"
    data = objects("PersistentVolumeClaim")["tunecast-data"]
    assert "ReadWriteMany" in data["spec"]["accessModes"], "the API writes datasets every worker reads"


def test_images_are_the_dockerfile_targets() -> None:
    targets = set(re.findall(r"^FROM \S+ AS (\w+)$", DOCKERFILE, flags=re.MULTILINE))
    for name, pod in pod_specs():
        for container in containers(pod):
            target = container["image"].removeprefix("tunecast-")
            assert target in targets, (name, container["image"])
            assert target == ("worker" if name in WORKERS else "api"), (name, container["image"])


def test_the_api_runs_like_compose_without_an_embedded_worker() -> None:
    container = API["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == COMPOSE["services"]["api"]["command"]
    cmd = re.search(r"^FROM base AS api$.*?^CMD (\[[^\n]*\])$", DOCKERFILE, flags=re.MULTILINE | re.DOTALL)
    assert cmd is not None and yaml.safe_load(cmd.group(1)) == container["command"]
    parsed = params(container["command"])
    assert parsed["host"] == "0.0.0.0" and parsed["worker"] is False and parsed["workers"] == 1
    assert container["ports"] == [{"name": "http", "containerPort": parsed["port"]}]
    assert API["spec"]["replicas"] == 2
    service = SERVICES["tunecast-api"]
    assert service["spec"]["selector"].items() <= API["spec"]["template"]["metadata"]["labels"].items()
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]


def test_the_api_probes_hit_healthz_and_readyz() -> None:
    routes = {route.path for route in health_router.routes}  # type: ignore[attr-defined]
    container = API["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/healthz", "/readyz"} <= routes


def test_every_pod_runs_as_non_root_with_bounded_resources() -> None:
    for name, pod in pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0, name
        for container in containers(pod):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
            assert security["readOnlyRootFilesystem"] is True
            assert any(mount["mountPath"] == "/tmp" for mount in container["volumeMounts"]), (name, "no writable /tmp")
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert "memory" in container["resources"]["limits"], name


# --- the migration ----------------------------------------------------------------------------------------------


def test_a_job_runs_db_upgrade_and_the_api_waits_for_it() -> None:
    (job,) = objects("Job").values()
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["tunecast", "db", "upgrade"]
    assert params(container["command"]) == {}
    assert [init["name"] for init in API["spec"]["template"]["spec"]["initContainers"]] == ["wait-for-db-upgrade"]


def test_the_api_init_container_waits_until_the_database_is_at_head(tmp_path: Path) -> None:
    (init,) = API["spec"]["template"]["spec"]["initContainers"]
    assert init["command"][:2] == ["python", "-c"]
    env = {
        **os.environ,
        "TUNECAST_DATA_DIR": str(tmp_path),
        "TUNECAST_DATABASE_URL": f"sqlite:///{tmp_path / 'tunecast.db'}",
        "TUNECAST_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
    }
    waiting = subprocess.Popen(
        [sys.executable, "-c", init["command"][2]], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE
    )
    try:
        time.sleep(4)
        assert waiting.poll() is None, "the init container let the API start before the migration"
        upgrade = subprocess.run(
            [sys.executable, "-c", "from api.cli import app; app()", "db", "upgrade"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert upgrade.returncode == 0, upgrade.stderr
        assert waiting.wait(timeout=30) == 0
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert b"waiting for the tunecast-db-upgrade Job" in (waiting.stdout.read() if waiting.stdout else b"")


# --- workers ----------------------------------------------------------------------------------------------------


def test_worker_queues_are_the_queues_the_router_routes_to() -> None:
    assert ROUTABLE_QUEUES == {"gpu", "cpu"}
    served: set[str] = set()
    for name, deployment in WORKERS.items():
        queues = worker_queues(deployment)
        assert queues <= ROUTABLE_QUEUES, (name, queues)
        assert queues == ({"gpu"} if name in GPU_WORKERS else {"cpu"}), (name, queues)
        served |= queues
    assert served == ROUTABLE_QUEUES, f"no worker consumes {ROUTABLE_QUEUES - served}"


def test_one_gpu_worker_per_catalog_gpu_kind_on_that_kinds_nodes() -> None:
    kinds = {}
    for name, deployment in GPU_WORKERS.items():
        pod = deployment["spec"]["template"]["spec"]
        gpu = deployment["spec"]["template"]["metadata"]["labels"]["tunecast/gpu"]
        assert gpu in HARDWARE, f"{name}: {gpu} is not in the hardware catalog"
        product = pod["nodeSelector"]["nvidia.com/gpu.product"]
        # GPU Feature Discovery's label is the device name with '-' for ' ': the worker will report that kind
        assert catalog_gpu_id(product.replace("-", " "), HARDWARE[gpu]["memory_bytes"]) == gpu, (name, product)
        resources_ = pod["containers"][0]["resources"]
        assert resources_["limits"]["nvidia.com/gpu"] == 1
        assert params(pod["containers"][0]["command"])["concurrency"] == 1
        assert quantity_bytes(resources_["limits"]["memory"]) >= HARDWARE[gpu]["memory_bytes"], name
        kinds[gpu] = name
    assert len(kinds) == len(GPU_WORKERS)
    assert {"H100-SXM", "A100-80GB", "L4"} <= set(kinds)


def test_the_cpu_worker_has_room_for_the_largest_cpu_probe() -> None:
    (cpu,) = (doc for name, doc in WORKERS.items() if name not in GPU_WORKERS)
    limits = cpu["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert "nvidia.com/gpu" not in limits
    assert quantity_bytes(limits["memory"]) > CPU_QUEUE_MAX_BYTES


def test_worker_grace_periods_outlast_the_longest_run_and_say_so() -> None:
    texts = {path.name: path.read_text() for path in manifest_files(K8S)}
    for name, deployment in WORKERS.items():
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace >= MAX_RUN_S, f"{name}: {grace} s would kill a run the worker is allowed to finish"
        (text,) = (text for text in texts.values() if f"name: {name}\n" in text)
        assert f"{grace:,} s" in text and f"{MAX_RUN_S:,} s" in text, f"{name}: the comment does not state the bound"
    assert API["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] <= 60


def test_workers_leave_their_replica_count_to_the_autoscaler() -> None:
    for name, deployment in WORKERS.items():
        assert "replicas" not in deployment["spec"], f"{name}: kubectl apply would reset KEDA's count"


def test_workers_need_no_shutdown_hook() -> None:
    """`tunecast worker` execs Celery, so the kubelet's SIGTERM reaches Celery itself (tested below)."""
    for deployment in WORKERS.values():
        assert "lifecycle" not in deployment["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"),
    reason="needs root and unshare for a PID namespace like a container's",
)
def test_tunecast_worker_as_pid_1_stops_warm_on_sigterm(tmp_path: Path) -> None:
    """In a container `tunecast worker` is PID 1, which ignores a signal it has no handler for: it must be
    Celery itself (exec), which handles SIGTERM with a warm shutdown."""
    env = {
        **os.environ,
        "TUNECAST_DATA_DIR": str(tmp_path),
        "TUNECAST_DATABASE_URL": f"sqlite:///{tmp_path / 'tunecast.db'}",
        "TUNECAST_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
    }
    subprocess.run(
        [sys.executable, "-c", "from api.cli import app; app()", "db", "upgrade"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    log = tmp_path / "worker.log"
    command = [sys.executable, "-c", "from api.cli import app; app()", "worker", "--queues", "cpu"]
    with open(log, "wb") as handle:
        namespace = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", *command],
            cwd=REPO_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        children = Path(f"/proc/{namespace.pid}/task/{namespace.pid}/children")
        pid_1 = int(wait_for(lambda: children.read_text().split()[:1], 10, "tunecast worker in its PID namespace")[0])
        wait_for(lambda: b" ready." in log.read_bytes(), 90, "the Celery worker ready", log)
        assert b"celery" in Path(f"/proc/{pid_1}/cmdline").read_bytes()  # no wrapper left
        os.kill(pid_1, signal.SIGTERM)  # what the kubelet sends
        assert namespace.wait(timeout=60) == 0, log.read_text(errors="replace")[-4000:]
        assert b"Warm shutdown" in log.read_bytes()
    finally:
        if namespace.poll() is None:
            namespace.kill()
            namespace.wait()


# --- KEDA -------------------------------------------------------------------------------------------------------


def test_each_worker_deployment_has_one_scaled_object_on_its_queues() -> None:
    broker = urlsplit(SECRET["TUNECAST_BROKER_URL"])
    redis_host = SERVICES[broker.hostname or ""]["spec"]["externalName"]
    targets = []
    for scaled in SCALED_OBJECTS:
        assert (scaled["apiVersion"], scaled["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
        target = scaled["spec"]["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment" and target.get("apiVersion", "apps/v1") == "apps/v1"
        assert target["name"] in WORKERS, f"{scaled['metadata']['name']}: no worker Deployment {target['name']}"
        targets.append(target["name"])
        spec = scaled["spec"]
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert spec["triggers"], scaled["metadata"]["name"]
        for trigger in spec["triggers"]:
            metadata = trigger["metadata"]
            assert trigger["type"] == "redis"
            assert metadata["listName"] in worker_queues(WORKERS[target["name"]])
            assert metadata["listName"] in ROUTABLE_QUEUES
            assert isinstance(metadata["listLength"], str) and int(metadata["listLength"]) >= 1
            # KEDA's operator lives in another namespace: the Redis the broker URL's Service points at
            assert metadata["address"] == f"{redis_host}:{broker.port or 6379}"
            assert metadata["databaseIndex"] == (broker.path.strip("/") or "0")
    assert sorted(targets) == sorted(WORKERS), "every worker Deployment needs exactly one ScaledObject"


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.mark.integration
def test_the_lists_keda_measures_are_the_ones_celery_fills() -> None:
    if not redis_available():
        pytest.skip("no Redis server answers at 127.0.0.1:6379")
    import redis

    from workers.dispatch import enqueue_run

    settings = Settings(broker_url="redis://127.0.0.1:6379/11")
    client = redis.Redis(host="127.0.0.1", port=6379, db=11)
    for queue in sorted(
        {trigger["metadata"]["listName"] for so in SCALED_OBJECTS for trigger in so["spec"]["triggers"]}
    ):
        client.delete(queue)
        try:
            enqueue_run(settings, run_id="k8s-manifest-test", kind="finetune", queue=queue)
            assert client.llen(queue) == 1, f"Celery did not put the message on the Redis list {queue!r}"
        finally:
            client.delete(queue)


def test_the_readme_says_how_to_apply_them_and_the_grace_period() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert "kubectl apply -k deploy/k8s" in readme and "kubectl apply -k deploy/k8s/keda" in readme
    for deployment in WORKERS.values():
        assert f"{deployment['spec']['template']['spec']['terminationGracePeriodSeconds']:,} s" in readme
