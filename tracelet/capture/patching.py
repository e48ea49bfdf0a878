"""Patch classes in place, and patch modules that are imported later.

* :func:`patch_method` replaces ``cls.attr`` with a wrapper and remembers the original;
  patching a method twice is a no-op (patches never stack), and :func:`restore_all`
  puts every original back.
* :func:`when_imported` runs a callback on a module now if it is already imported, or
  right after it is imported (a post-import hook on ``sys.meta_path``), so that
  ``start_logging`` never has to import torch itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

_ORIGINAL = "__tracelet_original__"
_patched: dict[tuple[type, str], Any] = {}
_callbacks: dict[str, list[Callable[[ModuleType], None]]] = {}
_lock = threading.RLock()


def patch_method(cls: type, attr: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    with _lock:
        current = cls.__dict__.get(attr)
        if current is None or getattr(current, _ORIGINAL, None) is not None:
            return
        wrapper = make_wrapper(current)
        setattr(wrapper, _ORIGINAL, current)
        _patched[(cls, attr)] = current
        setattr(cls, attr, wrapper)


def restore_all() -> None:
    with _lock:
        for (cls, attr), original in _patched.items():
            setattr(cls, attr, original)
        _patched.clear()
        _callbacks.clear()
        if _finder in sys.meta_path:
            sys.meta_path.remove(_finder)


def is_patched(cls: type, attr: str) -> bool:
    return (cls, attr) in _patched


def when_imported(module_name: str, callback: Callable[[ModuleType], None]) -> None:
    with _lock:
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, "__spec__", None) is not None:
            callback(module)
            return
        _callbacks.setdefault(module_name, []).append(callback)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


class _LoaderWithHook(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, name: str):
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        with _lock:
            callbacks = _callbacks.pop(self._name, [])
        for callback in callbacks:
            callback(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self._busy: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname not in _callbacks or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _LoaderWithHook(spec.loader, fullname)
        return spec


_finder = _PostImportFinder()
