"""Study 1 of seed 002: how many hidden nodes does a network need?

Reads the latest `width_sweep` sweep (81-n-2 on MNIST 0/1, seed 002's protocol) and, when present,
the latest `width_sweep_10class` sweep (784-n-10 on the MNIST subset, 64-n-10 on digits) from
MLflow, aggregates over seeds (mean, t-based 95% CI) and writes results/width_sweep/: figures,
summary.csv and its section of results/README.md. It never retrains.

    python experiments/width_sweep.py [--tracking-uri URI] [--out DIR] [--report FILE]
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nnexp.analysis import (study_parser, RESULTS, REPORT, figure, fmt_ci, histories, latest_sweep, markdown_table, save,
                            summarise, t_interval, write_section)

SEED_MS_PER_NODE = 16.44  # seed 002: time per batch grows by ~16.44 ms per node above 20 nodes
SEED_N2_ACC = 0.93  # seed 002: "n = 2 already reaches ~93%"
N_IN, N_OUT = 81, 2


def rules_of_thumb(n_train: int) -> dict:
    """Seed 002's heuristics for the hidden-node count s (m inputs, n outputs, N training samples)."""
    m, n = N_IN, N_OUT
    return {"s = log2 N": math.log2(n_train), "s = 2m + 1": 2 * m + 1,
            "s = sqrt(0.43mn + 0.12n² + 2.54m + 0.77n + 0.35) + 0.51":
                math.sqrt(0.43 * m * n + 0.12 * n * n + 2.54 * m + 0.77 * n + 0.35) + 0.51}


def width_of(hidden: str) -> int:
    return int(hidden.strip("[]").split(",")[0])


def load(experiment, uri):
    """One row per run: width, seed, final test accuracy, median time per batch (ms), status."""
    runs = latest_sweep(experiment, uri)
    steps = histories(list(runs.run_id), ["time/step_ms"], uri)
    ms = steps.groupby("run_id").value.median()  # median over the 20 intervals: robust to a busy moment
    return pd.DataFrame({
        "run_id": runs.run_id, "dataset": runs["params.dataset.name"],
        "width": runs["params.model.hidden"].map(width_of), "seed": runs["params.seed"].astype(int),
        "test_acc": runs["metrics.test/acc"], "train_s": runs["metrics.time/train_s"],
        "ms_per_batch": runs.run_id.map(ms), "status": runs.status,
        "n_train": runs.get("tags.nnexp.n_train"),
    })


def knee(x, y):
    """Kneedle's knee (Satopää et al. 2011) on a log-n axis, as the figure shows the curve: the
    point farthest below the chord from the first to the last point, both axes scaled to [0, 1]
    — where the time curve stops being flat and turns upwards."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    lx = np.log2(x)
    xn, yn = (lx - lx.min()) / np.ptp(lx), (y - y.min()) / np.ptp(y)
    return float(x[np.argmax(xn - yn)])


def linear_fit(df, above=20):
    """ms per batch = a + b·n fitted to the per-seed points with n > above; returns b, its 95% CI, a."""
    from scipy import stats

    part = df[df.width > above].dropna(subset=["ms_per_batch"])
    fit = stats.linregress(part.width, part.ms_per_batch)
    half = stats.t.ppf(0.975, len(part) - 2) * fit.stderr
    return fit.slope, (fit.slope - half, fit.slope + half), fit.intercept


def smallest_sufficient(summary, points=0.01):
    """The smallest width whose mean accuracy is within `points` of the best mean."""
    best = summary["mean"].max()
    return int(summary[summary["mean"] >= best - points].width.min()), best


def plot_binary(acc, ms, runs, out):
    fig, (ax1, ax2) = figure(1, 2, figsize=(13, 4.8))
    for ax, s, label in ((ax1, acc, "test accuracy (%)"), (ax2, ms, "time per batch (ms)")):
        scale = 100 if s is acc else 1
        ax.errorbar(s.width, s["mean"] * scale, yerr=[(s["mean"] - s.ci_low) * scale, (s.ci_high - s["mean"]) * scale],
                    marker="o", capsize=3, label="nnexp, mean ± 95% CI")
        ax.set(xscale="log", xlabel="hidden nodes n (81-n-2 network)", ylabel=label)
    n_train = int(runs.n_train.dropna().astype(int).iloc[0]) if runs.n_train.notna().any() else 1531
    for (name, s_value), style in zip(rules_of_thumb(n_train).items(), (":", "--", "-.")):
        ax1.axvline(s_value, color="grey", ls=style, label=f"{name} = {s_value:.1f}")
    ax1.plot([2], [SEED_N2_ACC * 100], "r*", ms=14, label="seed 002: n = 2 reaches ~93%")
    n_min, _ = smallest_sufficient(acc)
    ax1.axvline(n_min, color="green", lw=2, alpha=0.5, label=f"smallest n within 1 point of best: {n_min}")
    ax1.legend(fontsize=8, loc="lower right")
    ax1.set_title("Accuracy after 200 batches")
    slope, _, intercept = linear_fit(runs)
    xs = np.array([20, ms.width.max()])
    ax2.plot(xs, intercept + slope * xs, "k--", label=f"linear fit n > 20: {slope:.3f} ms/node (seed: {SEED_MS_PER_NODE})")
    k = knee(ms.width, ms["mean"])
    ax2.axvline(k, color="red", ls=":", label=f"knee of the time curve: n = {k:g}")
    ax2.legend(fontsize=8, loc="upper left")
    ax2.set_title("Wall time per batch (1000 iterations of 20 samples)")
    save(fig, out / "accuracy_and_time_vs_n.png")


def plot_curves(runs, uri, out):
    hist = histories(list(runs.run_id), ["test/acc"], uri).merge(runs[["run_id", "width"]], on="run_id")
    import seaborn as sns

    fig, ax = figure(figsize=(8, 4.8))
    shown = hist[hist.width.isin([1, 2, 3, 5, 10, 50, 200])]
    shown = shown.assign(acc=shown.value * 100, n=shown.width.astype(str))
    order = [str(w) for w in sorted(shown.width.unique())]
    # seeds of one width either learn or stay at chance: the mean line, with each seed drawn faintly
    sns.lineplot(data=shown, x="step", y="acc", hue="n", hue_order=order, palette="tab10", errorbar=None, lw=2, ax=ax)
    sns.lineplot(data=shown, x="step", y="acc", hue="n", hue_order=order, palette="tab10", units="run_id",
                 estimator=None, lw=0.6, alpha=0.35, legend=False, ax=ax)
    ax.set(ylim=(0, 102), xlabel="batches trained (each 1000 iterations of 20 samples)", ylabel="test accuracy (%)",
           title="Learning curves of 81-n-2 on MNIST 0/1 (thick: mean over seeds; thin: each seed)")
    ax.legend(title="hidden nodes n", fontsize=8)
    save(fig, out / "accuracy_curves.png")


def plot_10class(df, out):
    import seaborn as sns

    fig, (ax1, ax2) = figure(1, 2, figsize=(13, 4.8))
    df = df.assign(acc=df.test_acc * 100)
    sns.lineplot(data=df, x="width", y="acc", hue="dataset", marker="o", errorbar=t_interval, ax=ax1)
    ax1.set(xscale="log", ylim=(0, 100), xlabel="hidden units n (one hidden layer)", ylabel="test accuracy (%)",
            title="10 classes: 784-n-10 (MNIST subset), 64-n-10 (digits)")
    sns.lineplot(data=df, x="width", y="train_s", hue="dataset", marker="o", errorbar=t_interval, ax=ax2)
    ax2.set(xscale="log", yscale="log", xlabel="hidden units n (one hidden layer)",
            ylabel="training time, 20 epochs (s)", title="Training time grows with the width")
    save(fig, out / "ten_classes.png")


def report(acc, ms, runs, ten):
    n_min, best = smallest_sufficient(acc)
    row = lambda s, n: s[s.width == n].iloc[0]  # noqa: E731
    a2, a50 = row(acc, 2), row(acc, 50)
    t2, t50 = row(ms, 2), row(ms, 50)
    slope, (lo, hi), _ = linear_fit(runs)
    k = knee(ms.width, ms["mean"])
    failed = int((runs.status != "FINISHED").sum())
    stuck = runs[(runs.width == 2) & (runs.test_acc < 0.6)]
    table = acc[["width", "n_seeds"]].assign(
        **{"test accuracy %": [fmt_ci(m, l, h) for m, l, h in zip(acc["mean"], acc.ci_low, acc.ci_high)],
           "ms per batch": [fmt_ci(m, l, h, scale=1, digits=2) for m, l, h in zip(ms["mean"], ms.ci_low, ms.ci_high)]})
    lines = [
        "## Study 1 — how many hidden nodes? (`width_sweep`)",
        "",
        "**Question** (seed 002): how few hidden nodes does an 81-n-2 network need to tell MNIST 0s from 1s, "
        "and what does each extra node cost?",
        "",
        "**Setup**: seed 002's protocol — digits 0 and 1 of the 10,000-digit MNIST subset (7,996 train / 2,004 "
        "test on these machines), average-pooled by 3 to 9×9, no bias, sigmoid, learning rate 0.1; 200 batches "
        "of 20 samples drawn with replacement, 1000 iterations on each; test accuracy every 10 batches; wall "
        "time per batch. Unstated in the seed, taken from seed 001: MSE on 0.01/0.99 targets, inputs 0.01..1.0, "
        f"N(0, fan_in^-1/2) weights; loss summed over the batch. Widths {', '.join(map(str, acc.width))}; "
        f"{int(acc.n_seeds.max())} seeds; 2 jobs in parallel on 2 cores, one BLAS thread each. Command: "
        "`python -m nnexp +experiment=width_sweep`, then `python experiments/reproduce.py width_sweep`.",
        "",
        "![accuracy and time vs n](width_sweep/accuracy_and_time_vs_n.png)",
        "![learning curves](width_sweep/accuracy_curves.png)",
        "",
        markdown_table(table),
        "",
        f"**Numbers.** The best mean accuracy is {best * 100:.1f}%; the smallest n within 1 point of it is "
        f"**n = {n_min}**. n = 2 reaches {fmt_ci(a2['mean'], a2.ci_low, a2.ci_high)}% (seed 002: ~93%) and "
        f"n = 50 {fmt_ci(a50['mean'], a50.ci_low, a50.ci_high)}%; a batch at n = 2 takes "
        f"{t2['mean'] / t50['mean']:.2f} of the time of n = 50 (seed 002: 0.076). "
        f"Above 20 nodes the time per batch grows by **{slope:.3f} ms per node** (95% CI {lo:.3f} to {hi:.3f}) "
        f"against the seed's 16.44 ms; the knee of the time curve is at n = {k:g}.",
        "",
        "**Compared with the seed.** " + (
            f"As in the seed, very few hidden nodes suffice: accuracy stops improving by n = {n_min}. "
            if n_min <= 10 else f"Unlike the seed, accuracy keeps improving up to n = {n_min}. ")
        + (f"{len(stuck)} of {int(a2.n_seeds)} seeds at n = 2 stayed near chance (the sigmoid units saturated "
           "and the network predicted one class), which widens its interval. " if len(stuck) else "")
        + f"Our time per node is {SEED_MS_PER_NODE / slope:.0f}× smaller than the seed's: with vectorised "
          "numpy a batch of 20 costs mostly fixed Python overhead, so time grows much more slowly with n, and "
          "the ratio n = 2 : n = 50 is far from 0.076. The seed's rule — pick n at the knee of the time curve — "
          f"gives n ≈ {k:g} here.",
        "",
        f"**Limits.** Made on the 10,000-digit MNIST subset ({int(runs.n_train.dropna().astype(int).iloc[0]) if runs.n_train.notna().any() else 'about 1,500'} "
        "training images of 0/1), a problem so easy that almost any network separates it; timings depend on "
        "this machine: the same job's time per batch varies by up to about ±40% between runs on this 2-core "
        "virtual machine (two jobs at once share its caches), hence the wide intervals; "
        f"{failed} run(s) ended other than FINISHED.",
    ]
    if ten is not None:
        lines += ["", "### The 10-class question (`width_sweep_10class`)", "",
                  "784-n-10 on the MNIST subset and 64-n-10 on scikit-learn's 8×8 digits, ReLU, He init, softmax + "
                  "cross-entropy, SGD lr 0.1, batch 32, 20 epochs, 3 seeds "
                  "(`python -m nnexp +experiment=width_sweep_10class`).", "",
                  "![10 classes](width_sweep/ten_classes.png)", ""]
        for name, part in ten.groupby("dataset"):
            s = summarise(part, ["width"], "test_acc")
            n10, b10 = smallest_sufficient(s)
            t = part.groupby("width").train_s.mean()
            lines.append(f"- **{name}**: best mean accuracy {b10 * 100:.1f}%; accuracy stops improving (within 1 "
                         f"point of the best) at n = {n10}; 20 epochs take {t.iloc[0]:.1f} s at n = {t.index[0]} and "
                         f"{t.iloc[-1]:.1f} s at n = {t.index[-1]} ({t.iloc[-1] / t.loc[n10]:.1f}× the time at n = {n10}).")
    return "\n".join(lines)


def main(argv=None):
    args = study_parser(__doc__, REPORT, experiment="width_sweep",
                        ten_class_experiment="width_sweep_10class").parse_args(argv)
    out = args.out or RESULTS / "width_sweep"
    out.mkdir(parents=True, exist_ok=True)

    runs = load(args.experiment, args.tracking_uri)
    ok = runs[runs.status == "FINISHED"]
    acc = summarise(ok, ["width"], "test_acc")
    ms = summarise(ok, ["width"], "ms_per_batch")
    plot_binary(acc, ms, ok, out)
    plot_curves(ok, args.tracking_uri, out)
    try:
        ten = load(args.ten_class_experiment, args.tracking_uri)
        ten = ten[ten.status == "FINISHED"]
        plot_10class(ten, out)
    except LookupError as e:
        print(f"note: {e}; the 10-class part is left out")
        ten = None
    tables = [acc.merge(ms, on="width", suffixes=("_acc", "_ms")).assign(study="81-n-2 MNIST 0/1")]
    if ten is not None:
        for name, part in ten.groupby("dataset"):
            tables.append(summarise(part, ["width"], "test_acc").merge(
                summarise(part, ["width"], "train_s"), on="width", suffixes=("_acc", "_train_s")).assign(
                study=f"{name} 10 classes"))
    pd.concat(tables).to_csv(out / "summary.csv", index=False)
    text = report(acc, ms, ok, ten)
    write_section("width_sweep", text, args.report)
    print(text.split("**Numbers.** ")[1].split("\n")[0])
    return text


if __name__ == "__main__":
    import sys

    from nnexp.analysis import run_script

    sys.exit(run_script("width_sweep", main))
