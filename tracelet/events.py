"""Event shapes shared by the capture layer, the journal and the delivery agent.

Events are plain tuples (cheap to build on the training thread, JSON arrays in the
journal). The first item names the kind:

=====  =====================================================  ==========================
kind   tuple                                                  meaning
=====  =====================================================  ==========================
``m``  ``("m", key, value, step, wall_time)``                 one scalar point
``p``  ``("p", {key: value})``                                parameters (flat, JSON-able)
``t``  ``("t", {key: str})``                                  tags
``a``  ``("a", name, absolute_path)``                         a file or folder artifact
``i``  ``("i", key, step, wall_time, media_path)``            a PNG image (path in run dir)
``h``  ``("h", key, step, wall_time, histogram)``             a histogram (see below)
``x``  ``("x", key, step, wall_time, text)``                  a text record
``r``  ``("r", step, wall_time, {key: value}[, early])``      one committed ``tracelet.log`` row
``v``  ``("v", key, step, wall_time, media)``                 an ``experiment.log_image``... value
``e``  ``("e", status)``                                      end of run: FINISHED/FAILED/KILLED
=====  =====================================================  ==========================

A histogram is ``{"bucket_limits": [...], "bucket_counts": [...], "min", "max", "num",
"sum", "sum_squares"}``: ``bucket_limits`` holds the right edge of each bucket, as in
TensorBoard's ``HistogramProto``; ``min`` is the left edge of the first bucket.

A row is what one ``wandb.log`` commit holds, kept whole so that a tracker with rows
(W&B) stores it as ``wandb.log`` would; the others receive its values as points.
``early`` lists the media keys W&B binds to the step before the row's (see
:class:`tracelet.log_steps.WandbStyleLog`). Its values are numbers, or media
(:mod:`tracelet.media`), which the flusher turns into JSON descriptors with a
``"_type"`` (as it does the media of a ``v`` event).
"""

from __future__ import annotations

from typing import Final, NamedTuple

METRIC: Final = "m"
PARAMS: Final = "p"
TAGS: Final = "t"
ARTIFACT: Final = "a"
IMAGE: Final = "i"
HISTOGRAM: Final = "h"
TEXT: Final = "x"
ROW: Final = "r"
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
