"""tracelet: keep the TensorBoard API, choose the tracker in one line.

::

    import tracelet
    from torch.utils.tensorboard import SummaryWriter

    experiment = tracelet.start_logging(exp_name="baseline", project="mnist",
                                        backend=["mlflow", "wandb"], config={"lr": 0.01})
    writer = SummaryWriter()
    writer.add_scalar("Loss/Train", 0.25, 1)   # also reaches MLflow and W&B
    experiment.log_artifact("model.pth")
    tracelet.stop_logging()

Importing tracelet imports neither torch nor any tracker.
"""

from tracelet.agent.stop_report import StopReport
from tracelet.autologging import autolog
from tracelet.experiment import (
    Experiment,
    get_active_experiment,
    log,
    set_backend_options,
    start_logging,
    stop_logging,
)
from tracelet.media import Histogram, Image, Table

__version__ = "0.1.0"

__all__ = [
    "Experiment",
    "Histogram",
    "Image",
    "StopReport",
    "Table",
    "__version__",
    "autolog",
    "get_active_experiment",
    "log",
    "set_backend_options",
    "start_logging",
    "stop_logging",
]
