"""Deployment files: docker compose wiring (Docker cannot run here, so it is parsed)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]


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
    for directory in ("queries", "migrations", "durable_queue", "durablectl", "clients"):
        assert f"COPY {directory}" in dockerfile
    assert '"durable-queue", "serve"' in dockerfile


def test_queries_and_migrations_ship_in_the_wheel():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"queries" = "durable_queue/_resources/queries"' in pyproject
    assert '"migrations" = "durable_queue/_resources/migrations"' in pyproject


def build_wheel(source: Path, out: Path) -> zipfile.ZipFile:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def client_version() -> str:
    """The version written in the one version file (clients/python/.../__about__.py)."""
    about = ROOT / "clients" / "python" / "durable_queue_client" / "__about__.py"
    [value] = [
        node.value.value
        for node in ast.parse(about.read_text()).body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
    ]
    return value


def test_both_distributions_read_the_one_version_file_and_the_pin_matches_it():
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())
    client = tomllib.loads((ROOT / "clients" / "python" / "pyproject.toml").read_text())
    for project in (server, client):
        assert "version" not in project["project"]
        assert project["project"]["dynamic"] == ["version"]
    about = "durable_queue_client/__about__.py"
    assert server["tool"]["hatch"]["version"]["path"] == f"clients/python/{about}"
    assert client["tool"]["hatch"]["version"]["path"] == about
    pins = [d for d in server["project"]["dependencies"] if d.startswith("durable-queue-client")]
    assert pins == [f"durable-queue-client=={client_version()}"]


def test_the_client_package_is_installed_once_by_its_own_distribution(tmp_path):
    """`pip install ./clients/python .` installs the client wheel and the server wheel,
    which depends on it by name and version: only the former holds durable_queue_client."""
    server = build_wheel(ROOT, tmp_path / "server")
    client = build_wheel(ROOT / "clients" / "python", tmp_path / "client")

    def top_level(wheel: zipfile.ZipFile) -> set[str]:
        return {name.split("/")[0] for name in wheel.namelist() if ".dist-info/" not in name}

    assert top_level(server) == {"durable_queue", "durablectl"}
    assert top_level(client) == {"durable_queue_client"}
    assert "durable_queue_client/py.typed" in client.namelist()
    assert "durable_queue/_resources/queries/tasks.sql" in server.namelist()

    metadata = server.read(next(n for n in server.namelist() if n.endswith("METADATA")))
    requires = [
        line.split(":", 1)[1].strip()
        for line in metadata.decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert f"durable-queue-client=={client_version()}" in requires
    assert not [r for r in requires if "@" in r or "file:" in r], requires  # no direct reference
