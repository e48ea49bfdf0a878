"""Fit a tiny regression network with PyTorch Lightning and track it with ``MLFlowLogger``.

CPU only, seeded and small (a few seconds): two runs log exactly the same numbers. The
metrics come from ``self.log`` (per step, per epoch, ``on_step`` + ``on_epoch``, and a
validation loop), the params from ``save_hyperparameters()``, the tags from the logger.
Run it, then migrate it::

    python examples/migration/lightning_train.py --epochs 3
    tracelet migrate examples/migration/lightning_train.py --from lightning
    tracelet validate examples/migration/lightning_train.py --from lightning

``lightning_wandb_train.py`` is the same script with ``WandbLogger(offline=True)``.
"""

import argparse

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import MLFlowLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--hidden", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--experiment", default="tracelet-examples")
    parser.add_argument("--run-name", default="lightning-mlp")
    return parser.parse_args(argv)


class Regressor(pl.LightningModule):
    def __init__(self, lr=0.05, hidden=8):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        prediction = self(x)
        loss = nn.functional.mse_loss(prediction, y)
        self.log("train/loss", loss)
        self.log("train/mae", (prediction - y).abs().mean(), on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", nn.functional.mse_loss(self(x), y))

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test/loss", nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def make_loaders(seed, batch_size=16):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(192, 4, generator=generator)
    noise = 0.1 * torch.randn(192, 1, generator=generator)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5], [0.0]]) + noise
    shuffle = torch.Generator().manual_seed(seed)
    train = DataLoader(TensorDataset(x[:128], y[:128]), batch_size, shuffle=True, generator=shuffle)
    return train, DataLoader(TensorDataset(x[128:], y[128:]), batch_size)


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    train_loader, test_loader = make_loaders(args.seed)
    model = Regressor(lr=args.lr, hidden=args.hidden)

    mlf_logger = MLFlowLogger(
        experiment_name=args.experiment,
        run_name=args.run_name,
        tags={"model": "mlp"},
        log_model=False,
    )
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        limit_train_batches=8,
        log_every_n_steps=5,
        accelerator="cpu",
        devices=1,
        deterministic=True,
        logger=mlf_logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir="lightning_out",
    )
    trainer.fit(model, train_loader, test_loader)
    trainer.test(model, test_loader, verbose=False)
    print(f"test/loss={trainer.callback_metrics['test/loss'].item():.4f}")


if __name__ == "__main__":
    main()
