"""Fit a line with mini-batch SGD and report it to ClearML, the way research code does.

Pure Python and seeded: two runs log exactly the same numbers. The configuration is a
dict connected to the task (ClearML's usual style) and the logger is handed to helper
functions. Run it (``CLEARML_OFFLINE_MODE=1`` works without a server), then migrate it::

    python examples/migration/clearml_train.py
    tracelet migrate examples/migration/clearml_train.py --from clearml
"""

import json
import os
import random

from clearml import Logger, Task

CONFIG = {"epochs": 4, "lr": 0.05, "batch_size": 16, "seed": 0, "out": "outputs"}


def make_data(rng, n=64, slope=2.0, intercept=-1.0):
    xs = [rng.uniform(-1.0, 1.0) for _ in range(n)]
    return [(x, slope * x + intercept + rng.gauss(0.0, 0.1)) for x in xs]


def mse(w, b, batch):
    return sum((w * x + b - y) ** 2 for x, y in batch) / len(batch)


def sgd_step(w, b, batch, lr):
    grad_w = sum(2 * (w * x + b - y) * x for x, y in batch) / len(batch)
    grad_b = sum(2 * (w * x + b - y) for x, y in batch) / len(batch)
    return w - lr * grad_w, b - lr * grad_b


def train_epoch(w, b, train, cfg, logger, iteration):
    for start in range(0, len(train), cfg["batch_size"]):
        batch = train[start : start + cfg["batch_size"]]
        w, b = sgd_step(w, b, batch, cfg["lr"])
        logger.report_scalar("loss", "train_batch", value=mse(w, b, batch), iteration=iteration)
        iteration += 1
    return w, b, iteration


def report_validation(w, b, val, epoch):
    Logger.current_logger().report_scalar(
        title="loss", series="val", value=mse(w, b, val), iteration=epoch
    )


def main():
    task = Task.init(
        project_name="tracelet-examples",
        task_name="sgd",
        auto_connect_arg_parser=False,
        auto_resource_monitoring=False,
    )
    cfg = task.connect(dict(CONFIG))
    logger = task.get_logger()
    rng = random.Random(cfg["seed"])
    train, val = make_data(rng), make_data(rng, n=32)

    w, b, iteration = 0.0, 0.0, 0
    for epoch in range(cfg["epochs"]):
        rng.shuffle(train)
        w, b, iteration = train_epoch(w, b, train, cfg, logger, iteration)
        report_validation(w, b, val, epoch)
        logger.report_scalar("params", "w", w, epoch)
        logger.report_scalar("params", "b", b, epoch)
        # title == series: ClearML shows the plot "lr" with one line "lr", read back as "lr"
        logger.report_scalar("lr", "lr", cfg["lr"], epoch)
        logger.report_text(f"epoch {epoch}: w={w:.4f} b={b:.4f}")

    os.makedirs(cfg["out"], exist_ok=True)
    model_path = os.path.join(cfg["out"], "model.json")
    with open(model_path, "w") as handle:
        json.dump({"w": w, "b": b}, handle, sort_keys=True)
    task.upload_artifact("model", artifact_object=model_path)
    task.close()


if __name__ == "__main__":
    main()
