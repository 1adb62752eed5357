"""Deployment files: docker compose wiring (Docker cannot run here, so it is parsed)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_wires_postgres_16_and_the_server():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    postgres = compose["services"]["postgres"]
    server = compose["services"]["server"]
    assert postgres["image"].split(":")[1].startswith("16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    assert server["build"] == "."
    url = urlsplit(server["environment"]["DATABASE_URL"])
    env = postgres["environment"]
    assert url.hostname == "postgres" and url.port == 5432
    assert (url.username, url.password, url.path.lstrip("/")) == (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
        env["POSTGRES_DB"],
    )
    assert "8080:8080" in server["ports"]
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dockerfile_installs_the_repo_and_serves_on_8080():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "EXPOSE 8080" in dockerfile
    for directory in ("queries", "migrations", "durable_queue"):
        assert f"COPY {directory}" in dockerfile
    assert '"durable-queue", "serve"' in dockerfile


def test_queries_and_migrations_ship_in_the_wheel():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"queries" = "durable_queue/_resources/queries"' in pyproject
    assert '"migrations" = "durable_queue/_resources/migrations"' in pyproject
