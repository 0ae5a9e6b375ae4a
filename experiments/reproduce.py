"""Regenerate the studies' figures, tables and report sections in results/.

    python experiments/reproduce.py [STUDY ...] [--rerun] [--tracking-uri URI] [--results DIR]

Without --rerun it redraws every named study (all by default) from the runs already in the MLflow
store; with --rerun it first runs the study's presets (`python -m nnexp +experiment=PRESET`), which
record new sweeps, and then redraws from them. Each analysis reads the latest sweep of its
experiment, so what results/ holds is what the latest runs say.

A study whose runs are not in the store is not redrawn: one line says what is missing and the
command that makes it, and the other studies go on; the exit code is then 1 (0: every study
redrawn). A local store (SQLite file) that does not exist is one line too, and is not created.
The commands run in the repository's root, so a relative store (the default sqlite:///mlflow.db)
is the root's. --results DIR writes the figures, tables and report (DIR/README.md) under DIR
instead of results/, and reads (with --rerun writes) the seed's reference runs in
DIR/rashid_mnist/reference.json.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from nnexp.analysis import MISSING_RUNS_EXIT  # an analysis script's exit code when its runs are missing

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URI = "sqlite:///mlflow.db"  # as nnexp.tracking.resolve_uri

# study -> (what --rerun runs: presets by name, or reference scripts in experiments/ (*.py); the analysis script)
STUDIES = {
    "width_sweep": (["width_sweep", "width_sweep_10class"], "width_sweep.py"),
    "wide_vs_deep": (["wide_vs_deep"], "wide_vs_deep.py"),
    "reproductions": (["trask_xor", "trask_2layer", "rashid_reference.py", "rashid_mnist", "rashid_mnist_fp64",
                       "rashid_mnist_exact"], "reproductions.py"),
    "init_schemes": (["init_schemes", "init_schemes_deep", "init_schemes_fp32"], "init_schemes.py"),
    "activation_compare": (["activation_compare", "activation_compare_lr"], "activation_compare.py"),
    "loss_compare": (["loss_compare_neuron", "loss_compare_mnist"], "loss_compare.py"),
    "learning_rate": (["learning_rate", "learning_rate_ce"], "learning_rate.py"),
}


def reference_file(results):
    return Path(results) / "rashid_mnist" / "reference.json"


def step_cmd(step, args, python=sys.executable):
    """The command that makes a step's runs: a preset, or a reference script of experiments/."""
    if step.endswith(".py"):
        return ([python, str(Path("experiments") / step if python == "python" else ROOT / "experiments" / step)]
                + (["--out", str(reference_file(args.results))] if args.results and step == "rashid_reference.py" else []))
    return [python, "-m", "nnexp", f"+experiment={step}"] + ([f"tracking.uri={args.tracking_uri}"] if args.tracking_uri else [])


def analysis_cmd(study, args):
    script = STUDIES[study][1]
    cmd = [sys.executable, str(ROOT / "experiments" / script)]
    if args.results:
        cmd += ["--out", str(Path(args.results) / study), "--report", str(Path(args.results) / "README.md")]
        if study == "reproductions":
            cmd += ["--reference", str(reference_file(args.results))]
    return cmd


def run(cmd, env, **kwargs):
    print("$", shlex.join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, **kwargs)


def missing_store(uri):
    """The path of a local store (SQLite file, file: directory) that does not exist; None otherwise
    (it exists, or the store is a server)."""
    from urllib.parse import urlparse

    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):].split("?", 1)[0]
        if path in ("", ":memory:"):
            return None
    elif urlparse(uri).scheme == "file":
        path = urlparse(uri).path
    elif not urlparse(uri).scheme:  # a plain path: MLflow's file store
        path = uri
    else:
        return None
    p = Path(path)
    p = p if p.is_absolute() else ROOT / p  # the commands run in ROOT
    return None if p.exists() else p


def missing_line(study, stderr, uri, args):
    """reproduce's one line for a study whose analysis found its runs missing."""
    steps, script = STUDIES[study]
    tag = f"{Path(script).stem}: error: "
    lines = [ln for ln in stderr.splitlines() if ln.startswith(tag)] or [ln for ln in stderr.splitlines() if ln.strip()]
    msg = lines[-1][len(tag):] if lines and lines[-1].startswith(tag) else (lines[-1] if lines else "runs missing")
    msg = msg.replace("; run its preset first", "")
    msg = msg.replace("in the MLflow store", f"in {uri}", 1).replace(" in the MLflow store", "")
    if "experiment '" in msg and uri not in msg:
        msg += f" (store {uri})"
    named = [s for s in steps if f"'{s}'" in msg or (s.endswith(".py") and s in msg)] or steps
    again = ["python", "experiments/reproduce.py", study, "--rerun"]
    again += (["--tracking-uri", args.tracking_uri] if args.tracking_uri else []) + (
        ["--results", str(args.results)] if args.results else [])
    return (f"reproduce: {study}: {msg}; make them with: "
            + " && ".join(shlex.join(step_cmd(s, args, python="python")) for s in named)
            + f" (or: {shlex.join(again)})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate results/ from the MLflow store (--rerun: run the presets first).")
    parser.add_argument("studies", nargs="*", metavar="STUDY", help=f"default: all of {', '.join(STUDIES)}")
    parser.add_argument("--rerun", action="store_true", help="run the studies' presets before the analysis")
    parser.add_argument("--tracking-uri", default=None, help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    parser.add_argument("--results", type=Path, default=None,
                        help="write figures, tables and the report (DIR/README.md) under DIR instead of results/")
    args = parser.parse_args(argv)
    unknown = [s for s in args.studies if s not in STUDIES]
    if unknown:
        print(f"reproduce: error: unknown study {unknown[0]!r}; available: {', '.join(STUDIES)}", file=sys.stderr)
        return 2
    if args.results:
        args.results = args.results.resolve()
    env = dict(os.environ)
    if args.tracking_uri:
        env["MLFLOW_TRACKING_URI"] = args.tracking_uri
    uri = env.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    studies = args.studies or list(STUDIES)
    store = missing_store(uri)
    if store is not None and not args.rerun:
        again = ["python", "experiments/reproduce.py", *args.studies, "--rerun"] + (
            ["--tracking-uri", args.tracking_uri] if args.tracking_uri else [])
        print(f"reproduce: no MLflow store at {store} (tracking URI {uri}), so no runs to redraw from; make them "
              f"with: {shlex.join(again)} (or point --tracking-uri or MLFLOW_TRACKING_URI at the store that holds them)",
              file=sys.stderr)
        return 1
    missing, failed = [], []
    try:
        for study in studies:
            steps, _ = STUDIES[study]
            if args.rerun:
                bad = next((step for step in steps if run(step_cmd(step, args), env).returncode != 0), None)
                if bad is not None:
                    print(f"reproduce: error: {study}: {bad} failed; results/{study} left as it was", file=sys.stderr)
                    failed.append(study)
                    continue
            proc = run(analysis_cmd(study, args), env, stderr=subprocess.PIPE, text=True)
            if proc.returncode == MISSING_RUNS_EXIT:
                print(missing_line(study, proc.stderr, uri, args), file=sys.stderr, flush=True)
                missing.append(study)
                continue
            sys.stderr.write(proc.stderr)
            if proc.returncode != 0:
                print(f"reproduce: error: the analysis of {study} failed (exit code {proc.returncode})", file=sys.stderr)
                failed.append(study)
    except KeyboardInterrupt:
        print("reproduce: interrupted", file=sys.stderr)
        return 130
    if missing or failed:
        done = [s for s in studies if s not in missing and s not in failed]
        print(f"reproduce: {len(done)} of {len(studies)} studies redrawn"
              + (f"; runs missing: {', '.join(missing)}" if missing else "")
              + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
