"""The README's Python snippets run as printed, twice in a row, against a live server:
the client example (its queue exists the second time), and the worker file `tasks.py`
started with `python tasks.py` and with `durablectl worker tasks:worker` (its queue made
by the worker). The worker's task is followed up to its 30 s cooldown, not through it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from durable_queue_client import DurableClient

from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]


def readme_block(marker: str) -> str:
    """The README's one ```python block that contains `marker`."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    [block] = [b for b in blocks if marker in b]
    return block


def env(server_url: str) -> dict[str, str]:
    """The working tree's client, durablectl and server first, whatever copy is installed;
    DURABLE_SERVER (which the snippets read, like durablectl) set to the test's server."""
    paths = [str(ROOT / "clients" / "python"), str(ROOT)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "DURABLE_SERVER": server_url}


async def test_the_client_example_runs_twice(server_url: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(readme_block("DurableClient(SERVER) as client"))
    for _ in range(2):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            cwd=tmp_path,
            env=env(server_url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, err.decode()
        assert re.fullmatch(r"sent a@example\.com task [0-9a-f-]{36}\n", out.decode()), out


async def run_worker_once(command: list[str], server_url: str, tmp_path: Path) -> None:
    """Start the worker, give it an order, approve it, see it reach its cooldown, stop it
    with SIGINT: it exits 0 with nothing left unclosed."""
    log = tmp_path / "worker.log"
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        env=env(server_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        async with DurableClient(server_url) as client:

            async def queue_made() -> bool:
                return "orders" in {queue.name for queue in await client.list_queues()}

            await eventually(queue_made, what="the worker to create its queue")
            created = await client.create_task("orders", "process_order", params={"amount": 42})
            await client.emit_event(f"approved:{created.task_id}", {"by": "ada"})

            async def cooling_down() -> dict | None:
                steps = {
                    c.step_name: c.state for c in await client.list_checkpoints(created.task_id)
                }
                return steps if "sleep:cooldown" in steps else None

            steps = await eventually(cooling_down, what="the approved order's cooldown")
            assert steps["charge"]["amount"] == 42  # charge_card ran, once
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), timeout=60)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "Unclosed" not in text and "Traceback" not in text, text


async def test_the_worker_file_runs_twice(server_url: str, tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text(readme_block('@worker.task("process_order")'))
    await run_worker_once([sys.executable, "tasks.py"], server_url, tmp_path)
    await run_worker_once([sys.executable, "tasks.py"], server_url, tmp_path)
    durablectl = [sys.executable, "-m", "durablectl", "worker", "tasks:worker"]
    await run_worker_once(durablectl, server_url, tmp_path)
    await run_worker_once(durablectl, server_url, tmp_path)
