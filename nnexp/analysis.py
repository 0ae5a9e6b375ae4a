"""Helpers shared by the study scripts in experiments/: load a sweep from MLflow, aggregate over
seeds with t confidence intervals, draw with seaborn, and write a section of results/README.md.

Analysis never retrains: everything here reads what the runs recorded.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from .tracking.read import histories, load_runs  # noqa: F401 (histories: for the study scripts)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
REPORT = RESULTS / "README.md"


MISSING_RUNS_EXIT = 3  # exit code of an analysis script whose runs (or reference file) are not recorded


class MissingRuns(LookupError):
    """What an analysis reads is not recorded: no runs or no sweep of an experiment, or no reference file."""


def run_script(name: str, main, argv=None) -> int:
    """An analysis script's `__main__` block: `sys.exit(run_script("width_sweep", main))`.

    Runs main(argv). Missing runs (MissingRuns, or the plain LookupError of latest_sweep and
    latest_run; a KeyError or IndexError is a bug and propagates) end as one line
    `name: error: ...` on stderr and exit code MISSING_RUNS_EXIT, no traceback. Otherwise the exit
    code is main's return value if it is an int, else 0. MLflow's own warning for an experiment that
    does not exist is silenced: that line, or the script's note on a part left out, says it."""
    import logging
    import sys

    logging.getLogger("mlflow.tracking.fluent").setLevel(logging.ERROR)
    try:
        result = main(argv)
    except LookupError as e:
        if not (type(e) is LookupError or isinstance(e, MissingRuns)):
            raise
        print(f"{name}: error: {e}", file=sys.stderr)
        return MISSING_RUNS_EXIT
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def latest_sweep(experiment: str, tracking_uri=None):
    """The job runs of the most recent sweep (parent run) of `experiment`, as a DataFrame.

    Columns: run_id, status, and MLflow's `params.*`, `metrics.*` (last values), `tags.*`.
    Raises LookupError when the experiment or its sweep is missing.
    """
    runs = load_runs(experiment, tracking_uri)
    if runs is None or len(runs) == 0:
        raise LookupError(f"no runs of experiment {experiment!r} in the MLflow store; run its preset first")
    parent_col = "tags.mlflow.parentRunId"
    if parent_col not in runs:
        raise LookupError(f"experiment {experiment!r} holds no sweep (no child runs)")
    parents = runs[runs[parent_col].isna()].sort_values("start_time")
    for parent in reversed(list(parents.run_id)):
        jobs = runs[runs[parent_col] == parent]
        if len(jobs):
            return jobs.reset_index(drop=True)
    raise LookupError(f"experiment {experiment!r} holds no sweep with jobs")


def latest_run(experiment: str, tracking_uri=None):
    """The most recent single run (not part of a sweep) of `experiment`, as a row (pandas Series)."""
    runs = load_runs(experiment, tracking_uri)
    if runs is None or len(runs) == 0:
        raise LookupError(f"no runs of experiment {experiment!r} in the MLflow store; run its preset first")
    if "tags.mlflow.parentRunId" in runs:
        runs = runs[runs["tags.mlflow.parentRunId"].isna()]
    return runs.sort_values("start_time").iloc[-1]


def column(runs, name, default=np.nan):
    """Column `name` of MLflow's runs frame, or `default` on every row when no run recorded it (MLflow
    leaves out a params./metrics./tags. column that no run has)."""
    import pandas as pd

    return runs[name] if name in runs else pd.Series(default, index=runs.index)


def curves(runs, keys, tracking_uri=None):
    """Wide per-evaluation frame: run_id, step, one column per metric key (its last value at that
    step), joined with the columns of `runs` (a tidy frame with run_id)."""
    h = histories(list(runs.run_id), keys, tracking_uri).groupby(["run_id", "step", "key"]).value.last().unstack("key")
    return h.reset_index().rename_axis(columns=None).merge(runs, on="run_id")


def t_interval(values, level=0.95):
    """(low, high) of the t confidence interval of the mean; (mean, mean) for one value."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return (math.nan, math.nan)
    m = x.mean()
    if len(x) < 2:
        return (m, m)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return (m - half, m + half)


def summarise(df, by, value):
    """Mean, 95% CI and count of `value` per group of `by` columns (a tidy DataFrame)."""
    rows = []
    for key, group in df.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        lo, hi = t_interval(group[value])
        rows.append({**dict(zip(by, key)), "n_seeds": int(group[value].notna().sum()),
                     "mean": float(group[value].mean()), "ci_low": lo, "ci_high": hi})
    import pandas as pd

    return pd.DataFrame(rows)


def fmt_ci(mean, lo, hi, scale=100, digits=1):
    """'97.3 ± 0.4' in percent by default (half-width of the CI)."""
    if not math.isfinite(mean):
        return "n/a"
    half = (hi - lo) / 2 * scale if math.isfinite(hi) else math.nan
    return f"{mean * scale:.{digits}f} ± {half:.{digits}f}"


def figure(*args, **kwargs):
    """A matplotlib figure with the Agg backend and seaborn's style (imports are lazy)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt.subplots(*args, **kwargs, constrained_layout=True)


def save(fig, path: Path):
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def study_parser(doc: str, report: Path = REPORT, **experiments):
    """The analysis scripts' command line: one --NAME option per experiment they read (a default, or
    (default, help): ten_class_experiment="width_sweep_10class"), --tracking-uri, --out (None: the
    script's results/<study>) and --report."""
    import argparse

    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, value in experiments.items():
        default, help_ = value if isinstance(value, tuple) else (value, None)
        p.add_argument("--" + name.replace("_", "-"), default=default, help=help_)
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--report", type=Path, default=report)
    return p


def report_link(path: Path, report: Path) -> str:
    """`path` as the report (a Markdown file) links to it: relative to the report's directory."""
    import os

    return Path(os.path.relpath(Path(path).resolve(), Path(report).resolve().parent)).as_posix()


def write_section(study: str, markdown: str, report: Path = REPORT):
    """Replace (or append) the section between `<!-- BEGIN study -->` and `<!-- END study -->`."""
    begin, end = f"<!-- BEGIN {study} -->", f"<!-- END {study} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = report.read_text() if report.exists() else "# nnexp results\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text)


def markdown_table(df, floatfmt=None) -> str:
    """A GitHub Markdown table of a DataFrame (no extra dependency)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = [(floatfmt or "{:.4g}").format(v) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
