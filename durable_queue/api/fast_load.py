"""Compiled loading of the request schemas: the common, valid body without marshmallow's
per-field machinery.

marshmallow walks every field of every item through its error store, hooks and
partial handling, a cost paid per item of a batch create (figures: docs/performance.md,
"Small costs behind comments in the code"). `loader_of(schema)` compiles the
same declaration into plain closures, one per field, each built by the field type
itself (`fast_loader()` in api/wire_fields.py), that either give exactly what
`schema.load` gives or raise `Unsure`. The caller then loads the body again with
marshmallow, which decides, and words the error: the accepted set and every message
stay marshmallow's, the fast path only vouches for values it checks completely
(tests/unit/test_fast_load.py compares the two over generated bodies).

A schema is compiled only when it has nothing the compiled form does not reproduce:
unknown keys excluded, no hooks but `Input`'s post-load into its command, no
`only`/`exclude`/`partial`/`many`. Any other schema gets a loader that is always unsure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow
from marshmallow.utils import missing

Loader = Callable[[Any], Any]
_COMPILED = "_dq_compiled_loader"


class Unsure(Exception):
    """The compiled loader cannot vouch for this value; marshmallow must load it."""


def loader_of(schema: marshmallow.Schema) -> Loader:
    """The compiled loader of a schema instance (built once, kept on the instance)."""
    loader = schema.__dict__.get(_COMPILED)
    if loader is None:
        loader = _compile(schema)
        schema.__dict__[_COMPILED] = loader
    return loader


def field_loader(field: marshmallow.fields.Field) -> Loader:
    """A present value of `field` → what `field.deserialize` gives; Unsure where it would
    raise (or where the field type has no compiled form and marshmallow itself raised)."""
    fast = getattr(field, "fast_loader", None)
    if fast is not None:
        return fast()
    return generic_loader(field)


def generic_loader(field: marshmallow.fields.Field) -> Loader:
    """`field.deserialize` itself, its ValidationError turned into Unsure."""
    deserialize = field.deserialize

    def load(value: Any) -> Any:
        try:
            return deserialize(value)
        except marshmallow.ValidationError:
            raise Unsure from None

    return load


def _always_unsure(_: Any) -> Any:
    raise Unsure


def _compilable(schema: marshmallow.Schema) -> bool:
    hooks = {kind: entries for kind, entries in schema._hooks.items() if entries}
    command_hook = getattr(type(schema), "_command", None)
    return (
        schema.unknown == marshmallow.EXCLUDE
        and not schema.many
        and schema.only is None
        and not schema.exclude
        and not schema.partial
        and getattr(command_hook, "__qualname__", None) == "Input._command"
        and hooks == {"post_load": [("_command", False, {"pass_original": False})]}
        and not schema.opts.include
    )


def _compile(schema: marshmallow.Schema) -> Loader:
    if not _compilable(schema):
        return _always_unsure
    entries = []
    for name, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else name
        if (field.attribute or name) != name or "." in name:
            return _always_unsure
        entries.append((key, name, field_loader(field), field.required, field.load_default))
    into = getattr(schema, "loads_into", None)

    def load(data: Any) -> Any:
        if type(data) is not dict:
            raise Unsure
        given: dict[str, Any] = {}
        for key, name, load_value, required, default in entries:
            value = data.get(key, missing)
            if value is missing:
                if required:
                    raise Unsure
                if default is missing:
                    continue
                value = default() if callable(default) else default
            else:
                value = load_value(value)
            if value is not None:  # Input's post-load: None takes the command's default
                given[name] = value
        return into(**given) if into is not None else given

    return load
