"""How much of real training code ``tracelet migrate`` rewrites: the corpus measurement.

Runs the migration (diff mode, nothing written to the corpus) over every entry of
``tests/fixtures/corpus/MANIFEST.json`` with ``--from`` its tracker, and reports:

* tracker call sites, counted twice: by the codemod's own report (``rewritten``, ``left``,
  ``held``, ``kept``; guarded imports are not call sites) and independently by
  ``benchmarks/corpus_sites.py`` (an ``ast`` scan that does not use the codemods), so that
  the denominator does not depend on what the codemod chose to look at;
* the share rewritten: codemod sites rewritten over the independent count (matched line
  by line), and over the codemod's own count;
* every site not rewritten, grouped by reason (the codemod's, or "not in the codemod's
  report" for a site only the scan found);
* crashes, outputs that do not parse, outputs a second migration changes (not idempotent);
* CPU seconds per entry in this process, and of the CLI in a fresh interpreter on the
  corpus file closest to 300 lines (start-up included).

Usage::

    .venv/bin/python benchmarks/corpus_bench.py     # table, and benchmarks/results/corpus.json
    .venv/bin/python benchmarks/corpus_bench.py --json out.json --no-cli --only 'clearml/*'

Exit code 1 when a migration crashed, produced code that does not parse, or is not
idempotent.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from corpus_sites import count_by_line, scan  # this script's folder is on sys.path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
RESULTS = Path(__file__).resolve().parent / "results" / "corpus.json"
SITE_ACTIONS = ("rewritten", "left", "held", "kept")
IMPORT_RULES = frozenset({"TL004"})  # an import kept for its guard is not a call site
CLI = "import sys; from tracelet.cli import main; sys.exit(main())"
CLI_LINES = (250, 350)  # the files the CLI is timed on (the target is 300 lines)
NOT_REPORTED = "not in the codemod's report (found by the independent scan)"


@dataclass
class EntryResult:
    """One corpus entry (a file or a program folder) after migration."""

    entry: str
    tracker: str
    repo: str
    lines: int
    cpu_s: float
    files: int = 0
    crashes: list[str] = field(default_factory=list)
    unparsable: list[str] = field(default_factory=list)
    not_idempotent: list[str] = field(default_factory=list)
    codemod: Counter[str] = field(default_factory=Counter)
    independent: int = 0
    rewritten_matched: int = 0
    not_reported: int = 0
    not_reported_sites: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)  # "left WB100", "held WB002", ...
    held_files: int = 0
    partial_program: bool = False  # some modules rewritten while others are held back

    def as_json(self) -> dict:
        return {
            "entry": self.entry,
            "tracker": self.tracker,
            "repo": self.repo,
            "files": self.files,
            "lines": self.lines,
            "cpu_s": round(self.cpu_s, 3),
            "crashes": self.crashes,
            "unparsable": self.unparsable,
            "not_idempotent": self.not_idempotent,
            "codemod_sites": dict(self.codemod),
            "independent_sites": self.independent,
            "rewritten_of_independent": self.rewritten_matched,
            "not_reported": self.not_reported,
            "not_reported_sites": self.not_reported_sites,
            "held_files": self.held_files,
            "partial_program": self.partial_program,
            "not_rewritten_by_reason": dict(self.reasons.most_common()),
            "not_rewritten_by_rule": dict(self.rules.most_common()),
        }


def load_manifest(corpus: Path = CORPUS) -> list[dict]:
    return json.loads((corpus / "MANIFEST.json").read_text(encoding="utf-8"))["entries"]


def reason_key(entry) -> str:
    """A reason with the specifics of one call site (line numbers, quoted names) removed,
    so that the same reason in different files groups together."""
    if entry.action == "held":
        return "held: the file keeps its tracker calls because another site in it is left"
    text = re.sub(r"`[^`]*`|'[^']*'|\"[^\"]*\"", "…", entry.reason or "(no reason given)")
    text = re.sub(r"\b(line|lines) [\d, .]+", r"\1 N", text)
    return f"{entry.action}: {entry.rule or '-'} {text}".strip()


def migrate_entry(item: dict, corpus: Path = CORPUS) -> EntryResult:
    """Migrate one entry in a scratch copy: first pass measured, second pass checks that
    the output is stable."""
    from tracelet.codemods import default_targets
    from tracelet.codemods.runner import Options, migrate

    tracker = item["tracker"]
    source = corpus / item["entry"]
    stored = [corpus / f["stored_as"] for f in item["files"]]
    result = EntryResult(
        item["entry"],
        tracker,
        item["repo"],
        sum(p.read_bytes().count(b"\n") for p in stored),
        0.0,
        files=len(stored),
    )
    options = Options(tracker, default_targets(tracker))
    with tempfile.TemporaryDirectory(prefix="tracelet-corpus-") as tmp:
        copy = Path(tmp) / source.name
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            shutil.copy2(source, copy)
        started = time.process_time()
        try:
            outcome = migrate([copy], options, mode="diff", jobs=1)
        except Exception as exc:  # the measurement reports a crash, it does not stop
            result.cpu_s = time.process_time() - started
            result.crashes.append(f"{type(exc).__name__}: {exc}")
            return result
        result.cpu_s = time.process_time() - started
        _count(result, outcome.report, copy, tracker)  # before the copy is overwritten
        result.partial_program = bool(
            item["kind"] == "program" and result.held_files and result.codemod["rewritten"]
        )
        for change in outcome.changes:
            change.path.write_bytes(change.new)
        for change in outcome.changes:
            try:
                ast.parse(change.new)
            except SyntaxError as exc:
                result.unparsable.append(f"{_rel(change.path, copy)}:{exc.lineno}: {exc.msg}")
        if outcome.changes:
            again = migrate([copy], options, mode="diff", jobs=1)
            result.not_idempotent += [_rel(c.path, copy) for c in again.changes]
            result.crashes += [
                f"{_rel(Path(f.path), copy)} (second pass): {f.error}"
                for f in again.report.files
                if f.error
            ]
    return result


def _rel(path: Path, copy: Path) -> str:
    return copy.name if path == copy else path.relative_to(copy).as_posix()


def _count(result: EntryResult, migration, copy: Path, tracker: str) -> None:
    by_path = {Path(f.path): f for f in migration.files}
    files = [copy] if copy.is_file() else sorted(copy.rglob("*.py"))
    for path in files:
        original = path.read_bytes()
        file_report = by_path.get(path)
        if file_report is not None and file_report.error:
            result.crashes.append(f"{_rel(path, copy)}: {file_report.error}")
        entries = [
            e
            for e in (file_report.entries if file_report else [])
            if e.action in SITE_ACTIONS and e.rule not in IMPORT_RULES
        ]
        result.held_files += bool(file_report and file_report.held)
        result.codemod.update(e.action for e in entries)
        for entry in entries:
            if entry.action != "rewritten":
                result.reasons[reason_key(entry)] += 1
                result.rules[f"{entry.action} {entry.rule or '-'}"] += 1
        _match(result, scan(original, tracker), entries, _rel(path, copy))


def _match(result: EntryResult, sites, entries, name: str) -> None:
    """Line by line: a scanned site is rewritten if the codemod rewrote a site on its line,
    and unreported if the codemod reported fewer sites on that line than the scan found."""
    independent = count_by_line(sites)
    rewritten = Counter(e.line for e in entries if e.action == "rewritten")
    reported = Counter(e.line for e in entries)
    result.independent += sum(independent.values())
    result.rewritten_matched += sum(min(n, rewritten[line]) for line, n in independent.items())
    missing = sum(max(0, n - reported[line]) for line, n in independent.items())
    result.not_reported += missing
    seen: Counter[int] = Counter()
    for site in sites:
        seen[site.line] += 1
        if seen[site.line] > reported[site.line]:
            result.not_reported_sites.append(f"{name}:{site.line} {site.kind} {site.code}")
    if missing:
        result.reasons[NOT_REPORTED] += missing


def cli_cpu(path: Path, tracker: str) -> float:
    """CPU seconds (user + system) of ``tracelet migrate PATH --from TRACKER`` in a fresh
    interpreter, start-up included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory(prefix="tracelet-corpus-cli-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copy2(path, copy)
        done = subprocess.run(
            [sys.executable, "-c", CLI, "migrate", str(copy), "--from", tracker],
            capture_output=True,
            check=False,
            cwd=ROOT,
        )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"tracelet migrate {path.name} failed:\n{done.stderr.decode()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def summarise(results: list[EntryResult]) -> dict:
    groups: dict[str, list[EntryResult]] = {}
    for r in results:
        groups.setdefault(r.tracker, []).append(r)
    groups["all"] = results
    table = {}
    for name, rows in groups.items():
        codemod = sum((r.codemod for r in rows), Counter())
        independent = sum(r.independent for r in rows)
        matched = sum(r.rewritten_matched for r in rows)
        table[name] = {
            "entries": len(rows),
            "files": sum(r.files for r in rows),
            "lines": sum(r.lines for r in rows),
            "independent_sites": independent,
            "rewritten": matched,
            "share_of_independent": round(matched / independent, 4) if independent else None,
            "codemod_sites": sum(codemod.values()),
            "codemod": {a: codemod[a] for a in SITE_ACTIONS},
            "share_of_codemod": (
                round(codemod["rewritten"] / sum(codemod.values()), 4)
                if sum(codemod.values())
                else None
            ),
            "not_reported": sum(r.not_reported for r in rows),
            "held_files": sum(r.held_files for r in rows),
            "partial_programs": sum(r.partial_program for r in rows),
            "crashes": sum(len(r.crashes) for r in rows),
            "unparsable": sum(len(r.unparsable) for r in rows),
            "not_idempotent": sum(len(r.not_idempotent) for r in rows),
        }
    reasons = sum((r.reasons for r in results), Counter())
    rules = sum((r.rules for r in results), Counter())
    cpu = [r.cpu_s for r in results]
    return {
        "by_tracker": table,
        "reasons": dict(reasons.most_common()),
        "rules": dict(rules.most_common()),
        "cpu_s": {
            "median": round(statistics.median(cpu), 3),
            "max": round(max(cpu), 3),
            "max_entry": max(results, key=lambda r: r.cpu_s).entry,
            "total": round(sum(cpu), 3),
        },
    }


def cli_runs(results: list[EntryResult], corpus: Path) -> list[dict]:
    """The CLI timed on every single-file entry of about 300 lines."""
    low, high = CLI_LINES
    return [
        {
            "entry": r.entry,
            "lines": r.lines,
            "cpu_s": round(cli_cpu(corpus / r.entry, r.tracker), 3),
            "in_process_cpu_s": round(r.cpu_s, 3),
        }
        for r in results
        if r.files == 1 and low <= r.lines <= high
    ]


def print_report(summary: dict, results: list[EntryResult], cli: list[dict]) -> None:
    print(
        "| tracker | entries | files | sites (scan) | rewritten | share | codemod sites "
        "(rewritten/left/held/kept) | share of codemod's | not reported | held files |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, row in summary["by_tracker"].items():
        c = row["codemod"]
        print(
            f"| {name} | {row['entries']} | {row['files']} | {row['independent_sites']} | "
            f"{row['rewritten']} | {_pct(row['share_of_independent'])} | "
            f"{row['codemod_sites']} ({c['rewritten']}/{c['left']}/{c['held']}/{c['kept']}) | "
            f"{_pct(row['share_of_codemod'])} | {row['not_reported']} | {row['held_files']} |"
        )
    total = summary["by_tracker"]["all"]
    print(
        f"\ncrashes {total['crashes']}, outputs that do not parse {total['unparsable']}, "
        f"not idempotent {total['not_idempotent']}; programs migrated in part "
        f"(some modules rewritten, others held back) {total['partial_programs']}"
    )
    for r in results:
        for problem in (
            *r.crashes,
            *r.unparsable,
            *(f"not idempotent: {p}" for p in r.not_idempotent),
        ):
            print(f"  {r.entry}: {problem}")
    print("\nsites not rewritten, by action and rule:")
    print("  " + ", ".join(f"{rule} {count}" for rule, count in summary["rules"].items()))
    print("\nsites not rewritten, by reason:")
    for reason, count in summary["reasons"].items():
        print(f"  {count:4d}  {reason}")
    cpu = summary["cpu_s"]
    print(
        f"\nCPU per entry in-process: median {cpu['median']:.2f} s, max {cpu['max']:.2f} s "
        f"({cpu['max_entry']}), total {cpu['total']:.1f} s"
    )
    for run in cli:
        print(
            f"CLI in a fresh interpreter, {run['entry']} ({run['lines']} lines): "
            f"{run['cpu_s']:.2f} s CPU, start-up included "
            f"(in-process {run['in_process_cpu_s']:.2f} s)"
        )
    print("\nper entry: sites (scan) / rewritten / codemod r-l-h-k / CPU s")
    for r in results:
        c = r.codemod
        print(
            f"  {r.entry}: {r.independent} / {r.rewritten_matched} / "
            f"{c['rewritten']}-{c['left']}-{c['held']}-{c['kept']} / {r.cpu_s:.2f}"
        )


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def run(
    corpus: Path = CORPUS, with_cli: bool = True, only: list[str] | None = None
) -> tuple[dict, list[EntryResult]]:
    manifest = load_manifest(corpus)
    if only:
        manifest = [m for m in manifest if any(fnmatch.fnmatch(m["entry"], p) for p in only)]
        if not manifest:
            raise SystemExit(f"no corpus entry matches {', '.join(only)}")
    migrate_entry(manifest[0], corpus)  # warm-up: imports and libcst's first parse untimed
    results = [migrate_entry(item, corpus) for item in manifest]
    summary = summarise(results)
    summary["cli_300_lines"] = cli_runs(results, corpus) if with_cli else []
    summary["entries"] = [r.as_json() for r in results]
    return summary, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=str(RESULTS), help="where to write the results")
    parser.add_argument("--no-cli", action="store_true", help="skip the fresh-interpreter run")
    parser.add_argument(
        "--only",
        action="append",
        metavar="GLOB",
        help="measure only the entries matching this glob (repeatable), e.g. 'mlflow/*'",
    )
    args = parser.parse_args()
    summary, results = run(with_cli=not args.no_cli, only=args.only)
    print_report(summary, results, summary["cli_300_lines"])
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nresults written to {out}")
    total = summary["by_tracker"]["all"]
    return int(bool(total["crashes"] or total["unparsable"] or total["not_idempotent"]))


if __name__ == "__main__":
    raise SystemExit(main())
