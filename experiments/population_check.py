"""Check recorded population members against the same jobs trained alone.

    python experiments/population_check.py EXPERIMENT [EXPERIMENT ...] [--per 2] [--tracking-uri URI]

For up to --per runs of each experiment that trained in a population (tag nnexp.population > 1),
the job is composed again from its recorded overrides (tag nnexp.overrides), trained alone in this
process without tracking, and every metric it logged (all but time/*) is compared value by value,
bit for bit, with the member's recorded history. Exit 0 when every member is identical, 1 otherwise.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def same(a, b) -> bool:
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b))


def check(row, uri) -> list[str]:
    """The metrics whose history differs between the recorded member `row` and the job alone."""
    from hydra import compose, initialize_config_dir

    from nnexp.experiment import run
    from nnexp.tracking import histories

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*row["tags.nnexp.overrides"].split(" "), "tracking=none",
                                           "trainer.progress=false"])
    alone = run(cfg, progress=False)["history"]
    keys = sorted(k[len("metrics."):] for k in row.index
                  if k.startswith("metrics.") and not k.startswith("metrics.time/") and row[k] == row[k])
    logged = histories([row.run_id], keys, uri).sort_values(["key", "step"])
    return [k for k in keys if not same(list(logged[logged.key == k].value), [m[k] for m in alone if k in m])]


def main(argv=None) -> int:
    from nnexp.tracking import load_runs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="+")
    parser.add_argument("--per", type=int, default=2, help="members checked per experiment")
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args(argv)
    checked = differ = 0
    for exp in args.experiments:
        runs = load_runs(exp, args.tracking_uri)
        if "tags.nnexp.population" not in runs:
            print(f"{exp}: no population members")
            continue
        members = runs[runs["tags.nnexp.population"].fillna("1") != "1"]
        for _, row in members.sample(min(args.per, len(members)), random_state=0).iterrows():
            bad = check(row, args.tracking_uri)
            checked, differ = checked + 1, differ + bool(bad)
            print(f"{exp}: {row['tags.mlflow.runName']} (population of {row['tags.nnexp.population']}): "
                  + (f"DIFFERENT in {', '.join(bad)}" if bad else "identical to the job alone"), flush=True)
    print(f"{checked - differ} of {checked} members identical to the job alone")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
