"""Figures and images given to ``log_artifact``, written as files in the run folder.

``experiment.log_artifact(figure, name="plots/roc.png")`` writes the file that
``mlflow.log_figure(figure, "plots/roc.png")`` writes, and a PIL image or an image array
with an image file name the file ``mlflow.log_image(image, artifact_file=...)`` writes,
so every tracker stores the same bytes under that name:

===========================  ======================================================
object                       how
===========================  ======================================================
matplotlib ``Figure``        ``figure.savefig(path)``: no options, the format from
                             the name's suffix (any suffix matplotlib knows)
plotly ``Figure``            ``.html``: ``write_html(path, include_plotlyjs="cdn",
                             auto_open=False)``; ``.png .jpeg .webp .svg .pdf``:
                             ``write_image(path)`` (needs kaleido, as in MLflow)
PIL image                    ``image.save(path)``: the format from the name's suffix
numpy array                  to ``uint8`` as MLflow does (ints 0-255 kept; floats and
                             bools times 255, floats outside 0-1 min-max scaled first;
                             ``HxWx1`` squeezed), ``PIL.Image.fromarray``, then saved
                             as above (name ending in an image suffix, else ``.npy``)
===========================  ======================================================

Like the other objects, the file is written now, in the caller's thread: a later change
to the figure is not logged. Libraries are looked up in ``sys.modules``, never imported.
"""

from __future__ import annotations

import posixpath
import sys
import warnings
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
PLOTLY_IMAGE_SUFFIXES = (".png", ".jpeg", ".webp", ".svg", ".pdf")  # mlflow.log_figure's


def _instance(obj: Any, module: str, attribute: str) -> bool:
    owner = sys.modules.get(module)
    cls = getattr(owner, attribute, None) if owner is not None else None
    return cls is not None and isinstance(obj, cls)


def is_picture(obj: Any, name: str | None) -> bool:
    """Whether ``log_artifact(obj, name=name)`` stores ``obj`` as a figure or image file."""
    if _is_figure(obj):
        return True
    if _instance(obj, "PIL.Image", "Image"):  # without a suffix: an object (a .png)
        return bool(name) and bool(posixpath.splitext(name)[1])
    if not name or posixpath.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
        return False
    return _instance(obj, "numpy", "ndarray")


def write_picture(obj: Any, target: Path) -> None:
    """Write a figure or image (see :func:`is_picture`) to ``target``."""
    if _instance(obj, "matplotlib.figure", "Figure"):
        if not target.suffix:
            raise ValueError(
                f"log_artifact of a figure needs a name with a file suffix (.png, .svg, "
                f".pdf, ...), not {target.name!r}"
            )
        obj.savefig(target)
        return
    if _instance(obj, "plotly.graph_objects", "Figure"):
        _write_plotly(obj, target)
        return
    image = obj if _instance(obj, "PIL.Image", "Image") else _pil_from_array(obj)
    image.save(target)


def _is_figure(obj: Any) -> bool:
    return _instance(obj, "matplotlib.figure", "Figure") or _instance(
        obj, "plotly.graph_objects", "Figure"
    )


def _write_plotly(figure: Any, target: Path) -> None:
    if target.suffix == ".html":
        figure.write_html(target, include_plotlyjs="cdn", auto_open=False)
    elif target.suffix in PLOTLY_IMAGE_SUFFIXES:
        figure.write_image(target)
    else:
        raise TypeError(f"a plotly figure is saved as .html or {', '.join(PLOTLY_IMAGE_SUFFIXES)}")


def _pil_from_array(array: Any) -> Any:
    """The PIL image ``mlflow.log_image`` makes of an array (``convert_to_pil_image``)."""
    import numpy as np
    from PIL import Image

    if array.dtype.kind not in "biuf":
        raise TypeError(f"an image array must hold bools, ints or floats, not {array.dtype}")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(f"an image array is HxW or HxWxC (C 1, 3 or 4), not {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    is_int = np.issubdtype(array.dtype, np.integer)
    high = 255 if is_int else 1
    if array.min() < 0 or array.max() > high:
        if is_int:
            raise ValueError(
                f"integer pixel values must be within 0-255, found {array.min()}-{array.max()}"
            )
        warnings.warn(
            f"float pixel values outside 0-1 ({array.min()}-{array.max()}): scaled to 0-1 "
            "with min/max, as MLflow does",
            stacklevel=4,
        )
        array = (array - array.min()) / (array.max() - array.min())
    if not is_int:
        array = array * 255
    return Image.fromarray(array.astype(np.uint8))
