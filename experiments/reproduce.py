"""Regenerate the studies' figures, tables and report sections in results/.

    python experiments/reproduce.py [STUDY ...] [--rerun] [--tracking-uri URI]

Without --rerun it redraws every named study (all by default) from the runs already in the MLflow
store; with --rerun it first runs the study's presets (`python -m nnexp +experiment=PRESET`), which
record new sweeps, and then redraws from them. Each analysis reads the latest sweep of its
experiment, so what results/ holds is what the latest runs say.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# study -> (what --rerun runs: presets by name, or reference scripts in experiments/ (*.py); the analysis script)
STUDIES = {
    "width_sweep": (["width_sweep", "width_sweep_10class"], "width_sweep.py"),
    "wide_vs_deep": (["wide_vs_deep"], "wide_vs_deep.py"),
    "reproductions": (["trask_xor", "trask_2layer", "rashid_reference.py", "rashid_mnist", "rashid_mnist_exact"],
                      "reproductions.py"),
    "init_schemes": (["init_schemes", "init_schemes_deep", "init_schemes_fp32"], "init_schemes.py"),
    "activation_compare": (["activation_compare", "activation_compare_lr"], "activation_compare.py"),
    "loss_compare": (["loss_compare_neuron", "loss_compare_mnist"], "loss_compare.py"),
    "learning_rate": (["learning_rate", "learning_rate_ce"], "learning_rate.py"),
}


def run(cmd, env):
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate results/ from the MLflow store (--rerun: run the presets first).")
    parser.add_argument("studies", nargs="*", metavar="STUDY", help=f"default: all of {', '.join(STUDIES)}")
    parser.add_argument("--rerun", action="store_true", help="run the studies' presets before the analysis")
    parser.add_argument("--tracking-uri", default=None, help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    args = parser.parse_args(argv)
    unknown = [s for s in args.studies if s not in STUDIES]
    if unknown:
        print(f"reproduce: error: unknown study {unknown[0]!r}; available: {', '.join(STUDIES)}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if args.tracking_uri:
        env["MLFLOW_TRACKING_URI"] = args.tracking_uri
    for study in args.studies or list(STUDIES):
        presets, script = STUDIES[study]
        if args.rerun:
            for step in presets:
                cmd = ([sys.executable, str(ROOT / "experiments" / step)] if step.endswith(".py")
                       else [sys.executable, "-m", "nnexp", f"+experiment={step}"])
                if run(cmd, env) != 0:
                    print(f"reproduce: error: {step} failed; results/{study} left as it was", file=sys.stderr)
                    return 1
        if run([sys.executable, str(ROOT / "experiments" / script)], env) != 0:
            print(f"reproduce: error: the analysis of {study} failed", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
