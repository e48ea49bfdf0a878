"""The measurement corpus (tests/fixtures/corpus) and its benchmark, benchmarks/corpus_bench.py.

The share of call sites rewritten is a figure (benchmarks/README.md), not an assertion:
the codemods are changed in parallel, and a rewrite that would change what a tracker
stores must become a call site left with its reason, which lowers the share. What is
asserted is what must hold for any codemod: no crash, every output parses, a second
migration changes nothing, every site not rewritten has a reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.corpus_sites import scan

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
BENCH = ROOT / "benchmarks" / "corpus_bench.py"


def _manifest() -> list[dict]:
    return json.loads((CORPUS / "MANIFEST.json").read_text(encoding="utf-8"))["entries"]


def _bench(tmp_path: Path, *only: str) -> dict:
    out = tmp_path / "corpus.json"
    args = [sys.executable, str(BENCH), "--no-cli", "--json", str(out)]
    for pattern in only:
        args += ["--only", pattern]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def _assert_sound(results: dict) -> None:
    total = results["by_tracker"]["all"]
    problems = {
        e["entry"]: e["crashes"] + e["unparsable"] + e["not_idempotent"]
        for e in results["entries"]
        if e["crashes"] or e["unparsable"] or e["not_idempotent"]
    }
    assert problems == {}
    assert (total["crashes"], total["unparsable"], total["not_idempotent"]) == (0, 0, 0)
    assert not any("(no reason given)" in reason for reason in results["reasons"])


def test_corpus_files_are_verbatim_copies_of_the_manifest_blobs():
    entries = _manifest()
    assert len(entries) >= 40
    for entry in entries:
        assert len(entry["commit"]) == 40 and int(entry["commit"], 16) >= 0
        for item in entry["files"]:
            data = (CORPUS / item["stored_as"]).read_bytes()
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            assert blob == item["blob"], item["stored_as"]
    stored = {f["stored_as"] for e in entries for f in e["files"]}
    on_disk = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.py")}
    assert on_disk == stored


def test_scan_counts_handles_references_and_nested_media():
    source = """
import wandb
from clearml import Task

class Trainer:
    def __init__(self, args):
        self.wandb_run = wandb.init(project="p") if args.wandb else None

    def step(self, image, loss):
        self.wandb_run.log({"loss": loss, "image": wandb.Image(image)})
        self.wandb_run.summary["best"] = loss

assert hasattr(wandb, "__version__")
"""
    sites = scan(source, "wandb")
    assert [(s.line, s.kind) for s in sites] == [
        (7, "call"),
        (10, "call"),
        (10, "call"),
        (11, "attribute"),
        (13, "reference"),
    ]
    assert scan(source, "clearml") == []


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_bench_on_a_program_a_file_rewritten_and_a_file_left(tmp_path):
    results = _bench(
        tmp_path,
        "wandb/huggingface__pytorch-image-models/",
        "mlflow/DataTalksClub__mlops-zoomcamp__cohorts__2024__*",
        "clearml/allegroai__clearml__examples__reporting__image_reporting.py",
    )
    _assert_sound(results)
    by_entry = {e["entry"]: e for e in results["entries"]}
    assert {k: v["independent_sites"] for k, v in by_entry.items()} == {
        "wandb/huggingface__pytorch-image-models/": 2,
        "mlflow/DataTalksClub__mlops-zoomcamp__cohorts__2024__02-experiment-tracking"
        "__solution__hpo.py": 5,
        "clearml/allegroai__clearml__examples__reporting__image_reporting.py": 8,
    }
    assert results["by_tracker"]["all"]["independent_sites"] == 15
    # every site of hpo.py, its set_tracking_uri too (tracelet.set_backend_options)
    hpo = by_entry[
        "mlflow/DataTalksClub__mlops-zoomcamp__cohorts__2024__02-experiment-tracking"
        "__solution__hpo.py"
    ]
    assert hpo["rewritten_of_independent"] == 5


@pytest.mark.slow
def test_bench_over_the_whole_corpus(tmp_path):
    results = _bench(tmp_path)
    _assert_sound(results)
    assert len(results["entries"]) == len(_manifest())
    assert results["by_tracker"]["all"]["independent_sites"] >= 240
    by_entry = {e["entry"]: e for e in results["entries"]}
    # big_bird: train.py hands the run to bigbird_flax.Trainer (a dataclass field), both
    # migrated together: wandb.init, logger.config, wandb.run.id and the `logger: wandb` field
    big_bird = by_entry["wandb/huggingface__transformers-research-projects/"]
    assert (big_bird["independent_sites"], big_bird["rewritten_of_independent"]) == (4, 4)
