"""``mlflow.set_tracking_uri`` moves into tracelet only while nothing in the program still
reads MLflow's own tracking URI (tracelet.codemods.mlflow_uri, decided over the program by
the runner)."""

from __future__ import annotations

from pathlib import Path

from tracelet.codemods import runner
from tracelet.codemods.report import KEPT, REWRITTEN

MLFLOW = runner.Options("mlflow", ["mlflow"])
SETTINGS = 'import mlflow\n\n\ndef configure():\n    mlflow.set_tracking_uri("sqlite:///runs.db")\n'
TRAIN = """\
import mlflow

import settings


def main():
    settings.configure()
    with mlflow.start_run():
        mlflow.log_metric("loss", 0.5, step=1){extra}
"""


def migrate(folder: Path, files: dict[str, str]) -> dict[str, tuple[list, str]]:
    for name, text in files.items():
        (folder / name).write_text(text)
    outcome = runner.migrate([folder], MLFLOW, jobs=1)
    new = {c.path.name: c.new.decode() for c in outcome.changes}
    return {
        Path(f.path).name: (f.entries, new.get(Path(f.path).name, files[Path(f.path).name]))
        for f in outcome.report.files
    }


def uri_entry(entries: list) -> object:
    [entry] = [e for e in entries if e.old.startswith("mlflow.set_tracking_uri")]
    return entry


def test_a_uri_set_in_another_module_becomes_the_default_of_later_runs(tmp_path: Path):
    files = migrate(tmp_path, {"settings.py": SETTINGS, "train.py": TRAIN.format(extra="")})
    entries, source = files["settings.py"]
    assert (uri_entry(entries).action, uri_entry(entries).rule) == (REWRITTEN, "ML020")
    assert 'tracelet.set_backend_options("mlflow", url="sqlite:///runs.db")' in source
    assert "mlflow." not in source and "import mlflow" not in files["train.py"][1]


def test_mlflow_code_left_in_another_module_keeps_the_uri(tmp_path: Path):
    extra = "\n    print(mlflow.MlflowClient().search_experiments())"
    files = migrate(tmp_path, {"settings.py": SETTINGS, "train.py": TRAIN.format(extra=extra)})
    entries, source = files["settings.py"]
    entry = uri_entry(entries)
    assert (entry.action, entry.rule) == (KEPT, "TL003")
    assert entry.reason.startswith(
        f"set_tracking_uri kept: {tmp_path / 'train.py'} keeps MLflow calls, which read it;"
    )
    assert source == SETTINGS
    train = files["train.py"][1]
    assert "tracelet.start_logging(backend=" in train and "mlflow.MlflowClient()" in train


def test_a_uri_no_given_module_starts_a_run_for_is_kept(tmp_path: Path):
    entries, source = migrate(tmp_path, {"settings.py": SETTINGS})["settings.py"]
    assert uri_entry(entries).action == KEPT
    assert "no module given starts the MLflow run" in uri_entry(entries).reason
    assert source == SETTINGS


def test_a_uri_set_before_the_run_in_its_function_is_carried_into_start_logging(
    tmp_path: Path,
):
    text = (
        "import mlflow\n\n\ndef main(uri):\n    mlflow.set_tracking_uri(uri)\n"
        "    with mlflow.start_run():\n        mlflow.log_param('a', 1)\n"
    )
    entries, source = migrate(tmp_path, {"train.py": text})["train.py"]
    assert uri_entry(entries).rule == "ML019"
    assert 'backend_options={"mlflow": {"url": uri}}' in source
    assert "set_tracking_uri" not in source and "set_backend_options" not in source


def test_uris_that_cannot_move_are_kept(tmp_path: Path):
    cases = {
        "after_start.py": "    with mlflow.start_run():\n        pass\n"
        '    mlflow.set_tracking_uri("sqlite:///b.db")\n'
        "    with mlflow.start_run():\n        pass\n",
        "reset.py": "    mlflow.set_tracking_uri(None)\n"
        "    with mlflow.start_run():\n        pass\n",
        "read.py": '    mlflow.set_tracking_uri("sqlite:///b.db")\n'
        "    with mlflow.start_run():\n        print(mlflow.get_artifact_uri())\n",
    }
    files = migrate(tmp_path, {n: f"import mlflow\n\n\ndef main():\n{b}" for n, b in cases.items()})
    reasons = {name: uri_entry(entries).reason for name, (entries, _) in files.items()}
    assert "called after the run started at line 5" in reasons["after_start.py"]
    assert "None or an empty URI" in reasons["reset.py"]
    assert "mlflow.get_artifact_uri() (line 7) still calls MLflow" in reasons["read.py"]
    for name, (_, source) in files.items():
        assert "mlflow.set_tracking_uri(" in source, name
        assert '{"mlflow": {"url": mlflow.get_tracking_uri()}}' in source, name
