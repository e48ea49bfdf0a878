"""Media on the hot path: a 256x256 RGB image every step, training-thread cost per call.

    .venv/bin/python benchmarks/media_bench.py [--reps 5] [--steps 300] [--image noise|gradient]

Cases, each rep in a fresh subprocess with sandboxed stores (MLflow sqlite), in
alternating order:

* ``plain add_image``: ``SummaryWriter.add_image(tag, img, step, dataformats="HWC")``
  without tracelet (TensorBoard encodes the PNG on the calling thread);
* ``tracelet.log Image``: ``tracelet.log({"img": tracelet.Image(img)})`` on a running
  tracelet run (the flusher thread writes the pixels; the agent encodes);
* ``log_image``: ``experiment.log_image("img", img, step)``;
* ``tracelet.log Histogram``: ``tracelet.log({"h": tracelet.Histogram(img)})``, the
  frame's 196608 values binned into 64 buckets.

``--image noise`` (random pixels, the PNG encoder's worst case) or ``gradient`` (smooth,
cheap to compress). Each case logs a new array per step (a copy, as a training loop
makes a new tensor);
printed: the median µs per call over the reps and each case's ratio to plain add_image.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.runtime_bench import run_case

CASE = """
import json, time
import numpy as np
STEPS = {steps}
rng = np.random.default_rng(0)
if {image!r} == "noise":
    frames = [rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8) for _ in range(16)]
else:
    ramp = np.add.outer(np.arange(256), np.arange(256)) // 2
    frames = [np.stack([(ramp + i) % 256] * 3, axis=-1).astype(np.uint8) for i in range(16)]
def timed(call):
    t = time.perf_counter()
    for step in range(STEPS):
        call(frames[step % 16].copy(), step)
    return (time.perf_counter() - t) / STEPS * 1e6
case = {case!r}
if case == "plain add_image":
    from torch.utils.tensorboard import SummaryWriter
    writer = SummaryWriter("tb")
    result = timed(lambda img, step: writer.add_image("img", img, step, dataformats="HWC"))
    writer.close()
else:
    import tracelet
    experiment = tracelet.start_logging(exp_name="bench", project="bench", backend="mlflow",
                                        track_system=False, track_git=False)
    if case == "tracelet.log Image":
        result = timed(lambda img, step: tracelet.log({{"img": tracelet.Image(img)}}))
    elif case == "tracelet.log Histogram":
        result = timed(lambda img, step: tracelet.log({{"h": tracelet.Histogram(img)}}))
    else:
        result = timed(lambda img, step: experiment.log_image("img", img, step))
    tracelet.stop_logging()
print(json.dumps({{"us": result}}))
"""

CASES = ("plain add_image", "tracelet.log Image", "log_image", "tracelet.log Histogram")


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--image", choices=("noise", "gradient"), default="noise")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tracelet-media-bench-"))
    results: dict[str, list[float]] = {case: [] for case in CASES}
    for rep in range(args.reps):
        order = CASES if rep % 2 == 0 else CASES[::-1]
        for case in order:
            results[case].append(
                run_case(CASE.format(steps=args.steps, case=case, image=args.image), root)["us"]
            )
    plain = statistics.median(results["plain add_image"])
    for case in CASES:
        value = statistics.median(results[case])
        print(f"{case:20s} {value:10.1f} µs/call  x{value / plain:.4f} of plain add_image")


if __name__ == "__main__":
    main()
