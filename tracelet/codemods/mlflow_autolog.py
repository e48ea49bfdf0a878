"""``mlflow.pytorch.autolog(...)`` with a Lightning Trainer -> ``tracelet.autolog(...)``.

``tracelet.autolog`` (:mod:`tracelet.autologging`) stores for a Lightning fit what
MLflow's Lightning autologging stores, and keeps Lightning's own logging out of the run as
MLflow does. The call is rewritten when:

* the file imports a Lightning package (``lightning``, ``pytorch_lightning``, or
  lightning-flash, whose ``flash.Trainer`` is a ``pytorch_lightning.Trainer``); without one,
  the autologging is of SummaryWriter calls, which tracelet captures differently;
* the file writes to no SummaryWriter of its own (``SummaryWriter``,
  ``self.logger.experiment.add_*``): MLflow's autologging leaves those out of the run,
  tracelet's capture would put them in;
* the run is started in the file (``mlflow.start_run``): MLflow's autologging would start
  one by itself, ``tracelet.autolog`` logs only into a run started with ``start_logging``;
* every argument is a keyword ``tracelet.autolog`` takes, or one that changes nothing in
  the store (``silent``, ``log_datasets``: no dataset is logged for a Lightning fit), or a
  default (``exclusive=False``, ``log_every_n_step=None``,
  ``checkpoint_save_freq="epoch"``).
"""

from __future__ import annotations

import libcst as cst

from tracelet.codemods.cstutil import call_with, expr, literal

#: ``mlflow.pytorch.autolog`` keywords passed on unchanged.
PASSED = (
    "log_every_n_epoch", "log_models", "disable", "log_model_signatures", "checkpoint",
    "checkpoint_monitor", "checkpoint_mode", "checkpoint_save_best_only",
    "checkpoint_save_weights_only",
)  # fmt: skip
#: Keywords that change nothing MLflow stores for a Lightning fit: dropped.
DROPPED = ("silent", "log_datasets")
#: Keywords dropped when they have MLflow's default value, left otherwise.
DEFAULTS = {"exclusive": False, "log_every_n_step": None, "checkpoint_save_freq": "epoch"}
#: Why a keyword with another value (or one not named here) cannot be carried.
UNCARRIED = {
    "exclusive": "exclusive=True logs nothing into a run the program started itself",
    "log_every_n_step": "per-step metrics also come from every SummaryWriter's scalars",
    "checkpoint_save_freq": "checkpoints every N batches are not carried",
    "registered_model_name": "model registration is not carried",
    "extra_tags": "extra_tags are tags of runs that autologging starts itself",
    "disable_for_unsupported_versions": "MLflow's version check of Lightning is not carried",
}
LIGHTNING_ROOTS = ("lightning", "pytorch_lightning", "flash")
AUTOLOG_WITHOUT_RUN = (
    "mlflow.pytorch.autolog in a file that starts no MLflow run: MLflow's autologging "
    "starts one by itself at fit, tracelet.autolog only logs into a run started with "
    "tracelet.start_logging; start one around the fit"
)
REWRITE_REASON = (
    "tracelet.autolog records each Lightning fit as MLflow's autologging does (epoch "
    "metrics, optimizer params, model_summary.txt, the logged model)"
)


def autolog_problem(call: cst.Call, module: cst.Module, roots: set[str]) -> str | None:
    """Why ``mlflow.pytorch.autolog(...)`` stays, or None when it can be rewritten."""
    if not roots & set(LIGHTNING_ROOTS):
        return (
            "mlflow.pytorch.autolog without a Lightning Trainer in this file logs "
            "SummaryWriter scalars (with log_every_n_step) and add_hparams; tracelet "
            "captures every SummaryWriter call by itself: drop the call, or keep MLflow"
        )
    code = module.code
    if "SummaryWriter" in code or ".experiment.add_" in code:
        return (
            "mlflow.pytorch.autolog with a SummaryWriter of the file's own: MLflow's "
            "autologging leaves its calls out of the run, tracelet would capture them; "
            "keep MLflow here, or log through tracelet.autolog() and write the "
            "SummaryWriter calls only where they should reach the run"
        )
    for arg in call.args:
        name = arg.keyword.value if arg.keyword else None
        if name is None or arg.star:
            return "mlflow.pytorch.autolog with positional arguments: name them"
        if name in PASSED or name in DROPPED:
            continue
        if name in DEFAULTS and literal(arg.value) == DEFAULTS[name]:
            continue
        why = UNCARRIED.get(name, f"{name}= is not an argument tracelet.autolog carries")
        return f"mlflow.pytorch.autolog({name}=...): {why}; keep this file on MLflow"
    return None


def to_tracelet_autolog(updated: cst.CSTNode) -> cst.CSTNode:
    """The call, with the keywords ``tracelet.autolog`` takes."""
    assert isinstance(updated, cst.Call)
    kept = [(arg.keyword.value, arg) for arg in updated.args if arg.keyword.value in PASSED]
    return call_with(updated, expr("tracelet.autolog"), kept)


def imported_roots(module: cst.Module) -> set[str]:
    """The top-level packages the file imports."""
    roots: set[str] = set()

    class Imports(cst.CSTVisitor):
        def visit_Import(self, node: cst.Import) -> None:
            for alias in node.names:
                roots.add(module.code_for_node(alias.name).split(".")[0])

        def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
            if node.module is not None and not node.relative:
                roots.add(module.code_for_node(node.module).split(".")[0])

    module.visit(Imports())
    return roots
