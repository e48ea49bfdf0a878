"""Media values: ``tracelet.Image``, ``tracelet.Histogram``, ``tracelet.Table``.

They take the arguments real code passes to ``wandb.Image`` / ``wandb.Histogram`` /
``wandb.Table`` and are accepted as values of ``tracelet.log({...})`` (W&B's step
rules, in the same row as the scalars) and by ``experiment.log_image`` and friends.

Constructing one takes a snapshot of its data, as W&B's media types do, so changing
the array or tensor in place afterwards (an optimizer step) does not change what is
logged: an image's pixels are copied (a tensor with ``.detach().cpu().clone()``, an
array with ``.copy()``, a PIL image with ``.copy()``; a path or bytes need nothing), a
histogram's values are copied the same way (the flusher bins them with
``numpy.histogram`` exactly as ``wandb.Histogram`` bins them), and a table's cells
become JSON values. Encoding is left to others: the
router's flusher thread turns the value into a file in the run folder's ``media/``
(:func:`prepare`) and the journal carries a small JSON descriptor with a ``"_type"``:

=============  ===========================================================================
``image``      ``path`` of the pixels as given (``.npy`` for an array or tensor, ``.png``
               for a PIL image, the file itself for a path), ``source`` (``numpy``,
               ``torch``, ``pil``, ``file``), ``mode``, ``caption``
``histogram``  ``np_histogram`` as ``[counts, edges]`` lists and ``num_bins``; for
               raw values also ``sum`` and ``sum_squares`` (float64, of the values)
``table``      ``columns`` and ``data`` (lists of JSON values)
``list``       ``kind`` (the items' ``_type``, ``None`` for an empty list) and ``items``,
               one descriptor per value: a list (or tuple) of media of one kind logged
               under one key, ``tracelet.log({"examples": [tracelet.Image(x), ...]})``
=============  ===========================================================================

Each backend rebuilds the tracker's own media type from that (W&B: ``wandb.Image``
from the same array, mode and caption, so the stored PNG is byte for byte what
``wandb.Image`` on the original data stores).

Example:
    ```python
    import numpy as np
    import tracelet

    tracelet.start_logging(exp_name="gan", backend="wandb")
    tracelet.log({"loss": 0.3, "sample": tracelet.Image(np.zeros((64, 64, 3), np.uint8),
                                                       caption="epoch 1")})
    tracelet.log({"weights": tracelet.Histogram(np.random.randn(1000), num_bins=32)})
    tracelet.log({"preds": tracelet.Table(columns=["id", "label"], data=[[1, "cat"]])})
    tracelet.log({"examples": [tracelet.Image(x, caption=str(y)) for x, y in batch]})
    tracelet.stop_logging()
    ```

W&B stores a list as ``wandb.log`` stores a list of ``wandb.Image`` (one
``images/separated`` value with its files); the other trackers store its items as
``experiment.log_images`` does, under ``key/0``, ``key/1``, ...
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from tracelet.values import json_safe

IMAGE = "image"
HISTOGRAM = "histogram"
TABLE = "table"
LIST = "list"


class Media:
    """A media value handed to tracelet; subclasses say what it holds."""

    kind: str = ""

    def descriptor(self, media_dir: Path, stem: str) -> dict[str, Any]:
        """Write the files this value needs under ``media_dir`` (names start with
        ``stem``) and return its JSON descriptor, paths relative to the run folder."""
        raise NotImplementedError


class Image(Media):
    """An image, as ``wandb.Image(data_or_path, mode=None, caption=None)`` takes it.

    ``data_or_path``: a numpy array (HW, HWC; values 0-255, or floats W&B scales), a
    torch tensor (CHW, as ``wandb.Image`` reads it), a PIL image or an image file path.

    Example:
        ```python
        tracelet.log({"sample": tracelet.Image(batch[0], caption=f"epoch {epoch}")})
        tracelet.log({"mask": tracelet.Image(mask, mode="L")})
        tracelet.log({"plot": tracelet.Image("outputs/confusion.png")})
        ```
    """

    kind = IMAGE

    def __init__(self, data_or_path: Any, mode: str | None = None, caption: str | None = None):
        self.data_or_path = _pixels_snapshot(data_or_path)
        self.mode = mode
        self.caption = caption

    def descriptor(self, media_dir: Path, stem: str) -> dict[str, Any]:
        data = self.data_or_path
        base = {"_type": IMAGE, "mode": self.mode, "caption": self.caption}
        if isinstance(data, bytes):  # a PNG drawn by experiment.log_figure
            target = media_dir / f"{stem}.png"
            target.write_bytes(data)
            return {**base, "source": "file", "path": _relative(target)}
        if isinstance(data, str | Path):
            source = Path(data)
            target = media_dir / f"{stem}{source.suffix.lower() or '.png'}"
            shutil.copyfile(source, target)
            return {**base, "source": "file", "path": _relative(target)}
        if type(data).__module__.startswith("PIL."):
            target = media_dir / f"{stem}.png"
            data.save(target, format="PNG")
            return {**base, "source": "pil", "path": _relative(target)}
        is_torch = type(data).__module__.startswith("torch")
        array = data.numpy() if is_torch else data
        return {
            **base,
            "source": "torch" if is_torch else "numpy",
            "path": _save_array(media_dir / f"{stem}.npy", array),
        }


class Histogram(Media):
    """A histogram, as ``wandb.Histogram(sequence=None, np_histogram=None, num_bins=64)``
    takes it: raw values (copied now, binned into ``num_bins`` by ``numpy.histogram`` on the
    values' own dtype, as W&B bins them) or a ``(counts, edges)`` pair from
    ``numpy.histogram``.

    Example:
        ```python
        tracelet.log({"weights": tracelet.Histogram(model.fc.weight.detach(), num_bins=32)})
        tracelet.log({"lengths": tracelet.Histogram(np_histogram=np.histogram(lengths))})
        ```
    """

    kind = HISTOGRAM

    def __init__(self, sequence: Any = None, np_histogram: Any = None, num_bins: int = 64):
        if (sequence is None) == (np_histogram is None):
            raise ValueError("Histogram takes a sequence or an np_histogram, not both or neither")
        self.num_bins = int(num_bins)
        self.totals: tuple[float, float] | None = None  # sum and sum of squares of the values
        # A copy of the values now (a tensor changed in place later is not what was
        # logged); the binning, the costly part, is left to the flusher thread.
        self._values = _copied_values(sequence) if np_histogram is None else None
        self._np_histogram = None if np_histogram is None else _as_lists(np_histogram)

    @property
    def np_histogram(self) -> tuple[list, list]:
        """``(counts, edges)`` as ``numpy.histogram`` returns them, as lists."""
        if self._np_histogram is None:
            binned, self.totals = _binned(self._values, self.num_bins)
            self._np_histogram, self._values = _as_lists(binned), None
        return self._np_histogram

    def descriptor(self, media_dir: Path, stem: str) -> dict[str, Any]:
        counts, edges = self.np_histogram
        descriptor = {
            "_type": HISTOGRAM,
            "num_bins": self.num_bins,
            "np_histogram": [counts, edges],
        }
        if self.totals is not None:
            descriptor["sum"], descriptor["sum_squares"] = self.totals
        return descriptor


class Table(Media):
    """A table, as ``wandb.Table(columns=None, data=None, rows=None, dataframe=None)``
    takes it: ``data`` (or its older name ``rows``) is a list of rows; a pandas
    ``dataframe`` gives both columns and rows. Cells are kept as JSON values.

    Example:
        ```python
        tracelet.log({"preds": tracelet.Table(columns=["id", "label"], data=[[1, "cat"]])})
        tracelet.log({"by_class": tracelet.Table(dataframe=frame)})
        ```
    """

    kind = TABLE

    def __init__(
        self,
        columns: list[str] | None = None,
        data: Any = None,
        rows: Any = None,
        dataframe: Any = None,
    ):
        self.columns, self.data = table_cells(
            dataframe, columns, data if data is not None else rows
        )

    def descriptor(self, media_dir: Path, stem: str) -> dict[str, Any]:
        return {"_type": TABLE, "columns": self.columns, "data": self.data}


class MediaList(Media):
    """Media values of one kind logged under one key, as ``wandb.log`` takes a list of
    ``wandb.Image``; built by ``tracelet.log`` from the list it is given (see
    :func:`media_list`)."""

    kind = LIST

    def __init__(self, items: tuple[Media, ...]):
        self.items = items

    def descriptor(self, media_dir: Path, stem: str) -> dict[str, Any]:
        items = [item.descriptor(media_dir, f"{stem}-{i}") for i, item in enumerate(self.items)]
        kind = self.items[0].kind if self.items else None
        return {"_type": LIST, "kind": kind, "items": items}


def media_list(key: str, values: list | tuple) -> MediaList:
    """``values`` as one media value: the items, each the snapshot it took when it was
    made; they are encoded off the training thread.

    Raises:
        TypeError: ``values`` mixes media kinds, or holds something that is not media.
    """
    items = tuple(values)
    kind = type(items[0]) if items else Image
    if (
        not issubclass(kind, Media)
        or kind is MediaList
        or any(type(item) is not kind for item in items)
    ):
        found = ", ".join(sorted({type(item).__name__ for item in items}))
        raise TypeError(
            f"tracelet.log: {key!r} is a list of {found}; a list logged under one key holds "
            "media of one kind (all tracelet.Image, all tracelet.Histogram or all "
            "tracelet.Table): log the others under keys of their own"
        )
    return MediaList(items)


def is_media_list(values: Any) -> bool:
    """A list or tuple ``tracelet.log`` logs as media: empty (W&B stores ``[]``) or
    holding a media value. A list without media (numbers, strings) is not logged."""
    return isinstance(values, list | tuple) and (
        not values or any(isinstance(v, Media) for v in values)
    )


def items_of(descriptor: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(suffix, descriptor)`` of each value a descriptor holds: ``("", it)`` for one
    value, ``("/0", first), ("/1", second), ...`` for a list (``experiment.log_images``'s
    names)."""
    if descriptor.get("_type") == LIST:
        return [(f"/{i}", item) for i, item in enumerate(descriptor["items"])]
    return [("", descriptor)]


def kind_counts(descriptor: dict[str, Any]) -> dict[str, int]:
    """How many values of each ``_type`` a descriptor holds."""
    counts: dict[str, int] = {}
    for _, item in items_of(descriptor):
        counts[item["_type"]] = counts.get(item["_type"], 0) + 1
    return counts


def table_cells(dataframe: Any, columns: Any, data: Any) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of a table as JSON values; ``columns`` default ``0, 1, ...``."""
    if dataframe is not None:
        columns = [str(c) for c in dataframe.columns]
        data = dataframe.to_numpy().tolist()
    rows = [[json_safe(cell) for cell in row] for row in (data or [])]
    if columns is None:
        columns = [str(i) for i in range(max((len(r) for r in rows), default=0))]
    return [str(c) for c in columns], rows


def with_absolute_paths(value: Any, run_dir: Path) -> Any:
    """A media descriptor whose file paths (relative to the run folder in the journal) are
    absolute; any other value as it is."""
    if isinstance(value, dict) and value.get("_type") == LIST:
        return {**value, "items": [with_absolute_paths(v, run_dir) for v in value["items"]]}
    if isinstance(value, dict) and "path" in value:
        return {**value, "path": str(Path(run_dir) / value["path"])}
    return value


def prepare(value: Media, run_dir: Path, stem: str) -> dict[str, Any]:
    """The journal descriptor of ``value``; its files go to ``run_dir/media/``."""
    from tracelet.rundir import MEDIA_DIR

    media_dir = run_dir / MEDIA_DIR
    descriptor = value.descriptor(media_dir, stem)
    for _, item in items_of(descriptor):
        if "path" in item:
            item["path"] = f"{MEDIA_DIR}/{item['path']}"
    json.dumps(descriptor)  # refuse here, in the flusher, what the journal cannot hold
    return descriptor


def _pixels_snapshot(data: Any) -> Any:
    """A copy of an image's pixels that later in-place changes do not reach."""
    module = type(data).__module__
    if module.startswith("torch"):
        return data.detach().cpu().clone()
    if module.startswith(("numpy", "PIL.")):
        return data.copy()
    return data  # a path or PNG bytes: nothing to change in place


def _copied_values(sequence: Any) -> Any:
    """The values as they are now: a torch tensor cloned on the CPU, anything else a numpy
    array of its own."""
    if type(sequence).__module__.startswith("torch"):
        return sequence.detach().cpu().clone()
    import numpy as np

    return np.array(sequence, copy=True)


def _as_lists(np_histogram: Any) -> tuple[list, list]:
    return tuple(_json_list(part) for part in np_histogram)


def _binned(sequence: Any, num_bins: int) -> tuple[tuple[list, list], tuple[float, float]]:
    """``numpy.histogram(sequence, bins=num_bins)`` as ``wandb.Histogram`` computes it
    (on the values' dtype), with the float64 sum and sum of squares of the values."""
    import numpy as np

    if type(sequence).__module__.startswith("torch"):
        sequence = sequence.numpy()
    values = np.asarray(sequence)
    counts, edges = np.histogram(values, bins=num_bins)
    flat = values.astype(np.float64, copy=False).ravel()
    return (counts.tolist(), edges.tolist()), (float(flat.sum()), float(np.dot(flat, flat)))


def _json_list(values: Any) -> list[Any]:
    """``values`` (a list, an array, a tensor) as a list of JSON values."""
    return [json_safe(v) for v in (values.tolist() if hasattr(values, "tolist") else values)]


def _save_array(target: Path, array: Any) -> str:
    import numpy as np

    np.save(target, np.asarray(array), allow_pickle=False)
    return _relative(target)


def _relative(path: Path) -> str:
    return path.name


# -- reading descriptors back (delivery agent side) ------------------------------------------
def load_pixels(descriptor: dict[str, Any]) -> Any:
    """The image as it was given: a numpy array, a torch tensor (``source`` torch), or a
    PIL image (``pil``); a ``file`` image is its path."""
    source, path = descriptor["source"], descriptor["path"]
    if source == "file":
        return path
    if source == "pil":
        from PIL import Image as PILImage

        with PILImage.open(path) as opened:
            opened.load()
            return opened.copy()
    import numpy as np

    array = np.load(path, allow_pickle=False)
    if source == "torch":
        import torch

        return torch.from_numpy(array)
    return array


def png_file(descriptor: dict[str, Any]) -> str:
    """A PNG file of the image (written next to its ``.npy`` the first time): uint8
    pixels, HWC; floats in [0, 1] are scaled to 0-255 and a CHW tensor is transposed,
    as ``wandb.Image`` and ``SummaryWriter.add_image`` read them."""
    path = Path(descriptor["path"])
    if path.suffix.lower() == ".png":
        return str(path)
    target = path.with_suffix(".png")
    if not target.exists():
        # backends deliver in parallel threads: each writes its own file, then renames
        partial = target.with_name(f"{target.stem}.{threading.get_ident()}.partial.png")
        _encode_png(descriptor, path, partial)
        os.replace(partial, target)
    return str(target)


def _encode_png(descriptor: dict[str, Any], path: Path, target: Path) -> None:
    with pil_image(descriptor) as image:
        image.save(target, format="PNG")


def pil_image(descriptor: dict[str, Any]) -> Any:
    """The image as a PIL image, pixels as :func:`png_file` writes them."""
    import numpy as np
    from PIL import Image as PILImage

    path = Path(descriptor["path"])
    if descriptor["source"] in ("file", "pil"):
        with PILImage.open(path) as opened:
            opened.load()
            return opened.copy()
    array = np.load(path, allow_pickle=False)
    if descriptor["source"] == "torch" and array.ndim == 3:
        array = np.transpose(array, (1, 2, 0))
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype.kind == "f" and array.size and float(np.nanmax(array)) <= 1.0:
        array = array * 255.0
    pixels = np.clip(array, 0, 255).astype(np.uint8)
    return PILImage.fromarray(pixels, mode=descriptor.get("mode"))


def histogram_counts(descriptor: dict[str, Any]) -> tuple[list[float], list[float]]:
    """``(counts, edges)`` of a histogram descriptor, as floats."""
    counts, edges = descriptor["np_histogram"]
    return [float(c) for c in counts], [float(e) for e in edges]


def histogram_dict(descriptor: dict[str, Any]) -> dict[str, Any]:
    """The histogram in tracelet's event form (``bucket_limits``, ``bucket_counts``, ...,
    see :mod:`tracelet.events`); ``sum`` and ``sum_squares`` are those of the raw values
    when it was built from values, else from the bucket centres."""
    import numpy as np

    counts, edges = histogram_counts(descriptor)
    if "sum" in descriptor:
        total, squares = float(descriptor["sum"]), float(descriptor["sum_squares"])
    else:
        centres = (np.asarray(edges[:-1]) + np.asarray(edges[1:])) / 2
        total = float((centres * counts).sum())
        squares = float((centres**2 * counts).sum())
    return {
        "min": edges[0],
        "max": edges[-1],
        "num": float(sum(counts)),
        "sum": total,
        "sum_squares": squares,
        "bucket_limits": edges[1:],
        "bucket_counts": counts,
    }


def media_table_rows(key: str, step: int, descriptor: dict[str, Any]) -> list[tuple]:
    """The media table rows of a descriptor (a list's items as ``key/0``, ``key/1``, ...)."""
    return [media_row(f"{key}{suffix}", step, item) for suffix, item in items_of(descriptor)]


def media_row(key: str, step: int, descriptor: dict[str, Any]) -> tuple:
    """A media table row (see :mod:`tracelet.tables`) for a descriptor whose files are
    absolute paths; size and sha256 are those of tracelet's own file."""
    from tracelet import tables

    kind = descriptor["_type"]
    if kind == IMAGE:
        with pil_image(descriptor) as image:
            content = tables.image_content(image)
    elif kind == HISTOGRAM:
        counts, edges = histogram_counts(descriptor)
        content = tables.histogram_content(counts, edges[1:])
    else:
        content = tables.table_content(descriptor["columns"], descriptor["data"])
    if descriptor.get("path"):
        return tables.media_file_row(key, step, kind, descriptor["path"], content)
    return (key, int(step), kind, -1, "", content)
