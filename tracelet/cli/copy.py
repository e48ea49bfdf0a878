"""``tracelet copy SOURCE --to BACKEND``: move a run's history into another tracker, checked.

::

    tracelet copy wandb/offline-run-20250101_120000-abc123 --to mlflow
    tracelet copy sqlite:///mlflow.db#3f2a... --to wandb --project history --name baseline

The run (anything :func:`tracelet.readers.read_store` reads) is logged for real, into
the tracker as configured in your environment (``MLFLOW_TRACKING_URI``, ``WANDB_*``,
``clearml.conf``, or ``--url``), through the routed path of replay mode: one
``SummaryWriter.add_scalar`` per point with its step and wall time, then its params,
tags and summary values, through ``tracelet.start_logging(backend=BACKEND)``, in a subprocess. The
copy is then read back from the tracker and compared with the source; the verdict and
exit code are those of ``tracelet validate`` (0 equal, 1 different, 2 error).

* Artifacts are not copied (and not compared). Summary values are copied with
  ``experiment.summary`` (flattened keys such as ``val/loss.min`` stay flat).
* The tracker's own limits apply as for any tracelet run (MLflow's sqlite store keeps
  ``inf`` as max-float, ClearML stores NaN as 0.0): the comparison lists them as
  precision adjustments.
* A copy that cannot be read back from this machine (a ClearML task on a server) is
  reported as copied but not verified, with exit code 0.
* What could not be delivered in time stays in the tracelet run folder; the message
  names the ``tracelet sync`` command that finishes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tracelet.cli.common import (
    UsageError,
    add_comparison_options,
    run_guarded,
    show_comparison,
)
from tracelet.validators import exit_codes

PROG = "tracelet copy"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``tracelet copy``'s arguments to ``parser``."""
    parser.add_argument("source", metavar="SOURCE", help="the run to copy (path or URI[#RUN])")
    parser.add_argument(
        "--to", dest="backend", required=True, help="mlflow, wandb, clearml or tensorboard"
    )
    parser.add_argument("--project", help="project / MLflow experiment (default: tracelet's)")
    parser.add_argument("--name", help="run name (default: 'copy of SOURCE')")
    parser.add_argument("--url", help="the tracker's address (MLflow URI, W&B or ClearML host)")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds for the copy (default 3600)"
    )
    add_comparison_options(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``tracelet copy``; returns the exit code."""
    return run_guarded(PROG, args, lambda console: _copy(args, console))


def _copy(args: argparse.Namespace, console) -> int:
    from tracelet.backends import ensure_installed, normalize_backends
    from tracelet.readers import delivered_store, read_store
    from tracelet.validators.compare import compare_runs
    from tracelet.validators.replay import write_payload

    backends = normalize_backends(args.backend)
    if len(backends) != 1:
        raise UsageError("copy into one tracker at a time")
    (backend,) = backends
    ensure_installed(backend)
    source = read_store(args.source)
    name = args.name or f"copy of {args.source}"[:200]
    scratch = Path(tempfile.mkdtemp(prefix="tracelet-copy-"))
    try:
        payload, result_file = scratch / "source.json", scratch / "result.json"
        write_payload(source, payload, summary=True)
        argv = [sys.executable, "-m", "tracelet.validators.replay", "routed", backend]
        argv += [str(payload), str(result_file), "--name", name, "--logdir", str(scratch / "tb")]
        if args.project:
            argv += ["--project", args.project]
        if args.url:
            argv += ["--url", args.url]
        console.print(
            f"copying {len(source.metrics):,} points from {source.source} to {backend}",
            markup=False,
            highlight=False,
        )
        done = subprocess.run(argv, timeout=args.timeout, check=False)
        if done.returncode != 0 or not result_file.exists():
            raise RuntimeError(f"the copy into {backend} failed (exit code {done.returncode})")
        result = json.loads(result_file.read_text())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    console.print(result["summary"], markup=False, highlight=False)
    try:
        location = delivered_store(result["run_dir"], backend, os.environ)
    except ValueError as exc:
        console.print(f"copied, but not verified: {exc}", markup=False, highlight=False)
        return exit_codes.EQUAL
    copy = read_store(location)
    # a column the tracker's writer adds (W&B's tracelet/step) is shown, not compared:
    # the source is not a store of that tracker; a copy moves metrics, params and tags
    comparison = compare_runs(
        source, copy, rtol=args.rtol, atol=args.atol, skip=("artifacts", "columns", "media")
    )
    for name, description in sorted(copy.added_columns.items()):
        console.print(f"the copy holds column {name!r}: {description}", markup=False)
    extra = {"mode": "copy", "backend": backend, "copy": location}
    return show_comparison(comparison, source, copy, args, console, extra)
