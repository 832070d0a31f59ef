"""What every config dataclass shares: fields that declare their bounds, choices and command-line
flag (`option`), one generic `from_dict`, and the validation of what the fields declare.

A field made with `option(...)` carries in its metadata:

- `help`: the command line's help for it (`tfcolor.cli.common.add_config_flags` makes the
  flag); a field without `help` has no flag.
- `flag`: the flag's name where it is not the field's (`--bins` for `n_bins`).
- `choices`, `ge`, `gt`: the values it takes; `validate` checks them, naming the field, and
  the command line uses them as the flag's choices and argument type.
- `none`: how the command line spells None (`none`, or `0` for `rebalance`).
- `label`: the name validation errors give it (`model` for `ModelConfig.name`).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any

__all__ = ["Section", "field_type", "option"]


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str | None = None,  # noqa: A002 - argparse's name for it
    flag: str | None = None,
    choices: tuple | None = None,
    ge: float | None = None,
    gt: float | None = None,
    none: str | None = None,
    label: str | None = None,
) -> Any:
    """A dataclass field with the metadata of `tfcolor.config.base` (see there)."""
    metadata = {
        key: value
        for key, value in (
            ("help", help),
            ("flag", flag),
            ("choices", choices),
            ("ge", ge),
            ("gt", gt),
            ("none", none),
            ("label", label),
        )
        if value is not None
    }
    return dataclasses.field(default=default, metadata=metadata)


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def field_type(kind: type, name: str) -> tuple[Any, bool]:
    """`(type, optional)` of a field: `int | None` -> `(int, True)`; `tuple[int, ...]` stays."""
    hint = _hints(kind)[name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return members[0], len(members) < len(typing.get_args(hint))
    return hint, False


class Section:
    """The base of the config dataclasses: `from_dict`, `to_dict`, `updated`, `validate`."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        """The config from `to_dict`'s output (or its JSON): nested configs from their dicts,
        lists back to tuples; missing keys keep their defaults.

        Raises:
            ValueError: an unknown key, or a nested config that is not a dict.
        """
        if not isinstance(values, dict):
            raise ValueError(f"{cls.__name__} takes a dict. Received: {values!r}")
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
        arguments = {}
        for name, value in values.items():
            kind, _ = field_type(cls, name)
            if isinstance(kind, type) and issubclass(kind, Section):
                value = kind.from_dict(value)
            elif typing.get_origin(kind) is tuple and isinstance(value, list):
                value = tuple(value)
            arguments[name] = value
        return cls(**arguments)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def updated(self, **values):
        """A copy with `values` set (how a command line's flags change a preset)."""
        return dataclasses.replace(self, **values)

    def validate(self) -> None:
        """Checks each field against its declared choices and bounds.

        Raises:
            ValueError: naming the first bad field and its value.
        """
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            meta = field.metadata
            label = meta.get("label", field.name)
            if value is None and field_type(type(self), field.name)[1]:
                continue
            choices = meta.get("choices")
            if choices is not None and value not in choices:
                names = ", ".join(str(choice) for choice in choices)
                raise ValueError(f"{label} must be one of {names}. Received: {label}={value!r}")
            if "ge" in meta and not (_number(value) and value >= meta["ge"]):
                raise ValueError(f"{label} must be >= {meta['ge']}. Received: {label}={value!r}")
            if "gt" in meta and not (_number(value) and value > meta["gt"]):
                raise ValueError(f"{label} must be > {meta['gt']}. Received: {label}={value!r}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
