"""Which process of a distributed job delivers to the trackers.

The rank comes from the launcher's environment (``RANK`` from torchrun and
``torch.distributed.launch``, ``SLURM_PROCID`` under SLURM, ``LOCAL_RANK`` on the first
machine for the processes Lightning's own DDP launcher starts) or, when the program has
already called ``torch.distributed.init_process_group``, from ``torch.distributed``
itself (never imported by tracelet: only read if the program imported it).

Modes (``start_logging(ranks=...)`` or ``$TRACELET_RANKS``):

* ``"zero"`` (default): rank 0 delivers; on every other rank ``start_logging`` returns a
  disabled :class:`~tracelet.Experiment` whose calls cost nothing and that patches nothing.
* ``"all"``: every rank delivers into a run of its own named ``<exp_name>-rank<N>``.
"""

from __future__ import annotations

import os
import sys

RANK_MODES = ("zero", "all")


def process_rank() -> int | None:
    """This process's global rank, or None when it is not part of a distributed job."""
    for variable in ("RANK", "SLURM_PROCID"):
        rank = _env_int(variable)
        if rank is not None:
            return rank
    # Lightning's own DDP launcher starts the other processes of a machine with LOCAL_RANK only.
    local_rank = _env_int("LOCAL_RANK")
    if local_rank is not None and not _env_int("NODE_RANK"):
        return local_rank
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return int(dist.get_rank())
    return None


def _env_int(variable: str) -> int | None:
    try:
        return int(os.environ[variable])
    except (KeyError, ValueError):
        return None


def resolve_mode(mode: str | None) -> str:
    mode = (mode or os.environ.get("TRACELET_RANKS") or "zero").lower()
    if mode not in RANK_MODES:
        raise ValueError(f"ranks must be one of {', '.join(RANK_MODES)}, got {mode!r}")
    return mode
