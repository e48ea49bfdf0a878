"""Capture layers: turn framework logging calls into tracelet events."""

from __future__ import annotations

from tracelet.capture import fabric, lightning, patching, tensorboard


def install() -> None:
    """Patch every supported framework, now or when it is imported."""
    tensorboard.install()
    lightning.install()
    fabric.install()


def uninstall() -> None:
    """Remove every patch and pending import hook."""
    patching.restore_all()
