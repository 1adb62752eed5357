"""`to_wire`'s generated per-record functions against the rule they compile: every field
rendered by its value's runtime type (UUID as text, times in RFC 3339, records as objects,
None omitted where the field is optional, JSON_NULL as null), over generated records of
every record class, values of the declared type and of any other."""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_queue import commands, store, wire
from durable_queue.codec import OMIT_NONE, rfc3339, to_wire
from durable_queue.jsonvalue import JSON_NULL

# every record: the wire's, the commands, and what the store answers before a handler
# shapes it
RECORDS = sorted(
    {
        cls
        for module in (wire, commands, store)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if attrs.has(cls) and cls.__module__ == module.__name__
    },
    key=lambda cls: cls.__name__,
)

reference = cattrs.Converter()
reference.register_unstructure_hook(uuid.UUID, str)
reference.register_unstructure_hook(dt.datetime, rfc3339)


def _by_runtime_type(cls: type) -> Any:
    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in attrs.fields(cls):
            value = getattr(obj, field.name)
            if value is None and field.metadata.get(OMIT_NONE):
                continue
            out[field.name] = None if value is JSON_NULL else reference.unstructure(value)
        return out

    return unstructure


reference.register_unstructure_hook_factory(attrs.has, _by_runtime_type)

SCALARS = (
    st.none()
    | st.just(JSON_NULL)
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.uuids()
    | st.datetimes(  # the years a row can hold (astimezone overflows at year 1 and 9999)
        min_value=dt.datetime(1970, 1, 2),
        max_value=dt.datetime(9000, 1, 1),
        timezones=st.none() | st.timezones(),
    )
)
SMALL_RECORDS = st.sampled_from(
    [
        wire.RunSummary(uuid.uuid4(), uuid.uuid4(), 1, "pending", dt.datetime(2030, 1, 1)),
        wire.CleanupPolicy(1, 2),
        wire.RunCompleted(uuid.uuid4()),
    ]
)
ANY = st.recursive(
    SCALARS | SMALL_RECORDS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=6,
)


def record_of(cls: type) -> st.SearchStrategy[Any]:
    """A `cls` record whose fields hold anything (the declared type, or any other)."""
    return st.builds(cls, **{field.name: ANY for field in attrs.fields(cls)})


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_to_wire_renders_every_value_by_its_runtime_type(cls: type, data: st.DataObject) -> None:
    record = data.draw(record_of(cls))
    assert repr(to_wire(record)) == repr(reference.unstructure(record))


@settings(max_examples=100, deadline=None)
@given(
    tasks=st.lists(record_of(wire.ClaimedTask), max_size=4),
    runs=st.lists(record_of(wire.RunSummary), max_size=4),
)
def test_nested_records_and_lists_of_records(tasks: list, runs: list) -> None:
    for value in (wire.ClaimedTasks(tasks), wire.RunList(runs, None), tasks):
        assert repr(to_wire(value)) == repr(reference.unstructure(value))


def test_a_claimed_task_as_the_wire_has_it() -> None:
    run_id, task_id = uuid.uuid4(), uuid.uuid4()
    when = dt.datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    task = wire.ClaimedTask(run_id, task_id, 2, "t", 3, when, "tok", 0, params=JSON_NULL)
    assert to_wire(wire.ClaimedTasks([task])) == {
        "tasks": [
            {
                "run_id": str(run_id),
                "task_id": str(task_id),
                "attempt": 2,
                "task_name": "t",
                "max_attempts": 3,
                "claim_expires_at": "2030-01-02T01:04:05.000006Z",
                "claim_token": "tok",
                "priority": 0,
                "params": None,
            }
        ]
    }
