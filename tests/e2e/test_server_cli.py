"""`durable-queue` and `durablectl` as a user meets them: --version, -h, a bad DATABASE_URL,
what the server says when it starts, and where the embedded database keeps its data."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
from importlib.metadata import version
from pathlib import Path

import durable_queue_client
import platformdirs
import pytest
from asyncclick.testing import CliRunner

from durable_queue.__main__ import main
from durable_queue.config import Settings, default_data_dir
from durablectl.cli import cli


def run_server(*args: str, env: dict[str, str], cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "durable_queue", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the server's own variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env = {k: v for k, v in env.items() if not k.startswith("DURABLE_")}
    return {**env, **extra}


def log_lines(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


# -- --version ----------------------------------------------------------------------------


def test_durable_queue_version_is_the_package_version():
    proc = run_server("--version", env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"durable-queue, version {version('durable-queue')}"


async def test_durablectl_version_is_the_package_version():
    result = await CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"durablectl, version {version('durable-queue')}"


def test_the_client_has_the_same_version():
    assert durable_queue_client.__version__ == version("durable-queue")


# -- -h -------------------------------------------------------------------------------------


def test_durable_queue_takes_h_for_help():
    proc = run_server("-h", env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: "), proc.stdout
    assert "-h, --help" in proc.stdout


@pytest.mark.parametrize("command", ["serve", "migrate"])
async def test_durable_queue_commands_take_h_for_help(command):
    result = await CliRunner().invoke(main, [command, "-h"])
    assert result.exit_code == 0, result.stderr
    assert "-h, --help" in result.stdout and "--data-dir DIR" in result.stdout


# -- what the server says when it starts ------------------------------------------------------


def serving_entry(env: dict[str, str]) -> dict:
    """The `serving` log entry of `durable-queue serve` on a free port; then it is stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "durable_queue", "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(120, proc.kill)  # a server that never says "serving"
    watchdog.start()
    seen = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("{") and json.loads(line)["message"] == "serving":
                return json.loads(line)
        raise AssertionError("the server exited before serving:\n" + "".join(seen))
    finally:
        watchdog.cancel()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) in (0, -signal.SIGKILL), "".join(seen)


@pytest.mark.parametrize(("tokens", "auth"), [(None, "off"), ("tok-one,tok-two", "on")])
def test_the_serving_line_says_whether_auth_is_on_and_which_loop_serves(database_url, tokens, auth):
    extra = {"DATABASE_URL": database_url}
    if tokens:
        extra["DURABLE_API_TOKENS"] = tokens
    entry = serving_entry(clean_env(**extra))
    assert entry["auth"] == auth
    assert entry["loop"] == ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")
    assert "tok-one" not in json.dumps(entry)


# -- a bad DATABASE_URL -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not-a-url", "DATABASE_URL must be a URL like postgresql://"),
        ("mysql://user:secret@db/queue", "DATABASE_URL must be a URL like postgresql://"),
        ("postgresql://user:secret@db/queue?bogus=1", "DATABASE_URL is not a valid PostgreSQL"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_bad_database_url_is_one_line_and_exit_1(url, message, command):
    proc = run_server(command, env=clean_env(DATABASE_URL=url))
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"Error: {message}"), lines[0]
    assert "Traceback" not in proc.stderr and "secret" not in proc.stderr


# -- the embedded database's data directory -----------------------------------------------


def test_default_data_dir_is_the_users_data_dir_whatever_the_working_directory(
    tmp_path, monkeypatch
):
    expected = str(platformdirs.user_data_path("durable-queue", appauthor=False))
    assert default_data_dir() == expected and os.path.isabs(expected)
    seen = set()
    for where in ("a", "b"):
        (tmp_path / where).mkdir()
        monkeypatch.chdir(tmp_path / where)
        seen.add(Settings.from_env({}).data_dir)
        seen.add(Settings().data_dir)
    assert seen == {expected}


def test_data_dir_override_from_env_and_flag_resolved_to_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"DURABLE_DATA_DIR": "here"}).data_dir == str(tmp_path / "here")
    flag = Settings.from_env({"DURABLE_DATA_DIR": "env"}, data_dir="flag").data_dir
    assert flag == str(tmp_path / "flag")


async def test_serve_help_names_the_data_dir_option_and_its_default():
    result = await CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "--data-dir DIR" in text and "DURABLE_DATA_DIR" in text
    assert f"default {default_data_dir()}" in text


def test_embedded_data_survives_a_start_from_another_directory(tmp_path):
    """No DATABASE_URL: the first start creates the database in the user's data directory
    and says so loudly; a start from another working directory finds the same one."""
    env = clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"))
    expected = str(tmp_path / "xdg" / "durable-queue")
    first_cwd, second_cwd = tmp_path / "first", tmp_path / "second"
    first_cwd.mkdir()
    second_cwd.mkdir()

    first = run_server("migrate", env=env, cwd=first_cwd)
    assert first.returncode == 0, first.stderr
    entries = log_lines(first.stderr)
    fresh = [e for e in entries if e["message"].startswith("no database in the data directory")]
    assert [(e["level"], e["data_dir"]) for e in fresh] == [("warning", expected)]
    assert {"message": "embedded postgres started", "data_dir": expected}.items() <= next(
        e for e in entries if e["message"] == "embedded postgres started"
    ).items()
    assert any(e["message"] == "migrations applied" for e in entries)

    second = run_server("migrate", env=env, cwd=second_cwd)
    assert second.returncode == 0, second.stderr
    entries = log_lines(second.stderr)
    assert not [e for e in entries if e["level"] == "warning"], second.stderr
    assert not any(e["message"] == "migrations applied" for e in entries)  # same database
    assert not (first_cwd / ".durable-queue").exists()
    assert not (second_cwd / ".durable-queue").exists()
