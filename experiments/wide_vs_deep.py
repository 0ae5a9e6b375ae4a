"""Wide vs deep at a fixed parameter budget (seed 002, after Seide et al. 2011).

Reads the latest sweep of `wide_vs_deep` from MLflow (it never retrains) and writes to results/wide_vs_deep/:
summary.csv, seide_table.md, accuracy_vs_depth.png, accuracy_vs_params.png, plus its section of results/README.md.

    python experiments/wide_vs_deep.py [--experiment wide_vs_deep] [--tracking-uri URI] [--out DIR] [--report FILE]
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nnexp.analysis import RESULTS, figure, fmt_ci, latest_sweep, markdown_table, save, summarise, write_section
from nnexp.tracking import resolve_uri

STUDY = "wide_vs_deep"
KEYS = ["dataset", "budget", "depth"]
LABELS = {"mnist": "MNIST (10k subset)", "fashion_mnist_10k": "Fashion-MNIST (10k)",
          "fashion_mnist": "Fashion-MNIST", "mnist1d": "MNIST-1D"}
ABOUT = {"mnist": "MNIST, made on the 10,000-digit MNIST subset (7,996 train / 2,004 test)",
         "fashion_mnist_10k": "Fashion-MNIST cut to 8,000/2,000 (train incl. validation / test)",
         "mnist1d": "MNIST-1D (Greydanus 2020: 4,000 train / 1,000 test signals of 40 points, so a budget "
                    "buys far wider layers than on 784 pixels)"}
# Seide et al. 2011, Table 3 (speech, word error rate %): L x N deep nets; 1 x N single layers of equal size
SEIDE = [("1×2k", "24.2", "", ""), ("2×2k", "20.4", "", ""), ("3×2k", "18.4", "", ""), ("4×2k", "17.8", "", ""),
         ("5×2k", "17.2", "1×3772", "22.5"), ("7×2k", "17.1", "1×4634", "22.6"), ("", "", "1×16k", "22.1")]


def shape_label(widths) -> str:
    """'1×16', '3×16/17': depth × width (the distinct widths when they differ)."""
    return f"{len(widths)}×" + "/".join(map(str, sorted(set(widths)))) if widths else "0×0"


def _col(raw, name, default=np.nan):
    return raw[name] if name in raw else pd.Series(default, index=raw.index)


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """MLflow's runs frame (params.*, metrics.*, tags.*) -> one tidy row per run."""
    name = _col(raw, "params.dataset.name").astype(str)
    capped = _col(raw, "params.dataset.max_train", "None").astype(str) != "None"
    widths = _col(raw, "tags.nnexp.hidden", "[]").map(lambda s: list(ast.literal_eval(s)) if isinstance(s, str) else [])
    num = lambda c: pd.to_numeric(_col(raw, c), errors="coerce")  # noqa: E731
    df = pd.DataFrame({
        "run_id": raw["run_id"], "dataset": np.where((name == "fashion_mnist") & capped, "fashion_mnist_10k", name),
        "budget": num("params.model.budget").astype(int), "depth": num("params.model.depth").astype(int),
        "seed": num("params.seed").astype(int), "n_params": num("tags.nnexp.n_params"), "widths": widths,
        "lxw": widths.map(shape_label), "status": raw["status"], "test_acc": num("metrics.test/acc"),
        "val_acc": num("metrics.val/acc"), "train_acc": num("metrics.train/acc"), "train_loss": num("metrics.train/loss"),
        "train_s": num("metrics.time/train_s"), "n_train": num("tags.nnexp.n_train"),
        "end_reason": _col(raw, "tags.nnexp.end_reason", None), "lr": _col(raw, "params.optim.lr"),
        "momentum": _col(raw, "params.optim.momentum"), "batch": _col(raw, "params.trainer.batch_size"),
        "epochs": _col(raw, "params.trainer.epochs")})
    df["test_err"] = 1 - df.test_acc
    dead = [[num(f"metrics.layer{i + 1}/dead_frac").iloc[k] for i in range(len(w))] for k, w in enumerate(widths)]
    dead = [np.asarray(d, dtype=float) for d in dead]
    known = [(np.nan_to_num(d), np.where(np.isnan(d), 0, w)) for d, w in zip(dead, widths)]
    df["dead_frac"] = [float(np.dot(d, w) / w.sum()) if w.sum() else np.nan for d, w in known]  # of units measured
    return df.sort_values(KEYS + ["seed"]).reset_index(drop=True)


def load(experiment: str, uri=None) -> pd.DataFrame:
    return tidy(latest_sweep(experiment, uri))


def summarise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, budget, depth): shape of seed 0, mean test accuracy over finished seeds with its t CI."""
    cells = runs.groupby(KEYS).agg(widths=("widths", "first"), lxw=("lxw", "first"), n_params=("n_params", "first"),
                                   n_failed=("status", lambda s: int((s == "FAILED").sum())),
                                   n_unfinished=("status", lambda s: int((~s.isin(["FINISHED", "FAILED"])).sum())))
    ok = runs[runs.status == "FINISHED"]
    acc = summarise(ok, KEYS, "test_acc").rename(columns={"mean": "test_acc"}).set_index(KEYS) if len(ok) else None
    extra = ok.groupby(KEYS)[["train_acc", "dead_frac"]].mean()
    s = cells.join(acc).join(extra).reset_index() if acc is not None else cells.reset_index()
    s["n_seeds"] = s.get("n_seeds", pd.Series(0, index=s.index)).fillna(0).astype(int)
    s["test_err"] = 1 - s.get("test_acc", np.nan)
    cols = KEYS + ["widths", "lxw", "n_params", "n_seeds", "test_acc", "ci_low", "ci_high", "test_err",
                   "n_failed", "n_unfinished", "train_acc", "dead_frac"]
    return s.reindex(columns=cols)


def verdicts(summary: pd.DataFrame) -> list[dict]:
    """Per (dataset, budget): depth 1 against the best deeper shape, with the words to say it."""
    out = []
    for (ds, budget), g in summary.dropna(subset=["test_acc"]).groupby(["dataset", "budget"]):
        g = g.set_index("depth")
        if 1 not in g.index or len(g) < 2:
            continue
        w, d = g.loc[1], g.loc[g.drop(1).test_acc.idxmax()]
        diff = (d.test_acc - w.test_acc) * 100
        noisy = min(w.n_seeds, d.n_seeds) < 2
        overlap = d.ci_low <= w.ci_high and w.ci_low <= d.ci_high
        separated = not (noisy or overlap)
        fmt = lambda r: f"{r.lxw}, {fmt_ci(r.test_acc, r.ci_low, r.ci_high)}%"  # noqa: E731
        text = f"{LABELS.get(ds, ds)}, {budget:,} parameters: the best deeper shape ({fmt(d)}) "
        text += (f"beat one hidden layer ({fmt(w)}) by {diff:.1f} points" if diff > 0 else
                 f"was {-diff:.1f} points below one hidden layer ({fmt(w)})" if diff < 0 else f"tied with ({fmt(w)})")
        text += ("; the 95% CIs do not overlap." if separated else
                 "; one seed, no confidence interval: within noise as far as this run can tell." if noisy else
                 "; within noise (the 95% CIs overlap).")
        rel = (d.test_err - w.test_err) / w.test_err * 100 if w.test_err > 0 else np.nan
        out.append(dict(dataset=ds, budget=int(budget), wide=w["lxw"], deep=d["lxw"], deep_depth=int(d.name),
                        diff=diff, rel_err=rel, separated=separated, helped=separated and diff > 0,
                        hurt=separated and diff < 0, text=text))
    return out


def seide_table(summary: pd.DataFrame) -> str:
    """Seide et al.'s layout: rows L×W grouped by budget, cells = test error % (mean ± 95% CI half-width)."""
    parts = []
    for ds, g in summary.groupby("dataset", sort=False):
        rows = []
        for budget, b in g.groupby("budget"):
            best = b.test_err.min()
            for _, r in b.iterrows():
                cell = fmt_ci(r.test_err, 1 - r.ci_high, 1 - r.ci_low)
                cell = f"**{cell}**" if r.test_err == best else cell
                flags = f" ({r.n_failed} failed)" if r.n_failed else ""
                rows.append({"parameters": f"{budget:,}", "L×W": r.lxw, "actual": f"{r.n_params:,.0f}",
                             "test error (%)": cell + flags, "seeds": r.n_seeds})
        parts.append(f"**{LABELS.get(ds, ds)}** (bold: the lowest error at each budget)\n\n"
                     + markdown_table(pd.DataFrame(rows)))
    return "\n\n".join(parts)


def _panels(summary):
    datasets = list(dict.fromkeys(summary.dataset))
    fig, axes = figure(1, len(datasets), figsize=(5.2 * len(datasets), 4.4), squeeze=False)
    return fig, list(zip(datasets, axes[0]))


def plot_accuracy_vs_depth(summary: pd.DataFrame, out: Path) -> Path:
    import seaborn as sns

    s = summary.dropna(subset=["test_acc"]).assign(budget_label=lambda d: d.budget.map("{:,}".format))
    colors = dict(zip(sorted(s.budget.unique()), sns.color_palette("viridis", s.budget.nunique())))
    fig, panels = _panels(s)
    for ds, ax in panels:
        g = s[s.dataset == ds]
        for i, (budget, b) in enumerate(g.groupby("budget")):  # dodged a little so the bars don't hide each other
            ax.errorbar(b.depth + 0.06 * (i - 1), b.test_acc * 100, yerr=[(b.test_acc - b.ci_low) * 100, (b.ci_high - b.test_acc) * 100],
                        color=colors[budget], marker="o", capsize=3, label=f"{budget:,}")
        ax.set(title=LABELS.get(ds, ds), xlabel="hidden layers (depth)", ylabel="test accuracy (%)",
               xticks=sorted(g.depth.unique()))
        ax.legend(title="parameters", fontsize="small")
    n = int(s.n_seeds.max()) if len(s) else 0
    fig.suptitle(f"Test accuracy vs depth at a fixed parameter budget\n(mean and 95% t CI over {n} seeds)", fontsize="medium")
    save(fig, out / "accuracy_vs_depth.png")
    return out / "accuracy_vs_depth.png"


def plot_accuracy_vs_params(summary: pd.DataFrame, out: Path) -> Path:
    import matplotlib.ticker
    s = summary.dropna(subset=["test_acc"])
    lo, hi = s.depth.min(), s.depth.max()
    fig, panels = _panels(s)
    for ds, ax in panels:
        for depth, style in ((lo, "o-"), (hi, "s--")):
            b = s[(s.dataset == ds) & (s.depth == depth)].sort_values("n_params")
            label = f"{depth} hidden layer{'s' if depth > 1 else ''} ({'wide' if depth == lo else 'deep'})"
            ax.errorbar(b.n_params, b.test_acc * 100, yerr=[(b.test_acc - b.ci_low) * 100, (b.ci_high - b.test_acc) * 100],
                        fmt=style, capsize=3, label=label)
            for _, r in b.iterrows():
                ax.annotate(r.lxw, (r.n_params, r.test_acc * 100), textcoords="offset points", xytext=(4, -12),
                            fontsize="x-small")
        ax.set_xscale("log")
        ticks = sorted(s.budget.unique())
        ax.set_xticks(ticks, [f"{t / 1000:.3g}k" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlim(ticks[0] / 1.4, ticks[-1] * 1.8)
        ax.set(title=LABELS.get(ds, ds), xlabel="parameters (weights and biases, log scale)", ylabel="test accuracy (%)")
        ax.legend(fontsize="small")
    fig.suptitle("Widest vs deepest shape at the same parameter counts\n(mean and 95% t CI)", fontsize="medium")
    save(fig, out / "accuracy_vs_params.png")
    return out / "accuracy_vs_params.png"


def report(runs: pd.DataFrame, summary: pd.DataFrame, table: str, found: list[dict], links: dict) -> str:
    fin = runs[runs.status == "FINISHED"]
    failed, other = runs[runs.status == "FAILED"], runs[~runs.status.isin(["FINISHED", "FAILED"])]
    one = lambda c: ", ".join(map(str, sorted(runs[c].dropna().unique())))  # noqa: E731
    dev = (runs.n_params / runs.budget - 1).abs().max() * 100
    helped = [v for v in found if v["helped"]]
    ahead = [v for v in found if v["diff"] > 0 and not v["separated"]]
    flat = [f"{LABELS.get(v['dataset'], v['dataset'])} at {v['budget']:,}" for v in found if not v["helped"]]
    lines = ["## Wide vs deep at a fixed parameter budget (seed 002)", "",
             "**Question.** With the same number of parameters, is a deeper, thinner MLP better than a wider, "
             "shallower one? (After Seide et al. 2011, *Conversational speech transcription using context-dependent "
             "deep neural networks*.)", "",
             "**Setup.** Datasets: " + "; ".join(ABOUT.get(d, d) for d in dict.fromkeys(runs.dataset)) + ". "
             f"Budgets of {one('budget')} weights and biases (one hidden layer of 16/64/256 units on 784 inputs); "
             f"depths {one('depth')} with near-uniform widths matched to the budget by `nnexp.shapes.match_widths` "
             f"(actual counts within {dev:.2f}% of the budget). Every shape is trained the same way: ReLU, He init, "
             f"softmax + cross-entropy, SGD with momentum {one('momentum')} at learning rate {one('lr')}, batch "
             f"{one('batch')}, {one('epochs')} epochs; seeds {one('seed')}. {len(runs)} runs: {len(fin)} finished, "
             f"{len(failed)} failed (diverged){f', {len(other)} unfinished (excluded)' if len(other) else ''}.", "",
             "Run: `python -m nnexp +experiment=wide_vs_deep`; analyse: `python experiments/reproduce.py wide_vs_deep` "
             "(or `python experiments/wide_vs_deep.py`).", "",
             f"![test accuracy vs depth]({links['depth']})", "", f"![test accuracy vs parameters]({links['params']})", "",
             "**Numbers** (test error %, mean ± 95% t-CI half-width over seeds):", "", table, "",
             "**Findings.**", ""] + [f"- {v['text']}" for v in found] + [""]
    lines.append(f"Depth helped beyond noise in {len(helped)} of {len(found)} dataset × budget cells"
                 + (f" ({', '.join(LABELS.get(v['dataset'], v['dataset']) + ' at ' + format(v['budget'], ',') for v in helped)})"
                    if helped else "") + f"; the deeper net was ahead within noise in {len(ahead)}. "
                 + (f"Depth did not help (beyond noise) on: {'; '.join(flat)}." if flat else "It helped everywhere."))
    if len(failed):
        lines.append("Failed runs (counted, not averaged): " + "; ".join(
            f"{LABELS.get(r.dataset, r.dataset)} {r.lxw} seed {r.seed} ({r.end_reason or r.status})"
            for _, r in failed.iterrows()) + ".")
    dead = summary[summary.dead_frac >= 0.1]
    if len(dead):
        lines.append("Dead ReLUs (hidden units never active, mean over seeds): " + "; ".join(
            f"{LABELS.get(r.dataset, r.dataset)} {r.lxw} {r.dead_frac:.0%}" for _, r in dead.iterrows()) + ".")
    best = min(found, key=lambda v: v["rel_err"], default=None)
    lines += ["", "**Against the seed's claim** (\"a tall thin network beats a short fat one\"). Seide et al.'s "
              "word error rates (%, speech, Switchboard):", "",
              markdown_table(pd.DataFrame(SEIDE, columns=["L×N", "WER", "1×N (same parameters)", "WER "])), "",
              "Their 5×2k and 7×2k nets (17.2, 17.1) beat single layers with the same parameters (22.5, 22.6): "
              "24% fewer errors, relative. "]
    if best is not None:
        hurt = sum(v["hurt"] for v in found)
        lines[-1] += ("The claim holds here in every cell" if len(helped) == len(found) else
                      "The claim is not reproduced here: in no cell did a deeper net beat one hidden layer beyond "
                      "noise" if not helped else f"The claim holds here in {len(helped)} of {len(found)} cells only")
        lines[-1] += f"; one wide layer was better beyond noise in {hurt}. " if hurt else ". "
        where = f"{LABELS.get(best['dataset'], best['dataset'])} at {best['budget']:,}, {best['wide']} → {best['deep']}"
        lines[-1] += (f"The largest cut in test error from depth is {-best['rel_err']:.0f}% relative ({where}), "
                      "against their 24%." if best["rel_err"] < 0 else
                      f"Depth never lowered the mean test error (smallest increase {best['rel_err']:+.0f}%, {where}).")
    lines += ["", "**Limits.** Small data (8-10k images, 4k signals), one learning rate for every shape "
              "(deeper nets may want another), MLPs on images rather than speech DNNs with pre-training on 300 h of "
              f"audio, {one('epochs')} epochs, and {fin.groupby(KEYS).size().max() if len(fin) else 0} seeds per cell, so CIs are wide."]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", default=STUDY)
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--report", type=Path, default=RESULTS / "README.md")
    a = p.parse_args(argv)
    out = a.out or RESULTS / a.experiment
    try:
        runs = load(a.experiment, resolve_uri(a.tracking_uri))
    except LookupError as e:
        print(f"wide_vs_deep: {e}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise_runs(runs)
    summary.assign(widths=summary.widths.map(str)).to_csv(out / "summary.csv", index=False)
    table = seide_table(summary)
    (out / "seide_table.md").write_text(table + "\n")
    found = verdicts(summary)
    figs = {"depth": plot_accuracy_vs_depth(summary, out), "params": plot_accuracy_vs_params(summary, out)}
    links = {k: Path(os.path.relpath(v.resolve(), a.report.resolve().parent)).as_posix() for k, v in figs.items()}
    write_section(STUDY, report(runs, summary, table, found, links), a.report)
    print(f"{a.experiment}: {len(runs)} runs ({(runs.status == 'FAILED').sum()} failed) -> {out}, {a.report}")
    for v in found:
        print(" ", v["text"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
