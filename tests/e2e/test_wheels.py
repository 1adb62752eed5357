"""The release as a user on another machine gets it: both sdists and wheels built with
`python -m build` (each wheel from its sdist) from a copy of the tree littered with what a
checkout collects, the two wheel files installed alone in a fresh virtual environment
(their dependencies from the package index, nothing from the source tree: the install runs
in an empty folder), and the installed commands run there.

Heavy: the builds and the install take a minute or two (dependencies come from pip's cache
when it has them). The installed environment has no dev extra, so no anyio: the server and
durablectl must start uvloop themselves (durable_queue/eventloop.py)."""

from __future__ import annotations

import ast
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from contextlib import closing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
ABOUT = CLIENT / "durable_queue_client" / "__about__.py"

# What a checkout collects and no distribution may carry, planted in the copy built from.
DEBRIS = [
    ".hypothesis/examples/0a/1b",
    ".pytest_cache/v/cache/lastfailed",
    "node_modules/left-pad/index.js",
    ".durable-queue/pgdata/PG_VERSION",
    "dist/durable_queue-0.0.1.tar.gz",
    "build/lib/stale.py",
    ".venv/bin/python",
    ".ruff_cache/0.5/x",
    ".mypy_cache/3.11/x.json",
    ".benchmarks/x.json",
    "durable_queue.egg-info/PKG-INFO",
    "{package}/__pycache__/stale.cpython-311.pyc",
]
DEBRIS_NAMES = re.compile(
    r"(^|/)(\.hypothesis|\.pytest_cache|node_modules|\.durable-queue|dist|build|\.venv"
    r"|\.ruff_cache|\.mypy_cache|\.benchmarks|[^/]*\.egg-info|__pycache__|\.git)(/|$)"
    r"|\.pyc$"
)
# Not shipped: copying them would only slow the test down.
NOT_COPIED = shutil.ignore_patterns(
    ".git", *{path.split("/")[0] for path in DEBRIS if "{" not in path}, "__pycache__", "tests"
)
START_SECONDS = 120


def source_version() -> str:
    """The version as written in the one version file."""
    tree = ast.parse(ABOUT.read_text())
    [value] = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
        and isinstance(node.value, ast.Constant)
    ]
    return value


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would point a child at the source tree or
    at this test run's virtual environment and database."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "DATABASE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("DURABLE_")}
    return {**env, **extra}


def run(*args: str | Path, cwd: Path, timeout: float = 600, **env: str) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def plant_debris(folder: Path, package: str) -> None:
    for path in DEBRIS:
        target = folder / path.format(package=package)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("debris\n")


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both sdists and wheels, built from a littered copy of the tree: {"server_sdist",
    "server_wheel", "client_sdist", "client_wheel"}."""
    work = tmp_path_factory.mktemp("release")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    # hatch would also leave out what .gitignore lists: without it, only the build
    # configuration in the two pyproject.toml files keeps the debris out
    (source / ".gitignore").unlink(missing_ok=True)
    plant_debris(source, "durable_queue")
    plant_debris(source / "clients" / "python", "durable_queue_client")
    found: dict[str, Path] = {}
    for name, folder in (("server", source), ("client", source / "clients" / "python")):
        out = work / f"{name}-dist"
        run(sys.executable, "-m", "build", "--outdir", out, folder, cwd=work)
        [found[f"{name}_sdist"]] = out.glob("*.tar.gz")
        [found[f"{name}_wheel"]] = out.glob("*.whl")
    return found


@pytest.fixture(scope="module")
def venv(dists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the two wheels (and their dependencies from
    the index); its bin/ folder. Installed from an empty folder: nothing of the source tree
    is in reach."""
    where = tmp_path_factory.mktemp("installed")
    run(sys.executable, "-m", "venv", where / "venv", cwd=where)
    bin_dir = where / "venv" / "bin"
    empty = where / "cwd"
    empty.mkdir()
    run(
        bin_dir / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        dists["server_wheel"],
        dists["client_wheel"],
        cwd=empty,
    )
    return bin_dir


def sdist_members(path: Path) -> list[str]:
    with tarfile.open(path) as sdist:
        return [name.split("/", 1)[1] for name in sdist.getnames() if "/" in name]


def wheel_metadata(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        return wheel.read(name).decode().splitlines()


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the built files ------------------------------------------------------------------------


def test_sdists_hold_the_sources_and_no_debris(dists: dict[str, Path]) -> None:
    server = sdist_members(dists["server_sdist"])
    client = sdist_members(dists["client_sdist"])
    for members in (server, client):
        assert not [m for m in members if DEBRIS_NAMES.search(m)], members
        assert {"pyproject.toml", "README.md", "LICENSE", "PKG-INFO"} <= set(members)
    assert {
        "durable_queue/__main__.py",
        "durable_queue/eventloop.py",
        "durablectl/cli.py",
        "queries/tasks.sql",
        "clients/python/durable_queue_client/__about__.py",  # the version the build reads
        "CHANGELOG.md",
    } <= set(server)
    assert any(m.startswith("migrations/") and m.endswith(".sql") for m in server)
    assert not [m for m in server if m.startswith(("tests/", "bench/", "examples/", ".ci/"))]
    # the server's sdist carries the client's version file, never the client itself
    assert [m for m in server if m.startswith("clients/")] == [
        "clients/python/durable_queue_client/__about__.py"
    ]
    assert {"durable_queue_client/__init__.py", "durable_queue_client/py.typed"} <= set(client)


def test_both_distributions_have_the_one_version(dists: dict[str, Path]) -> None:
    version = source_version()
    for name in ("server_sdist", "server_wheel", "client_sdist", "client_wheel"):
        assert f"-{version}" in dists[name].name, dists[name].name


def test_the_server_wheel_depends_on_the_client_by_name_and_version(
    dists: dict[str, Path],
) -> None:
    requires = [
        line.split(":", 1)[1].strip()
        for line in wheel_metadata(dists["server_wheel"])
        if line.startswith("Requires-Dist:")
    ]
    assert f"durable-queue-client=={source_version()}" in requires
    assert not [r for r in requires if "@" in r or "file:" in r], requires


# -- installed from the wheels alone ---------------------------------------------------------


def test_installed_commands_agree_on_the_version(venv: Path, tmp_path: Path) -> None:
    version = source_version()
    assert run(venv / "durable-queue", "--version", cwd=tmp_path).strip() == (
        f"durable-queue, version {version}"
    )
    assert run(venv / "durablectl", "--version", cwd=tmp_path).strip() == (
        f"durablectl, version {version}"
    )
    code = "import durable_queue, durable_queue_client; print(durable_queue_client.__version__)"
    assert run(venv / "python", "-c", code, cwd=tmp_path).strip() == version
    code = "import durable_queue; print(durable_queue.__version__)"
    assert run(venv / "python", "-c", code, cwd=tmp_path).strip() == version


def test_installed_packages_come_from_the_venv_and_name_no_file(venv: Path, tmp_path: Path) -> None:
    code = (
        "import json, importlib.metadata as m, durable_queue, durablectl, durable_queue_client\n"
        "print(json.dumps({'files': [durable_queue.__file__, durablectl.__file__,"
        " durable_queue_client.__file__], 'requires': m.requires('durable-queue'),"
        " 'direct': [m.distribution(d).read_text('direct_url.json')"
        " for d in ('durable-queue', 'durable-queue-client')]}))"
    )
    got = json.loads(run(venv / "python", "-c", code, cwd=tmp_path))
    prefix = str(venv.parent)
    assert all(path.startswith(prefix) for path in got["files"]), got["files"]
    assert not [r for r in got["requires"] if "@" in r or "file:" in r], got["requires"]
    assert f"durable-queue-client=={source_version()}" in got["requires"]
    # installed from the wheel files: pip records their path, not the source folders
    for direct in got["direct"]:
        assert direct is None or ".whl" in direct, direct


def test_installed_help_answers_to_h(venv: Path, tmp_path: Path) -> None:
    for command in ("durable-queue", "durablectl"):
        out = run(venv / command, "-h", cwd=tmp_path)
        assert out.startswith(f"Usage: {command} [OPTIONS] COMMAND"), out
    out = run(venv / "durable-queue", "serve", "-h", cwd=tmp_path)
    assert "--data-dir DIR" in out


class LogReader:
    """A child's stderr, read line by line (by a thread) until a line matches."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)  # EOF

    def wait_for(self, want: re.Pattern[str], timeout: float = START_SECONDS) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if want.search(line):
                return line
        raise AssertionError(f"no line matching {want.pattern!r}:\n" + "\n".join(self.lines))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


WORKER_MODULE = """
from durable_queue_client import DurableClient, Worker

worker = Worker(DurableClient("{url}"), queue="loop-check")


@worker.task("noop")
async def noop(ctx, params):
    return None
"""


def test_installed_server_and_worker_run_on_uvloop(
    venv: Path, database_url: str, tmp_path: Path
) -> None:
    """No dev extra, so no anyio in the venv: `durable-queue serve` and `durablectl worker`
    still run on uvloop, and say so at start; the server also says auth is off."""
    code = "import importlib.util as u; print(u.find_spec('anyio') is None)"
    assert run(venv / "python", "-c", code, cwd=tmp_path).strip() == "True", (
        "anyio is installed: this test no longer shows the commands start uvloop themselves"
    )
    port = free_port()
    server = subprocess.Popen(
        [venv / "durable-queue", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(DATABASE_URL=database_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server_log = LogReader(server)
    try:
        serving = json.loads(server_log.wait_for(re.compile(r'"message":\s*"serving"')))
        assert (serving["loop"], serving["auth"], serving["port"]) == ("uvloop", "off", port)

        (tmp_path / "loopcheck.py").write_text(WORKER_MODULE.format(url=f"http://127.0.0.1:{port}"))
        worker = subprocess.Popen(
            [venv / "durablectl", "worker", "loopcheck:worker"],
            cwd=tmp_path,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        worker_log = LogReader(worker)
        try:
            started = worker_log.wait_for(re.compile(r"worker started"))
            assert "event=worker_started" in started and "loop=uvloop" in started, started
        finally:
            assert worker_log.stop(signal.SIGINT) == 0, "\n".join(worker_log.lines)
    finally:
        assert server_log.stop() == 0, "\n".join(server_log.lines)
