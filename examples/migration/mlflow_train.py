"""Fit a line with mini-batch SGD and track it with MLflow, the way research code does.

Pure Python and seeded: two runs log exactly the same numbers. Run it, then migrate it::

    python examples/migration/mlflow_train.py
    tracelet migrate examples/migration/mlflow_train.py --from mlflow --to mlflow,wandb
"""

import argparse
import json
import os
import random

import mlflow
from mlflow import log_metric, log_params


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--experiment", default="tracelet-examples")
    parser.add_argument("--run-name", default="sgd")
    parser.add_argument("--out", default="outputs")
    return parser.parse_args(argv)


def make_data(rng, n=64, slope=2.0, intercept=-1.0):
    xs = [rng.uniform(-1.0, 1.0) for _ in range(n)]
    return [(x, slope * x + intercept + rng.gauss(0.0, 0.1)) for x in xs]


def mse(w, b, batch):
    return sum((w * x + b - y) ** 2 for x, y in batch) / len(batch)


def sgd_step(w, b, batch, lr):
    grad_w = sum(2 * (w * x + b - y) * x for x, y in batch) / len(batch)
    grad_b = sum(2 * (w * x + b - y) for x, y in batch) / len(batch)
    return w - lr * grad_w, b - lr * grad_b


def evaluate(w, b, val, epoch):
    loss = mse(w, b, val)
    log_metric("val_loss", loss, step=epoch)
    return loss


def save_model(w, b, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.json")
    with open(path, "w") as handle:
        json.dump({"w": w, "b": b}, handle, sort_keys=True)
    return path


def main():
    args = parse_args()
    rng = random.Random(args.seed)
    train, val = make_data(rng), make_data(rng, n=32)

    mlflow.set_experiment(args.experiment)
    with mlflow.start_run(run_name=args.run_name):
        log_params({"lr": args.lr, "batch_size": args.batch_size, "epochs": args.epochs})
        mlflow.log_param("seed", args.seed)
        mlflow.set_tag("model", "linear")
        w, b, step = 0.0, 0.0, 0
        for epoch in range(args.epochs):
            rng.shuffle(train)
            for start in range(0, len(train), args.batch_size):
                batch = train[start : start + args.batch_size]
                w, b = sgd_step(w, b, batch, args.lr)
                mlflow.log_metric("train_loss", mse(w, b, batch), step=step)
                step += 1
            evaluate(w, b, val, epoch)
            mlflow.log_metrics({"w": w, "b": b}, step=epoch)
        # no step: MLflow stores it at step 0
        mlflow.log_metric("final_val_loss", mse(w, b, val))
        model_path = save_model(w, b, args.out)
        mlflow.log_artifact(model_path, artifact_path="model")
    print(f"w={w:.4f} b={b:.4f}")


if __name__ == "__main__":
    main()
