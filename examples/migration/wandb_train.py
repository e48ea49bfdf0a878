"""Fit a line with mini-batch SGD and log it to Weights & Biases, the way research code does.

Pure Python and seeded: two runs log exactly the same numbers. Run it, then migrate it::

    python examples/migration/wandb_train.py --epochs 3
    tracelet migrate examples/migration/wandb_train.py --from wandb
"""

import argparse
import random

try:
    import wandb as wb
except ImportError:  # tracking stays optional
    wb = None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--project", default="tracelet-examples")
    parser.add_argument("--wandb", action=argparse.BooleanOptionalAction, default=True)
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


def log_metrics(metrics, commit=None):
    """Log to W&B when a run is active (the training loop does not care)."""
    if wb is not None and wb.run is not None:
        wb.log(metrics, commit=commit)


def main():
    args = parse_args()
    rng = random.Random(args.seed)
    train, val = make_data(rng), make_data(rng, n=32)
    if args.wandb and wb is not None:
        wb.init(project=args.project, name=f"sgd-lr{args.lr}", config=vars(args))
        wb.config.update({"train_size": len(train), "val_size": len(val)})

    w, b = 0.0, 0.0
    for epoch in range(args.epochs):
        rng.shuffle(train)
        for start in range(0, len(train), args.batch_size):
            batch = train[start : start + args.batch_size]
            w, b = sgd_step(w, b, batch, args.lr)
            log_metrics({"train/batch_loss": mse(w, b, batch)})
        # the epoch's numbers go into one row: lr is merged into the next committed log
        log_metrics({"lr": args.lr}, commit=False)
        log_metrics({"train/loss": mse(w, b, train), "val/loss": mse(w, b, val), "epoch": epoch})

    if wb is not None and wb.run is not None:
        wb.log({"params": {"w": w, "b": b}})
        wb.finish()
    print(f"w={w:.4f} b={b:.4f}")


if __name__ == "__main__":
    main()
