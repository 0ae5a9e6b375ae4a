"""The learning rate (seed 000): gradient descent on f(x) = x², and a learning-rate sweep of an MLP.

Part (a) is pure arithmetic, computed here: x_{k+1} = x_k − λ f'(x_k) = (1 − 2λ) x_k. Part (b) reads the latest
`learning_rate` sweep (784-100-10 ReLU, linear output + MSE, on the 10,000-digit MNIST subset) and, when present,
`learning_rate_ce` (the same with softmax + cross-entropy) from MLflow, never retraining. Diverged runs (FAILED,
tag nnexp.diverged) are counted per lr, never averaged. Writes results/learning_rate/: gd_regimes.png,
lr_sweep.png, curves.png, summary.csv and its section of results/README.md.

    python experiments/learning_rate.py [--experiment E] [--ce-experiment E] [--tracking-uri URI]
                                        [--out DIR] [--report FILE]
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from nnexp.analysis import (column, report_link, study_parser, RESULTS, REPORT, figure, fmt_ci, histories, latest_sweep, markdown_table, save,
                            t_interval, write_section)

STUDY = "learning_rate"
CURVATURE = 2.0  # f(x) = x²: f'' = 2, so the boundaries are λ = 1/f'' = 0.5 (one step) and 2/f'' = 1 (bouncing)
EXAMPLES = {"slow convergence": 0.05, "fast convergence": 0.3, "oscillating, converging": 0.8, "bouncing": 1.0,
            "diverging": 1.05}
LOSS = {"mse": "MSE", "cross_entropy": "cross-entropy"}
GOOD = 0.02  # "good" learning rates: mean test accuracy within 2 points of the best lr's


# --- part a: 1-D gradient descent ------------------------------------------------------------------------
def simulate(lam, x0=1.0, steps=20):
    """x_0 .. x_steps of gradient descent on f(x) = x² with step size lam."""
    x = [x0]
    for _ in range(steps):
        x.append(x[-1] - lam * CURVATURE * x[-1])
    return np.array(x)


def regime(lam) -> str:
    """The regime of step size lam on f(x) = x², from the factor r = 1 − 2λ of x_{k+1} = r·x_k."""
    r = 1 - CURVATURE * lam
    if lam <= 0:
        return "no descent"
    if r == 0:
        return "one step"
    return ("monotone convergence" if r > 0 else "oscillating, converging" if r > -1 else
            "bouncing" if r == -1 else "diverging")


def plot_gd(out, steps=20):
    fig, (ax1, ax2) = figure(1, 2, figsize=(13, 4.8))
    for name, lam in EXAMPLES.items():
        ax1.plot(simulate(lam, steps=steps), marker=".", label=f"λ = {lam:g}: {name}")
    ax1.set(xlabel="step k", ylabel="x_k", ylim=(-2.5, 2.5), title="Gradient descent on f(x) = x² from x₀ = 1")
    ax1.legend(fontsize="small", loc="lower left")
    lams = np.logspace(-3, np.log10(1.5), 600)
    fK = np.array([simulate(lam, steps=steps)[-1] ** 2 for lam in lams])
    ax2.plot(lams, np.maximum(fK, 1e-30), color="k")
    for lo, hi, color, name in ((1e-3, 0.5, "tab:green", "monotone"), (0.5, 1.0, "tab:orange", "oscillating"),
                                (1.0, 1.5, "tab:red", "diverging")):
        ax2.axvspan(lo, hi, color=color, alpha=0.12, label=f"{name} ({lo:g} < λ < {hi:g})")
    ax2.axvline(0.5, color="tab:green", ls="--", label="λ = 0.5: minimum in one step")
    ax2.axvline(1.0, color="tab:red", ls="--", label="λ = 1: bouncing between ±x₀")
    ax2.set(xscale="log", yscale="log", ylim=(1e-30, 1e3), xlabel="step size λ (log scale)",
            ylabel=f"f(x_{steps}) (log scale)", title=f"f after {steps} steps vs λ")
    ax2.legend(fontsize="small", loc="lower left")
    save(fig, out / "gd_regimes.png")


# --- part b: the MLP sweep -------------------------------------------------------------------------------
def tidy(runs):
    """MLflow's runs frame of one sweep -> one row per run (the head is the sweep's output + loss)."""
    col = functools.partial(column, runs)
    loss = runs["params.loss.name"].iloc[0]
    head = f"{runs['params.model.output'].iloc[0]} + {LOSS.get(loss, loss)}"
    return pd.DataFrame({"run_id": runs.run_id, "head": head, "lr": runs["params.optim.lr"].astype(float),
                         "seed": runs["params.seed"].astype(int), "status": runs.status,
                         "diverged": col("tags.nnexp.diverged").astype(str) == "True",
                         "diverged_epoch": pd.to_numeric(col("tags.nnexp.diverged_epoch"), errors="coerce"),
                         "test_acc": col("metrics.test/acc"), "train_loss": col("metrics.train/loss"),
                         "dead_frac": col("metrics.layer1/dead_frac"),
                         "epochs": runs["params.trainer.epochs"].astype(int),
                         "n_train": runs["tags.nnexp.n_train"].astype(int)})


def summary(df):
    ok = df[df.status == "FINISHED"]
    rows = []
    for (h, lr), g in df.groupby(["head", "lr"]):
        f = ok[(ok["head"] == h) & (ok.lr == lr)]
        lo, hi = t_interval(f.test_acc)
        rows.append({"head": h, "lr": lr, "n_runs": len(g), "n_diverged": int(g.diverged.sum()),
                     "n_failed_other": int(((g.status != "FINISHED") & ~g.diverged).sum()),
                     "diverged_epoch": g.diverged_epoch.mean(), "test_acc": f.test_acc.mean(), "acc_low": lo,
                     "acc_high": hi, "train_loss": f.train_loss.mean(), "dead_frac": f.dead_frac.mean()})
    s = pd.DataFrame(rows)
    s["regime"] = ""
    for h, g in s.groupby("head"):
        clean = g[(g.n_diverged == 0) & g.test_acc.notna()]
        best = clean.lr[clean.test_acc.idxmax()] if len(clean) else math.nan
        for i, r in g.iterrows():
            s.loc[i, "regime"] = (
                "diverged" if r.n_diverged == r.n_runs else f"diverged in {r.n_diverged}/{r.n_runs}" if r.n_diverged
                else "best" if r.lr == best else "good" if r.test_acc >= clean.test_acc.max() - GOOD
                else "too small" if r.lr < best else "too large")
    return s


def ranges(g):
    """{regime: 'lo – hi'} over the lr grid, contiguous or not ('best' counted as good)."""
    out = {}
    for name in ("too small", "good", "too large", "diverged"):
        lrs = g.lr[g.regime.str.startswith(name) | ((name == "good") & (g.regime == "best"))
                   | ((name == "diverged") & g.regime.str.startswith("diverged"))]
        if len(lrs):
            out[name] = f"{lrs.min():g}" + (f" – {lrs.max():g}" if len(lrs) > 1 else "")
    return out


def plot_sweep(s, out):
    fig, (ax1, ax2) = figure(1, 2, figsize=(13, 6))
    for h, g in s.groupby("head"):
        line = ax1.errorbar(g.lr, g.test_acc * 100, marker="o", capsize=3, label=h,
                            yerr=[(g.test_acc - g.acc_low) * 100, (g.acc_high - g.test_acc) * 100])
        ax2.plot(g.lr, g.train_loss, marker="o", label=h, color=line[0].get_color())
    ax2.set(xscale="log", yscale="log")
    top = ax2.get_ylim()[1] * 3
    ax2.set_ylim(top=top * 3)
    for h, g in s.groupby("head"):  # the diverged runs: counted at their lr, at the bottom (accuracy) and top (loss)
        bad = g[g.n_diverged > 0]
        for ax, y in ((ax1, 2), (ax2, top)):
            ax.scatter(bad.lr, [y] * len(bad), marker="X", s=120, color="red", zorder=5)
            for r in bad.itertuples():
                ax.annotate(f"{r.n_diverged}/{r.n_runs}", (r.lr, y), textcoords="offset points",
                            xytext=(0, 8 if ax is ax1 else -18), ha="center", fontsize="small", color="red")
    main = s[s["head"] == (s["head"][s["head"].str.contains("linear")].tolist() or list(s["head"]))[0]]
    lrs = np.sort(main.lr.unique())
    edges = np.concatenate([[lrs[0] / 1.7], np.sqrt(lrs[1:] * lrs[:-1]), [lrs[-1] * 1.7]])  # geometric midpoints
    colors = {"too small": "tab:blue", "good": "tab:green", "best": "tab:green", "too large": "tab:orange"}
    seen = set()
    for (lo, hi), r in zip(zip(edges[:-1], edges[1:]), main.sort_values("lr").itertuples()):
        name = "diverged" if r.regime.startswith("diverged") else "good" if r.regime == "best" else r.regime
        ax1.axvspan(lo, hi, color=colors.get(name, "tab:red"), alpha=0.08, lw=0,
                    label=None if name in seen else f"{name} ({main['head'].iloc[0]})")
        seen.add(name)
    ax1.scatter([], [], marker="X", color="red", label="diverged (FAILED): count of runs")
    ax1.set(xscale="log", ylim=(0, 100), xlabel="learning rate (log scale)", ylabel="final test accuracy (%)",
            title="Final test accuracy (finished runs, mean ± 95% CI)")
    ax2.set(xscale="log", yscale="log", xlabel="learning rate (log scale)", ylabel="final training loss (log scale)",
            title="Final training loss (finished runs, mean; × = diverged)")
    ax1.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    ax2.legend(fontsize="small", loc="lower left")
    fig.suptitle(f"784-100-10 ReLU MLP on the 10,000-digit MNIST subset, {s.n_runs.max()} seeds per lr",
                 fontsize="medium")
    save(fig, out / "lr_sweep.png")


def plot_curves(h, out):
    import matplotlib.colors
    import seaborn as sns

    heads = sorted(h["head"].unique())
    fig, axes = figure(len(heads), 2, figsize=(14, 4.4 * len(heads)), squeeze=False)
    norm = matplotlib.colors.LogNorm(h.lr.min(), h.lr.max())
    for name, (ax1, ax2) in zip(heads, axes):
        g = h[h["head"] == name]
        for ax, key, label in ((ax1, "test/acc", "test accuracy (%)"), (ax2, "train/loss", "training loss (log)")):
            part = g[g.key == key].assign(value=lambda d: d.value * (100 if key == "test/acc" else 1))
            sns.lineplot(data=part, x="step", y="value", hue="lr", hue_norm=norm, palette="viridis", errorbar=None,
                         ax=ax, legend="full" if ax is ax2 else False)
            last = part[part.diverged].groupby("run_id").step.max()  # where the diverged runs stopped
            ends = part[part.run_id.isin(last.index)].groupby("run_id").last()
            ax.scatter(ends.step, ends.value if key == "test/acc" else [part.value.max()] * len(ends), marker="X",
                       color="red", s=60, zorder=5, label="diverged" if ax is ax2 else None)
            ax.set(xlabel="epoch", ylabel=label, title=f"{name}: {label.split(' (')[0]} per epoch (mean over seeds)")
        ax2.set_yscale("log")
        ax2.legend(title="learning rate", fontsize="x-small", bbox_to_anchor=(1.02, 1), loc="upper left")
    save(fig, out / "curves.png")


def report(s, df, links):
    lines = ["## The learning rate (`learning_rate`, seed 000)", "",
             "**Question** (seed 000): the step size λ of gradient descent X(k+1) = X(k) − λ∇f(X(k)) decides between "
             "slow convergence, oscillation around the minimum, bouncing between two values and divergence "
             "(\"gradient explosion\"). Where are those regimes, on a parabola and for an MLP?", "",
             "**(a) Gradient descent on f(x) = x²** (computed in the analysis script): x_{k+1} = x_k − 2λx_k = "
             "(1 − 2λ)x_k, so x_k = (1 − 2λ)^k x₀. With r = 1 − 2λ: 0 < λ < 0.5 gives 0 < r < 1, monotone "
             "convergence (slow when λ is small: f shrinks by r² per step); λ = 0.5 reaches the minimum in one step; "
             "0.5 < λ < 1 gives −1 < r < 0, convergence with the sign flipping every step (oscillation); λ = 1 gives "
             "r = −1, x bounces between +x₀ and −x₀ for ever; λ > 1 gives |r| > 1, divergence. For any quadratic "
             "with curvature L the boundaries are λ = 1/L and 2/L.", "",
             f"![gradient descent regimes]({links['gd_regimes.png']})", "",
             "| λ (example) | regime (from r = 1 − 2λ) | x after 20 steps |", "|---|---|---|",
             *[f"| {lam:g} | {regime(lam)} | {simulate(lam)[-1]:.3g} |" for lam in EXAMPLES.values()]]
    if s is not None:
        ok = df[df.status == "FINISHED"]
        lines += ["", "**(b) A learning-rate sweep of an MLP**: the 10,000-digit MNIST subset "
                  f"({int(df.n_train.max()):,} training digits, 10% of the training part held out, 2,004 test digits "
                  "unless capped), 784-100-10, ReLU hidden layer, He init, plain SGD, batch 32, "
                  f"{int(df.epochs.max())} epochs, seeds {', '.join(map(str, sorted(df.seed.unique())))}; learning "
                  f"rates {', '.join(f'{x:g}' for x in sorted(df.lr.unique()))}. Heads: "
                  + "; ".join(sorted(s["head"].unique())) + " (a linear output trained with MSE, ½‖a − y‖² on one-hot "
                  "targets, has an unbounded loss like part (a); softmax + cross-entropy is the usual classifier). "
                  "A run whose training loss becomes NaN/inf stops and is recorded FAILED (`nnexp.diverged`); it is "
                  f"counted, never averaged. {len(df)} runs: {len(ok)} finished, {int(df.diverged.sum())} diverged, "
                  f"{int(((df.status != 'FINISHED') & ~df.diverged).sum())} failed otherwise. Regimes from the data: "
                  f"*best* = highest mean final test accuracy among the lrs where no seed diverged, *good* = within "
                  f"{GOOD * 100:.0f} points of it, *too small* / *too large* = below that, left / right of the best. "
                  "`python -m nnexp +experiment=learning_rate` and `+experiment=learning_rate_ce`, then "
                  "`python experiments/learning_rate.py`.", "",
                  f"![sweep]({links['lr_sweep.png']})", "", f"![learning curves]({links['curves.png']})", ""]
        for h, g in s.groupby("head"):
            acc = [fmt_ci(r.test_acc, r.acc_low, r.acc_high) if r.n_runs - r.n_diverged > 1
                   else "—" if math.isnan(r.test_acc) else f"{r.test_acc * 100:.1f}" for r in g.itertuples()]
            t = pd.DataFrame({"lr": g.lr.map("{:g}".format),
                              "diverged": [f"{a}/{b}" for a, b in zip(g.n_diverged, g.n_runs)],
                              "final test acc %": acc,
                              "final train loss": g.train_loss.map(lambda v: "—" if math.isnan(v) else f"{v:.3g}"),
                              "dead ReLUs": g.dead_frac.map(lambda v: "—" if math.isnan(v) else f"{v:.0%}"),
                              "regime": g.regime})
            lines += [f"**{h}**", "", markdown_table(t), ""]
        lines.append("**Findings.**")
        for h, g in s.groupby("head"):
            b = g[g.regime == "best"].iloc[0]
            r = ranges(g)
            div = g[g.n_diverged > 0]
            dead = g[(g.regime == "too large") & (g.dead_frac >= 0.5)]
            lines.append(f"- {h}: best lr **{b.lr:g}** ({fmt_ci(b.test_acc, b.acc_low, b.acc_high)}% test accuracy). "
                         + "; ".join(f"{k}: {v}" for k, v in r.items()) + ". "
                         + (f"Divergence (NaN/inf loss) from lr {div.lr.min():g} on, in "
                            f"{int(div.n_diverged.sum())} runs, detected at epoch {div.diverged_epoch.mean():.1f} on "
                            "average (the loss is checked once per epoch). "
                            if len(div) else "No run diverged: the loss stayed finite at every lr. ")
                         + ("At the too-large rates the ReLUs died: " + ", ".join(
                             f"lr {x.lr:g}: {x.dead_frac:.0%} of the hidden units dead, {x.test_acc:.1%} test accuracy"
                             for x in dead.itertuples()) + " (chance is 10%)." if len(dead) else ""))
        main = s[s["head"].str.contains("linear")]
        if len(main):
            r = ranges(main)
            seen = [k for k in ("too small", "good", "too large", "diverged") if k in r]
            small = main[main.regime == "too small"].late_gain.dropna()
            what = {"too small": (f"test accuracy still rising by {small.min() * 100:.1f} to {small.max() * 100:.1f} "
                                  f"points over the last {max(1, int(df.epochs.max()) // 4)} epochs" if len(small)
                                  else ""), "good": "",
                    "too large": "finite but worse", "diverged": "NaN/inf loss, \"gradient explosion\""}
            lines += ["", "**Compared with the seed.** On the parabola all of seed 000's regimes are exact "
                      "(boundaries λ = 0.5 and 1). On the MLP with the quadratic cost the sweep shows "
                      f"{len(seen)} of the 4 regimes "
                      "(too small, good, too large, diverged): " + "; ".join(
                          f"{k} at lr {r[k]}" + (f" ({what[k]})" if what[k] else "") for k in seen) + ". "
                      + ("Unlike the parabola, the boundaries cannot be predicted from one curvature; they are read "
                         "from the sweep." if seen else "")]
    seeds = f"{df.seed.nunique()} seeds" if df is not None else "no sweep"
    lines += ["", "**Limits.** The parabola has one curvature; a network has many and they change during training. "
              f"The sweep is on the 10,000-digit MNIST subset, with {seeds}, one batch size and a fixed number of "
              "epochs (a small lr might catch up with more; whether it would be \"trapped in a worse minimum\", the "
              "seed's other worry, cannot be told from slow progress here), and neighbouring rates on the grid are "
              "half a decade apart, so every boundary is known only to within a factor of about 3."]
    return "\n".join(lines)


def main(argv=None):
    a = study_parser(__doc__, REPORT, experiment="learning_rate", ce_experiment="learning_rate_ce").parse_args(argv)
    out = a.out or RESULTS / STUDY
    frames, notes = [], []
    for exp in (a.experiment, a.ce_experiment):
        try:
            runs = latest_sweep(exp, a.tracking_uri)
        except LookupError as e:  # no sweep of this experiment recorded
            notes.append(f"note: {e}; left out")
            continue
        frames.append(tidy(runs))
    if frames:  # one part missing: said; both: the one line below says it
        for note in notes:
            print(note)
    else:  # nothing recorded: nothing is written (run_script: one line, exit 3)
        from nnexp.analysis import MissingRuns

        raise MissingRuns(f"no sweep of experiment {a.experiment!r} nor of {a.ce_experiment!r} in the MLflow store")
    out.mkdir(parents=True, exist_ok=True)
    links = {n: report_link(out / n, a.report) for n in ("gd_regimes.png", "lr_sweep.png", "curves.png")}
    plot_gd(out)
    df = pd.concat(frames, ignore_index=True) if frames else None
    s = None
    if df is not None:
        s = summary(df)
        plot_sweep(s, out)
        h = histories(list(df.run_id), ["test/acc", "train/loss"], a.tracking_uri).merge(
            df[["run_id", "head", "lr", "diverged"]], on="run_id")
        plot_curves(h, out)
        acc = h[h.key == "test/acc"].groupby(["head", "lr", "step"]).value.mean()
        last = int(df.epochs.max())
        gain = lambda r: (acc.get((r["head"], r.lr, last), np.nan)  # noqa: E731
                          - acc.get((r["head"], r.lr, last - max(1, last // 4)), np.nan))
        s["late_gain"] = [gain(r) for _, r in s.iterrows()]  # test accuracy gained over the last quarter of epochs
    gd = pd.DataFrame([{"part": "gd_x2", "lr": lam, "regime": regime(lam), "x_20": simulate(lam)[-1]}
                       for lam in sorted({*EXAMPLES.values(), 0.5})])
    pd.concat([gd, s.assign(part="mlp") if s is not None else None]).to_csv(out / "summary.csv", index=False)
    text = report(s, df, links)
    write_section(STUDY, text, a.report)
    print(text.split("**Findings.**")[-1].split("**Limits")[0] if s is not None else "no MLP sweep")
    return text


if __name__ == "__main__":
    import sys

    from nnexp.analysis import run_script

    sys.exit(run_script("learning_rate", main))
