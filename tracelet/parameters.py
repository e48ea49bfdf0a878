"""The run's parameters as ClearML's ``Task.get_parameters()`` gives them back.

[`Experiment.get_parameters`][tracelet.Experiment.get_parameters] answers from what the
program logged, in the training process (no tracker is asked), so every backend gets the
same dict. The rules are ClearML's (``Task._set_parameters``, ``HyperParams``, read in
clearml 2.x):

* keys are ``section/name``; ``log_params`` without a section is ``General``, tags
  (ClearML's user properties) are ``properties``;
* values are ClearML's strings: ``str(v)``, JSON for lists, tuples and dicts, an Enum
  member's name, ``""`` for None; a tag is ``str(v)``;
* each key keeps the type ClearML gave it first (``int``, ``list/int``, ``tuple/int``,
  the Enum's class name, ...), which ``cast=True`` converts back to (a key first logged
  as None gets the type of its next value);
* the order is ClearML's: before it stores parameters ClearML reloads the task, which
  sorts every section and key (its task.json is written with sorted keys), then adds
  what is new at the end; user properties are added without that reload;
* a dict ``log_params`` returns is connected, as the dict ``Task.connect`` returns: a
  later ``d[key] = value`` or ``d.update(...)`` logs the whole dict again (keys removed
  from it stay logged).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

GENERAL = "General"
PROPERTIES = "properties"


def value_string(value: Any) -> str:
    """How ClearML stores a parameter value (its ``_set_parameters`` ``stringify``)."""
    if value is None:
        return ""
    if isinstance(value, tuple | list | dict):
        try:
            return json.dumps(value)
        except TypeError:
            return str(value)
    if isinstance(value, Enum):
        return str(value).partition(".")[2]
    return str(value)


def value_type(value: Any) -> str | None:
    """The type ClearML records with a parameter (``get_basic_type``)."""
    if value is None:
        return None
    if isinstance(value, list | tuple) and value:
        first = type(value[0])
        if all(type(v) is first for v in value):
            return f"{type(value).__name__}/{first.__name__}"
    elif isinstance(value, dict) and value:
        first = type(next(iter(value.values())))
        if all(type(v) is first for v in value.values()):
            return f"dict/{first.__name__}"
    return type(value).__name__


def cast_value(value: str, type_name: str | None) -> Any:
    """ClearML's ``cast_basic_type``: the stored string back as its recorded type."""
    if not type_name:
        return None if value == "" else value
    outer = type_name.split("/")[0]
    containers: dict[str, Callable[[Any], Any]] = {"list": list, "tuple": tuple, "dict": dict}
    if outer in containers:
        try:
            return containers[outer](json.loads(value))
        except (ValueError, TypeError):
            return value
    scalars: dict[str, Callable[[str], Any]] = {
        "float": float, "int": int, "str": str, "bool": _to_bool,
    }  # fmt: skip
    convert = scalars.get(type_name.lower().strip())
    if convert is None:
        return value
    try:
        return convert(value)
    except ValueError:
        return value


def _to_bool(text: str) -> bool:
    text = text.strip().lower()
    if text in ("true", "false"):
        return text == "true"
    return bool(int(text))


class ParameterSections:
    """What the run holds, section by section: ``{name: (value string, type)}``."""

    def __init__(self) -> None:
        self._sections: dict[str, dict[str, tuple[str, str | None]]] = {}

    def log(self, flat: Mapping[str, Any], section: str | None, replace: bool = False) -> None:
        """``Task.connect(dict, name=section)`` (``replace``: a TaskParameters object,
        whose section ClearML sets anew)."""
        section = section or GENERAL
        self._reload()
        # ClearML's rebuild types every untyped value it keeps (user properties: str)
        for held in self._sections.values():
            for key, (text, kind) in held.items():
                held[key] = (text, kind or (None if text == "" else "str"))
        if replace:
            self._sections.pop(section, None)
        held = self._sections.setdefault(section, {})
        for key, value in flat.items():
            old = held.get(key)
            text = value_string(value)
            kind = old[1] if old is not None and (old[1] or text == "") else value_type(value)
            held[key] = (text, kind)
        if not held:
            del self._sections[section]

    def set_properties(self, properties: Mapping[str, str]) -> None:
        """``Task.set_user_properties``: no reload; a property has no type until ClearML
        next stores parameters (then ``str``)."""
        held = self._sections.setdefault(PROPERTIES, {})
        for key, value in properties.items():
            held[key] = (str(value), held[key][1] if key in held else None)

    def reload(self) -> None:
        """A ClearML call that reloads the task (``connect_configuration``)."""
        self._reload()

    def _reload(self) -> None:
        self._sections = {
            name: dict(sorted(self._sections[name].items())) for name in sorted(self._sections)
        }

    def flat(self, cast: bool = False) -> dict[str, Any]:
        return {
            f"{name}/{key}": cast_value(text, kind) if cast else text
            for name, held in self._sections.items()
            for key, (text, kind) in held.items()
        }


class ConnectedParams(dict):
    """The dict ``log_params`` returns: setting an item or ``update`` logs the whole
    dict again, as ClearML's connected dict (``ProxyDictPostWrite``) does. Nested dicts
    it holds at the start are connected too."""

    def __init__(self, data: Mapping[str, Any], on_change: Callable[[dict], None]) -> None:
        super().__init__(data)
        self._on_change: Callable[[dict], None] | None = None
        for key, value in self.items():
            if isinstance(value, dict):
                super().__setitem__(key, ConnectedParams(value, self._changed))
        self._on_change = on_change

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().update(*args, **kwargs)
        self._changed()

    def __reduce__(self) -> tuple:
        return dict, (), None, None, iter(self.to_dict().items())

    def __deepcopy__(self, memo: dict) -> dict:
        import copy

        return copy.deepcopy(self.to_dict(), memo)

    def to_dict(self) -> dict:
        return {k: v.to_dict() if isinstance(v, ConnectedParams) else v for k, v in self.items()}

    def _changed(self, *_: Any) -> None:
        if self._on_change is not None:
            self._on_change(self)


def typed_hints(flat: Mapping[str, Any]) -> dict[str, list[str | None]]:
    """``{key: [type, ClearML's string]}`` for the values whose JSON form loses what
    ClearML stores: a tuple (type ``tuple/...``) and an Enum (its member's name, typed
    by its class). The ClearML backend stores these as ClearML would."""
    return {
        key: [value_type(value), value_string(value)]
        for key, value in flat.items()
        if isinstance(value, tuple | Enum)
    }
