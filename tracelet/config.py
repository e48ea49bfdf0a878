"""``experiment.config``: the run's parameters as ``wandb.config`` gives them.

Setting a key records it as a parameter (``Experiment.log_params``): W&B receives it in
``run.config``, the other trackers as params. Reading gives back what the program set,
through ``start_logging(config=...)``, the view itself or ``log_params``. Values are kept
as W&B keeps them: keys lose leading and trailing ``-``, values are made JSON-friendly
(numpy and tensor scalars unwrapped, tuples become lists), and changing a value that is
already set raises, unless ``update(..., allow_val_change=True)``.

W&B sweeps are not supported: a sweep agent sets ``wandb.config`` before the program
reads it, tracelet's values always come from the program.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tracelet.values import json_safe


class RunConfig:
    """Attribute and item access to the run's parameters; setting one logs it.

    Example:
        ```python
        experiment = tracelet.start_logging(config={"lr": 0.01}, backend="wandb")
        config = experiment.config
        config.batch_size = 32                 # logged as the param batch_size=32
        config.update({"epochs": 3})           # logged as epochs=3
        optimizer = SGD(params, lr=config.lr)  # 0.01
        "epochs" in config, config.get("dropout", 0.5), dict(config)
        ```
    """

    __slots__ = ("_items", "_log")

    def __init__(self, log: Callable[[Mapping[str, Any]], Any]):
        object.__setattr__(self, "_items", {})
        object.__setattr__(self, "_log", log)

    def update(self, d: Any, allow_val_change: bool | None = None) -> None:
        """Set several keys from a dict, an ``argparse.Namespace`` or any object with
        ``__dict__``, and log them as params."""
        values = _sanitized(_as_dict(d))
        if not allow_val_change:
            for key, value in values.items():
                if key in self._items and self._items[key] != value:
                    raise ValueError(
                        f'Attempted to change value of key "{key}" from {self._items[key]} '
                        f"to {value}; pass allow_val_change=True to config.update()"
                    )
        self._items.update(values)
        if values:
            self._log(values)

    def _remember(self, values: Mapping[str, Any]) -> None:
        """Take values the run logged as params another way (not logged again); private,
        so that a key named ``remember`` reads as a key."""
        self._items.update(_sanitized(values))

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def keys(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._items.items())

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __getattr__(self, key: str) -> Any:
        if key in RunConfig.__slots__:  # not set yet (copy, unpickling)
            raise AttributeError(key)
        try:
            return self._items[key]
        except KeyError:
            raise AttributeError(f"the run's config has no key {key!r}") from None

    __setattr__ = __setitem__

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(self._items)


def _as_dict(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping | RunConfig):
        return dict(value)
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    raise TypeError(f"config.update expects a dict, got {type(value).__name__}")


def _sanitized(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).strip("-"): json_safe(value) for key, value in values.items()}
