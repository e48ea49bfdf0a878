"""`make demo`: train a tiny CPU model with plain SummaryWriter code, routed by tracelet
into MLflow's local sqlite store, then read the run back and show what was recorded.

Everything is written under ./demo-output (MLflow's default store is ./mlflow.db in the
working directory, so the demo runs there).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from mlflow import MlflowClient
from mlflow.entities import RunInfo
from rich.console import Console
from rich.table import Table
from rich.text import Text
from torch import nn
from torch.utils.tensorboard import SummaryWriter

import tracelet
from tracelet.backends.mlflow import read_run

OUTPUT = Path(__file__).resolve().parent.parent / "demo-output"


def train(epochs: int = 20, batch_size: int = 32) -> nn.Module:
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    y = x @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = SummaryWriter("runs/demo")  # ordinary TensorBoard code from here on
    step = 0
    for epoch in range(epochs):
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            loss = nn.functional.mse_loss(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            writer.add_scalar("Loss/Train", loss, step)  # a tensor, as real code passes it
            step += 1
        with torch.no_grad():
            writer.add_scalar("Loss/Full", nn.functional.mse_loss(model(x), y), step)
        writer.add_histogram("Weights/First", model[0].weight, epoch)
    writer.add_text("summary", f"trained {epochs} epochs, {step} steps", step)
    writer.close()
    return model


def print_whole_lines(console: Console, text: str | Text) -> None:
    """Print ``text`` with each line whole, whatever the width: commands and paths in it
    must survive copy-paste. Without a terminal (CI logs, ``| tee``) rich would wrap them
    at 80 columns."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def main(output: Path = OUTPUT, epochs: int = 20) -> None:
    output.mkdir(exist_ok=True)
    os.chdir(output)
    console = Console()
    config = {"lr": 0.05, "batch_size": 32, "epochs": epochs, "model": {"hidden": 16}}
    experiment = tracelet.start_logging(
        exp_name="demo", project="tracelet-demo", backend="mlflow", config=config
    )
    model = train(epochs)
    torch.save(model.state_dict(), "model.pth")
    experiment.log_artifact("model.pth")
    report = tracelet.stop_logging()
    print_whole_lines(console, Text.assemble(("tracelet: ", "bold"), report.summary()))

    run_id = report.backends[0].tracker["run_id"]
    tables = read_run("sqlite:///mlflow.db", run_id)
    metrics = tables.metrics
    table = Table(title=f"Read back from MLflow (sqlite:///{output.name}/mlflow.db)")
    for column in ("key", "points", "steps", "last value"):
        table.add_column(column)
    for key, group in metrics.groupby("key", sort=True):
        steps = f"{group['step'].min()}..{group['step'].max()}"
        table.add_row(key, str(len(group)), steps, f"{group['value'].iloc[-1]:.5f}")
    console.print(table)
    console.print("params:", dict(zip(tables.params.key, tables.params.value, strict=True)))
    folders = tables.artifacts["name"].str.split("/").str[0].value_counts().sort_index()
    console.print("artifacts:", ", ".join(f"{name} ({count})" for name, count in folders.items()))
    print_whole_lines(
        console,
        "\nOpen it in the MLflow UI:\n"
        f"  {ui_command(output / 'mlflow.db')}\n"
        f"then browse {run_page(MlflowClient('sqlite:///mlflow.db').get_run(run_id).info)}",
    )


def ui_command(store: Path) -> str:
    return f".venv/bin/mlflow ui --backend-store-uri sqlite:///{store}"


def run_page(run: RunInfo, ui: str = "http://127.0.0.1:5000") -> str:
    """The run's page in the UI. MLflow 3's UI opens in its GenAI view (traces, none here);
    ``workflowType=machine_learning`` opens its Model training view, with the charts."""
    return f"{ui}/#/experiments/{run.experiment_id}/runs/{run.run_id}?workflowType=machine_learning"


if __name__ == "__main__":
    main()
