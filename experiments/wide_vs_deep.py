"""Wide vs deep at a fixed parameter budget (seed 002, after Seide et al. 2011).

Reads the latest sweep of `wide_vs_deep` from MLflow (it never retrains) and writes to results/wide_vs_deep/:
summary.csv, seide_table.md, accuracy_vs_depth.png, accuracy_vs_params.png, and its section of results/README.md.

    python experiments/wide_vs_deep.py [--experiment wide_vs_deep] [--tracking-uri URI] [--out DIR] [--report FILE]
"""
from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nnexp.analysis import column, report_link, study_parser, RESULTS, figure, fmt_ci, latest_sweep, markdown_table, save, summarise, write_section
from nnexp.tracking import resolve_uri

STUDY = "wide_vs_deep"
KEYS = ["dataset", "budget", "depth"]
LABELS = {"mnist10k": "MNIST (10k subset)", "mnist": "MNIST", "fashion_mnist_10k": "Fashion-MNIST (10k)",
          "fashion_mnist": "Fashion-MNIST", "mnist1d": "MNIST-1D"}  # also the order of the panels and tables
ABOUT = {"mnist10k": "the 10,000-digit MNIST subset shipped with nnexp (7,996 train / 2,004 test)",
         "mnist": "the full MNIST (60,000 train / 10,000 test)",
         "fashion_mnist_10k": "Fashion-MNIST cut to 8,000/2,000",
         "mnist1d": "MNIST-1D (Greydanus 2020: 4,000 train / 1,000 test signals of 40 points, so that a budget "
                    "buys far wider layers than on 784 pixels)"}
# Seide et al. 2011, Table 3 (speech, word error rate %): deep L×N nets, and single layers with as many parameters
SEIDE = [("1×2k", "24.2", "", ""), ("2×2k", "20.4", "", ""), ("3×2k", "18.4", "", ""), ("4×2k", "17.8", "", ""),
         ("5×2k", "17.2", "1×3772", "22.5"), ("7×2k", "17.1", "1×4634", "22.6"), ("", "", "1×16k", "22.1")]


def lab(ds) -> str:
    return LABELS.get(ds, ds)


def ci(mean, lo, hi, n) -> str:
    """'97.3 ± 0.4' (percent), or just '97.3' for one seed (no interval)."""
    return fmt_ci(mean, lo, hi) if n >= 2 else f"{mean * 100:.1f}"


def shape_label(widths) -> str:
    """'1×16', '3×16/17': depth × width (the distinct widths when they differ)."""
    return f"{len(widths)}×" + "/".join(map(str, sorted(set(widths)))) if widths else "0×0"


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """MLflow's runs frame (params.*, metrics.*, tags.*) -> one tidy row per run."""
    col = functools.partial(column, raw)
    num = lambda c: pd.to_numeric(col(c), errors="coerce")  # noqa: E731
    name, capped = col("params.dataset.name").astype(str), col("params.dataset.max_train", "None").astype(str) != "None"
    widths = col("tags.nnexp.hidden", "[]").map(lambda s: list(ast.literal_eval(s)) if isinstance(s, str) else [])
    df = pd.DataFrame({
        "run_id": raw["run_id"], "dataset": np.where((name == "fashion_mnist") & capped, "fashion_mnist_10k", name),
        "budget": num("params.model.budget").astype(int), "depth": num("params.model.depth").astype(int),
        "seed": num("params.seed").astype(int), "n_params": num("tags.nnexp.n_params"), "widths": widths,
        "lxw": widths.map(shape_label), "status": raw["status"], "end_reason": col("tags.nnexp.end_reason", None),
        "test_acc": num("metrics.test/acc"), "val_acc": num("metrics.val/acc"), "train_acc": num("metrics.train/acc"),
        "train_loss": num("metrics.train/loss"), "train_s": num("metrics.time/train_s"),
        **{k: col(c) for k, c in [("lr", "params.optim.lr"), ("momentum", "params.optim.momentum"),
                                  ("batch", "params.trainer.batch_size"), ("epochs", "params.trainer.epochs")]}})
    df["test_err"] = 1 - df.test_acc
    # dead ReLUs: the fraction of hidden units (of the layers measured) that never fire
    layers = [num(f"metrics.layer{i + 1}/dead_frac").to_numpy() for i in range(max(map(len, widths), default=0))]
    dead = [np.array([layers[i][k] for i in range(len(w))]) for k, w in enumerate(widths)]
    seen = [np.where(np.isnan(d), 0, w) for d, w in zip(dead, widths)]
    df["dead_frac"] = [np.nansum(d * m) / m.sum() if m.sum() else np.nan for d, m in zip(dead, seen)]
    return df.sort_values(KEYS + ["seed"]).reset_index(drop=True)


def load(experiment: str, uri=None) -> pd.DataFrame:
    return tidy(latest_sweep(experiment, uri))


def summarise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, budget, depth): the shape of seed 0, mean test accuracy of the finished seeds and its t CI."""
    cells = runs.groupby(KEYS).agg(widths=("widths", "first"), lxw=("lxw", "first"), n_params=("n_params", "first"),
                                   n_failed=("status", lambda s: int((s == "FAILED").sum())),
                                   n_unfinished=("status", lambda s: int((~s.isin(["FINISHED", "FAILED"])).sum())))
    ok = runs[runs.status == "FINISHED"]
    acc = summarise(ok, KEYS, "test_acc").rename(columns={"mean": "test_acc"}).set_index(KEYS)
    s = cells.join(acc).join(ok.groupby(KEYS)[["train_acc", "dead_frac"]].mean()).reset_index()
    s["n_seeds"], s["test_err"] = s.n_seeds.fillna(0).astype(int), 1 - s.test_acc
    rank = {d: i for i, d in enumerate(LABELS)}
    s = s.sort_values(KEYS, key=lambda c: c.map(lambda d: rank.get(d, 9)) if c.name == "dataset" else c)
    return s.reset_index(drop=True)[KEYS + ["widths", "lxw", "n_params", "n_seeds", "test_acc", "ci_low", "ci_high",
                                            "test_err", "n_failed", "n_unfinished", "train_acc", "dead_frac"]]


def verdicts(summary: pd.DataFrame) -> list[dict]:
    """Per (dataset, budget): one hidden layer against the best deeper shape, and the sentence that says it."""
    out = []
    for (ds, budget), g in summary.dropna(subset=["test_acc"]).groupby(["dataset", "budget"], sort=False):
        g = g.set_index("depth")
        if 1 not in g.index or len(g) < 2:
            continue
        w, d = g.loc[1], g.loc[g.drop(1).test_acc.idxmax()]
        diff = (d.test_acc - w.test_acc) * 100
        noisy = min(w.n_seeds, d.n_seeds) < 2
        separated = not noisy and (d.ci_low > w.ci_high or w.ci_low > d.ci_high)
        fmt = lambda r: f"{r.lxw}, {ci(r.test_acc, r.ci_low, r.ci_high, r.n_seeds)}%"  # noqa: E731
        text = (f"{lab(ds)}, {budget:,} parameters: the best deeper shape ({fmt(d)}) "
                + (f"beat one hidden layer ({fmt(w)}) by {diff:.1f} points" if diff > 0 else
                   f"was {-diff:.1f} points below one hidden layer ({fmt(w)})" if diff < 0 else
                   f"tied with one hidden layer ({fmt(w)})")
                + ("; the 95% CIs do not overlap." if separated else
                   "; one seed, no confidence interval: within noise as far as this run can tell." if noisy else
                   "; within noise (the 95% CIs overlap)."))
        out.append(dict(dataset=ds, budget=int(budget), wide=w.lxw, deep=d.lxw, diff=diff, separated=separated,
                        rel_err=(d.test_err - w.test_err) / w.test_err * 100 if w.test_err > 0 else np.nan,
                        helped=separated and diff > 0, hurt=separated and diff < 0, text=text))
    return out


def seide_table(summary: pd.DataFrame) -> str:
    """Seide et al.'s layout: rows L×W grouped by budget, cells = test error % (mean ± 95% CI half-width)."""
    parts = []
    for ds, g in summary.groupby("dataset", sort=False):
        rows = []
        for budget, b in g.groupby("budget"):
            for _, r in b.iterrows():
                cell = ci(r.test_err, 1 - r.ci_high, 1 - r.ci_low, r.n_seeds)
                rows.append({"parameters": f"{budget:,}", "L×W": r.lxw, "actual": f"{r.n_params:,.0f}",
                             "test error (%)": (f"**{cell}**" if r.test_err == b.test_err.min() else cell)
                             + (f" ({r.n_failed} failed)" if r.n_failed else ""), "seeds": r.n_seeds})
        parts.append(f"**{lab(ds)}** (bold: the lowest error at each budget)\n\n" + markdown_table(pd.DataFrame(rows)))
    return "\n\n".join(parts)


def _panels(summary):
    datasets = list(dict.fromkeys(summary.dataset))
    fig, axes = figure(1, len(datasets), figsize=(5.2 * len(datasets), 4.4), squeeze=False)
    return fig, list(zip(datasets, axes[0]))


def _yerr(b):
    return [(b.test_acc - b.ci_low) * 100, (b.ci_high - b.test_acc) * 100]


def plot_accuracy_vs_depth(summary: pd.DataFrame, out: Path) -> Path:
    import seaborn as sns

    s = summary.dropna(subset=["test_acc"])
    colors = dict(zip(sorted(s.budget.unique()), sns.color_palette("viridis", s.budget.nunique())))
    fig, panels = _panels(s)
    for ds, ax in panels:
        g = s[s.dataset == ds]
        for i, (budget, b) in enumerate(g.groupby("budget")):  # dodged a little so that the bars don't hide each other
            ax.errorbar(b.depth + 0.06 * (i - 1), b.test_acc * 100, yerr=_yerr(b), color=colors[budget], marker="o",
                        capsize=3, label=f"{budget:,}")
        ax.set(title=lab(ds), xlabel="hidden layers (depth)", ylabel="test accuracy (%)",
               xticks=sorted(g.depth.unique()))
        ax.legend(title="parameters", fontsize="small")
    fig.suptitle("Test accuracy vs depth at a fixed parameter budget\n"
                 f"(mean and 95% t CI over {s.n_seeds.max()} seeds)", fontsize="medium")
    save(fig, out / "accuracy_vs_depth.png")
    return out / "accuracy_vs_depth.png"


def plot_accuracy_vs_params(summary: pd.DataFrame, out: Path) -> Path:
    import matplotlib.ticker

    s = summary.dropna(subset=["test_acc"])
    lo, hi, ticks = s.depth.min(), s.depth.max(), sorted(s.budget.unique())
    fig, panels = _panels(s)
    for ds, ax in panels:
        # x dodged by 3% (log axis) so that the two shapes' bars stay apart; labels above left / below right
        for depth, style, dodge, (dx, dy, ha) in ((lo, "o-", 0.97, (-5, 6, "right")),
                                                  (hi, "s--", 1.03, (5, -12, "left"))):
            b = s[(s.dataset == ds) & (s.depth == depth)].sort_values("n_params")
            label = f"{depth} hidden layer{'s' if depth > 1 else ''} ({'wide' if depth == lo else 'deep'})"
            ax.errorbar(b.n_params * dodge, b.test_acc * 100, yerr=_yerr(b), fmt=style, capsize=3, label=label)
            for _, r in b.iterrows():
                ax.annotate(r.lxw, (r.n_params * dodge, r.test_acc * 100), textcoords="offset points",
                            xytext=(dx, dy), ha=ha, fontsize="x-small")
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{t / 1000:.3g}k" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(xlim=(ticks[0] / 1.8, ticks[-1] * 1.8), title=lab(ds), ylabel="test accuracy (%)",
               xlabel="parameters (weights and biases, log scale)")
        ax.legend(fontsize="small")
    fig.suptitle("Widest vs deepest shape at the same parameter counts\n(mean and 95% t CI)", fontsize="medium")
    save(fig, out / "accuracy_vs_params.png")
    return out / "accuracy_vs_params.png"


def report(runs: pd.DataFrame, summary: pd.DataFrame, table: str, found: list[dict], links: dict) -> str:
    fin, failed = runs[runs.status == "FINISHED"], runs[runs.status == "FAILED"]
    other = len(runs) - len(fin) - len(failed)
    one = lambda c, f="{}": ", ".join(map(f.format, sorted(runs[c].dropna().unique())))  # noqa: E731
    units = "/".join(f"{(b - 10) / 795:g}" for b in sorted(runs.budget.unique()))  # 784·w + w + 10·w + 10 = budget
    cell = lambda v: f"{lab(v['dataset'])} at {v['budget']:,}"  # noqa: E731
    helped, flat = [v for v in found if v["helped"]], [v for v in found if not v["helped"]]
    ahead, hurt = sum(v["diff"] > 0 and not v["separated"] for v in found), sum(v["hurt"] for v in found)
    names = [ABOUT.get(d, d) for d in dict.fromkeys(summary.dataset)]
    lines = [
        "## Wide vs deep at a fixed parameter budget (seed 002)", "",
        "**Question.** With the same number of parameters, is a deeper, thinner MLP better than a wider, shallower "
        "one? (After Seide et al. 2011, *Conversational speech transcription using context-dependent deep neural "
        "networks*.)", "",
        f"**Setup.** Made on {names[0] if len(names) < 2 else ', '.join(names[:-1]) + ' and ' + names[-1]}. Budgets of "
        f"{one('budget', '{:,}')} weights and biases (one hidden layer of {units} units on 784 inputs); depths "
        f"{one('depth')}, with near-uniform widths matched to the budget by `nnexp.shapes.match_widths` (actual "
        f"counts within {(runs.n_params / runs.budget - 1).abs().max():.2%} of it). Every shape is trained the same "
        f"way: ReLU, He init, softmax + cross-entropy, SGD with momentum {one('momentum')} at learning rate "
        f"{one('lr')}, batch {one('batch')}, {one('epochs')} epochs, 10% of the training part held out for "
        f"validation; test accuracy after the last epoch; seeds {one('seed')}. {len(runs)} runs: {len(fin)} "
        f"finished, {len(failed)} failed (diverged){f', {other} unfinished (left out)' if other else ''}.", "",
        "Run: `python -m nnexp +experiment=wide_vs_deep`; analyse: `python experiments/reproduce.py wide_vs_deep` "
        "(or `python experiments/wide_vs_deep.py`).", "",
        f"![test accuracy vs depth]({links['depth']})", "", f"![test accuracy vs parameters]({links['params']})", "",
        "**Numbers** (test error %, mean ± 95% t-CI half-width over seeds):", "", table, "", "**Findings.**", "",
        *[f"- {v['text']}" for v in found], "",
        f"Depth helped beyond noise in {len(helped)} of {len(found)} dataset × budget cells"
        + (f" ({', '.join(map(cell, helped))})" if helped else "") + f"; the deeper net was ahead within noise in "
        f"{ahead}" + (f"; one hidden layer was ahead beyond noise in {hurt}" if hurt else "") + ". "
        + (f"Depth did not help (beyond noise) on: {'; '.join(map(cell, flat))}." if flat else "")]
    cells = summary.dropna(subset=["test_acc"]).groupby(["dataset", "budget"], sort=False)
    best = summary.depth[cells.test_acc.idxmax()].value_counts().sort_index()
    lines.append(f"Of the {len(cells)} cells, the lowest mean test error came at " + ", ".join(
        f"depth {d} in {n}" for d, n in best.items()) + f"; at depth {summary.depth.max()} in "
        f"{best.get(summary.depth.max(), 0)}. (Seide et al.'s error kept falling up to 7 layers.)")
    unfit = [f"{lab(ds)} at {b:,} ({g.train_acc.iloc[-1]:.1%} vs {g.train_acc.iloc[0]:.1%})" for (ds, b), g in cells
             if g.depth.iloc[0] == 1 and g.train_acc.iloc[-1] < g.train_acc.iloc[0] - 0.02]
    if unfit:
        lines.append("The deepest shape fit the training set worse than one hidden layer (training accuracy after "
                     "the last epoch, deepest vs depth 1), under the same learning rate and epochs: "
                     + "; ".join(unfit) + ".")
    if len(failed):
        lines.append("Failed runs (counted, not averaged): " + "; ".join(
            f"{lab(r.dataset)} {r.lxw} seed {r.seed} ({r.end_reason or r.status})" for _, r in failed.iterrows()) + ".")
    dead = summary[summary.dead_frac >= 0.1]
    if len(dead):
        lines.append("Dead ReLUs (hidden units that never fire, mean over seeds, where ≥ 10%): " + "; ".join(
            f"{lab(r.dataset)} {r.lxw} {r.dead_frac:.0%}" for _, r in dead.iterrows()) + ".")
    claim = ("Their 5×2k and 7×2k nets (17.2, 17.1) beat single layers with the same parameters (22.5, 22.6): 24% "
             "fewer errors, relative. ")
    if found:
        top = min(found, key=lambda v: v["rel_err"])
        where = f"{cell(top)}, {top['wide']} → {top['deep']}"
        claim += ("The claim holds here in every cell. " if not flat else "The claim is not reproduced here: in no "
                  "cell did a deeper net beat one hidden layer beyond noise. " if not helped else
                  f"The claim holds here in {len(helped)} of {len(found)} cells only. ")
        claim += (f"The largest cut in test error from depth is {-top['rel_err']:.0f}% relative ({where}), against "
                  "their 24%." if top["rel_err"] < 0 else
                  f"Depth never lowered the mean test error (smallest increase {top['rel_err']:+.0f}%, {where}).")
    lines += ["", "**Against the seed's claim** (\"a tall thin network beats a short fat one\"). Seide et al.'s word "
              "error rates (%, speech, Switchboard):", "",
              markdown_table(pd.DataFrame(SEIDE, columns=["L×N", "WER", "1×N (same parameters)", "WER "])), "", claim,
              "", "**Limits.** Small data (8-10k images, 4k signals), one learning rate for every shape (deeper nets "
              f"may want another), {one('epochs')} epochs, MLPs on images rather than speech DNNs pre-trained on "
              f"300 h of audio, and {fin.groupby(KEYS).size().max()} seeds per cell, so the CIs are wide. "
              "\"The best deeper shape\" is the best of several picked on the test set, which flatters depth a little."]
    return "\n".join(lines)


def main(argv=None) -> int:
    a = study_parser(__doc__, experiment=STUDY).parse_args(argv)  # --out default: results/<experiment>
    out = a.out or RESULTS / a.experiment
    runs = load(a.experiment, resolve_uri(a.tracking_uri))  # no runs: LookupError (run_script: exit 3)
    if not (runs.status == "FINISHED").any():
        from nnexp.analysis import MissingRuns

        raise MissingRuns(f"no finished run in the latest sweep of experiment {a.experiment!r}")
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise_runs(runs)
    summary.assign(widths=summary.widths.map(str)).to_csv(out / "summary.csv", index=False)
    table = seide_table(summary)
    (out / "seide_table.md").write_text(table + "\n")
    found = verdicts(summary)
    figs = {"depth": plot_accuracy_vs_depth(summary, out), "params": plot_accuracy_vs_params(summary, out)}
    links = {k: report_link(v, a.report) for k, v in figs.items()}
    write_section(STUDY, report(runs, summary, table, found, links), a.report)
    print(f"{a.experiment}: {len(runs)} runs, {(runs.status == 'FAILED').sum()} failed -> {out}, {a.report}")
    for v in found:
        print(" ", v["text"])
    return 0


if __name__ == "__main__":
    from nnexp.analysis import run_script

    sys.exit(run_script("wide_vs_deep", main))
