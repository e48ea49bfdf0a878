"""Event shapes shared by the capture layer, the journal and the delivery agent.

Events are plain tuples (cheap to build on the training thread, JSON arrays in the
journal). The first item names the kind:

=====  =====================================================  ==========================
kind   tuple                                                  meaning
=====  =====================================================  ==========================
``m``  ``("m", key, value, step, wall_time)``                 one scalar point
``p``  ``("p", {key: value}[, section])``                     parameters (flat, JSON-able)
``t``  ``("t", {key: str})``                                  tags
``a``  ``("a", name, absolute_path[, info])``                 a file or folder artifact
``o``  ``("o", name, absolute_path, model_info)``             a model (see below)
``l``  ``("l", model_path, [[key, step], ...])``              model metrics (see below)
``f``  ``("f", name, absolute_path, policy)``                 a run file (``experiment.save``)
``i``  ``("i", key, step, wall_time, media_path)``            a PNG image (path in run dir)
``h``  ``("h", key, step, wall_time, histogram[, "row"])``    a histogram (see below)
``x``  ``("x", key, step, wall_time, text)``                  a text record
``s``  ``("s", {key: value}, [removed keys])``                summary values set / deleted
``d``  ``("d", name, step_metric, [summary ops] or None)``    ``define_metric``
``r``  ``("r", step, wall_time, {key: value}[, early, at[, "step"]])`` one committed row
``v``  ``("v", key, step, wall_time, media)``                 an ``experiment.log_image``... value
``e``  ``("e", status)``                                      end of run: FINISHED/FAILED/KILLED
=====  =====================================================  ==========================

A ``p`` event may carry a third item, the parameter section (ClearML's ``Args``, or any
name; absent or ``None`` is the default section). Trackers without sections receive the
keys as ``section/key``. A ``s`` event's values are JSON values as the user set them
(nested dicts allowed); a ``d`` event's ops come from
:func:`tracelet.summaries.parse_summary_ops`.

A histogram is ``{"bucket_limits": [...], "bucket_counts": [...], "min", "max", "num",
"sum", "sum_squares"}``: ``bucket_limits`` holds the right edge of each bucket, as in
TensorBoard's ``HistogramProto``; ``min`` is the left edge of the first bucket.

An artifact's optional ``info`` holds what ``log_artifact`` was given besides the file:
``{"type": str, "metadata": dict, "aliases": [str]}`` (each key only when given).
A model's ``absolute_path`` is its portable file (a torch state dict ``.pt``, xgboost's
``.ubj``, a pickled scikit-learn estimator ``.pkl``); ``model_info`` is ``{"name": str,
"flavor": "pytorch" | "sklearn" | "xgboost", "mlflow_model": absolute path of an MLflow
model folder, or None, "metadata": dict or None, "params": {str: str}, "tags": {str: str},
"model_type": str or None, "step": int}`` (an older journal's info has the first three).
An ``"autolog": true`` in ``model_info`` marks the model of an autologged fit
(:mod:`tracelet.autologging`): MLflow created it before the fit, so it has none of the run's
params and no points are linked to it by its step; an ``l`` event names the model by its
``absolute_path`` and lists the run points (already delivered) that are also its metrics,
as ``mlflow.log_metrics(..., model_id=)`` stores them. Trackers without model metrics
ignore it.

A run file's ``name`` is its path among the run's files (``wandb.save``'s name for it,
see :mod:`tracelet.runfiles`); ``policy`` is ``"now"``, ``"live"`` or ``"end"``, or ``"dir"``
for a file the program wrote into ``experiment.dir`` (kept at the end). A file saved again
under the same name replaces the earlier one.

A row is what one ``wandb.log`` commit holds, kept whole so that a tracker with rows
(W&B) stores it as ``wandb.log`` would; the others receive its values as points.
``early`` lists the media keys W&B binds to the step before the row's, ``at`` (see
:class:`tracelet.log_steps.WandbStyleLog`). A seventh item ``"step"`` (:data:`OWN_STEP`)
marks a row whose step is the program's own, not W&B's row counter (what
``fabric.log_dict(metrics, step)`` hands Fabric's loggers, :mod:`tracelet.capture.fabric`):
W&B stores it as one row at its next ``_step`` with the step in a column, the others as
points at that step. Its values are numbers, or media
(:mod:`tracelet.media`), which the flusher turns into JSON descriptors with a
``"_type"`` (as it does the media of a ``v`` event).
"""

from __future__ import annotations

from typing import Final, NamedTuple

METRIC: Final = "m"
PARAMS: Final = "p"
TAGS: Final = "t"
ARTIFACT: Final = "a"
MODEL: Final = "o"
MODEL_METRICS: Final = "l"
FILE: Final = "f"
IMAGE: Final = "i"
HISTOGRAM: Final = "h"
#: a histogram event's sixth item: logged while a ``tracelet.log`` row was pending
#: (``experiment.watch``, as ``wandb.watch`` logs with ``commit=False``)
JOINS_ROW: Final = "row"
TEXT: Final = "x"
SUMMARY: Final = "s"
DEFINE_METRIC: Final = "d"
ROW: Final = "r"
#: a row event's seventh item: its step is the program's own (see above)
OWN_STEP: Final = "step"
MEDIA: Final = "v"
END: Final = "e"


class Point(NamedTuple):
    """One scalar point as backends receive it."""

    key: str
    value: float
    step: int
    wall_time: float


class SystemSample(NamedTuple):
    """One system-metrics sample, taken by the delivery agent (never journaled).

    ``index`` counts samples from 0, ``elapsed`` is seconds since sampling started and
    ``values`` maps the names of :mod:`tracelet.agent.system_metrics` to numbers.
    """

    index: int
    wall_time: float
    elapsed: float
    values: dict[str, float]
