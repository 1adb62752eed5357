"""The function step's rule (which bodies a server installs over which), and the
function files: one file per function, each function defined in exactly one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from durable_queue.prerelease import CHAIN, chain_state
from durable_queue.resources import resource_dir
from durable_queue.sql_functions import Verdict, checksum, function_files, verdict

REPO = Path(__file__).resolve().parents[2]
CREATE_FUNCTION = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(\w+)\s*\(", re.I)


@pytest.mark.parametrize(
    ("installed", "release", "expected"),
    [
        (None, "0.2.0", Verdict.INSTALL),
        (("0.1.0", "ours"), "0.2.0", Verdict.INSTALL),
        (("0.2.0", "ours"), "0.2.0", Verdict.CURRENT),
        (("0.2.0", "theirs"), "0.2.0", Verdict.INSTALL),
        (("0.3.0", "theirs"), "0.2.0", Verdict.NEWER),
        (("0.3.0", "ours"), "0.2.0", Verdict.NEWER),
        (("0.2.0rc1", "theirs"), "0.2.0", Verdict.INSTALL),
        (("0.10.0", "theirs"), "0.9.0", Verdict.NEWER),
        (("not a version", "theirs"), "0.2.0", Verdict.INSTALL),
    ],
)
def test_verdict(installed: tuple[str, str] | None, release: str, expected: Verdict) -> None:
    assert verdict(installed, release, "ours") is expected


def test_checksum_changes_with_any_body() -> None:
    first, second = ("a.sql", "SELECT 1;"), ("b.sql", "SELECT 2;")
    before = checksum([first, second])
    assert checksum([first, ("b.sql", "SELECT 2 ;")]) != before
    assert checksum([first]) != checksum([second])


def test_each_function_file_defines_the_function_it_is_named_after() -> None:
    for path in function_files():
        assert CREATE_FUNCTION.findall(path.read_text()) == [path.stem], path.name


def test_every_dq_function_is_defined_exactly_once_outside_the_tests() -> None:
    """In the SQL that ships (migrations/, queries/) and the benches: one definition each."""
    found: dict[str, list[str]] = {}
    for path in sorted(REPO.glob("**/*.sql")):
        relative = path.relative_to(REPO)
        if (
            relative.parts[0] in {"tests", "node_modules", ".venv"}
            or "prerelease" in relative.parts
            or "site-packages" in relative.parts  # an installed copy, in a venv of any name
        ):
            continue
        for name in CREATE_FUNCTION.findall(path.read_text()):
            if name.startswith("dq_"):
                found.setdefault(name, []).append(str(relative))
    assert found, "no function found: is the repository where this test thinks?"
    assert {name: places for name, places in found.items() if len(places) > 1} == {}
    assert resource_dir("migrations").joinpath("functions").is_dir()


@pytest.mark.parametrize(
    ("applied", "state"),
    [
        (set(), "none"),
        ({"0001.baseline"}, "none"),
        (set(CHAIN), "complete"),
        (set(CHAIN) | {"0001.baseline"}, "none"),
        (set(CHAIN[:8]), "partial"),
        ({"0001.uuidv7"}, "partial"),
    ],
)
def test_chain_state(applied: set[str], state: str) -> None:
    assert chain_state(applied) == state
