"""Run a bench against the code of another checkout (a git worktree), from this bench/.

    python bench/in_tree.py TREE SCRIPT [ARGS...]
    python bench/in_tree.py /work/baseline bench/claim.py --sizes 1000,1000000

The shared environment has one checkout installed editable; this runs SCRIPT (a path
taken from the current directory, e.g. this checkout's bench/claim.py) with the
working directory TREE and PYTHONPATH=TREE:TREE/clients/python, so the bench process
and every process it starts (server, workers: they inherit both) import TREE's
`durable_queue` and `durable_queue_client`, and read TREE's migrations/ and queries/
(`resources.resource_dir` looks beside the package). Before running it, a child with
that environment prints where its packages and SQL come from, and the run stops if any
of them lies outside TREE. The bench's own modules (cpu.py, database.py, ...) come from
SCRIPT's directory.

Each bench makes its own databases (an embedded PostgreSQL, or fresh databases on
--database-url), so the two schemas never meet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, durable_queue, durable_queue_client
from durable_queue.resources import resource_dir
print(json.dumps({
    "durable_queue": durable_queue.__file__,
    "durable_queue_client": durable_queue_client.__file__,
    "migrations": str(resource_dir("migrations")),
    "queries": str(resource_dir("queries")),
}))
"""


def tree_environment(tree: Path) -> dict[str, str]:
    paths = [str(tree), str(tree / "clients" / "python")]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def where_from(tree: Path, env: dict[str, str]) -> dict[str, str]:
    """Where a child started in `tree` with `env` imports the packages and SQL from."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tree, env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    tree = Path(sys.argv[1]).resolve()
    script = Path(sys.argv[2]).resolve()
    env = tree_environment(tree)
    found = where_from(tree, env)
    for what, path in found.items():
        print(f"in_tree: {what:<20} {path}", flush=True)
        if not Path(path).resolve().is_relative_to(tree):
            raise SystemExit(f"in_tree: {what} does not come from {tree}")
    os.chdir(tree)
    os.execve(sys.executable, [sys.executable, str(script), *sys.argv[3:]], env)


if __name__ == "__main__":
    main()
