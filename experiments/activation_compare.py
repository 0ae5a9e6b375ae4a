"""Activation functions compared (seed 004): sigmoid, tanh, ReLU, leaky ReLU, PReLU in one matched network.

Reads the latest sweeps of `activation_compare` (6×100 network, each activation under Xavier and He) and
`activation_compare_lr` (ReLU, learning rate 0.001..3: the dead fraction) from MLflow (it never retrains) and
writes results/activation_compare/: summary.csv, learning_curves.png, gradients.png, saturation.png,
dead_vs_lr.png and its section of results/README.md.

    python experiments/activation_compare.py [--experiment activation_compare] [--tracking-uri URI] [--out DIR]
                                             [--report FILE]
"""
from __future__ import annotations

import ast
import functools
import sys

import numpy as np
import pandas as pd

from nnexp.analysis import column, curves, report_link, study_parser, RESULTS, figure, fmt_ci, latest_sweep, markdown_table, save, summarise, write_section
from nnexp.tracking import resolve_uri

STUDY = "activation_compare"
ACTS = ["sigmoid", "tanh", "relu", "leaky_relu", "prelu"]
OWN_INIT = {"sigmoid": "xavier", "tanh": "xavier", "relu": "he", "leaky_relu": "he", "prelu": "he"}
CLAIM = 0.40  # seed 004 (after CS231n): "as much as 40% of the network can be dead"


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    col = functools.partial(column, raw)
    widths = col("tags.nnexp.hidden", "[]").map(lambda s: list(ast.literal_eval(s)))
    df = pd.DataFrame({"run_id": raw.run_id, "act": col("params.activation.name"), "init": col("params.init.scheme"),
                       "lr": pd.to_numeric(col("params.optim.lr")), "seed": pd.to_numeric(col("params.seed")).astype(int),
                       "widths": widths, "status": raw.status, "epochs": col("params.trainer.epochs"), "batch": col("params.trainer.batch_size"),
                       "n_train": col("tags.nnexp.n_train"), "end_reason": col("tags.nnexp.end_reason", None),
                       "diverged_epoch": pd.to_numeric(col("tags.nnexp.diverged_epoch"), errors="coerce")})
    df["own"] = df.act.map(OWN_INIT) == df.init
    return df




def band(ax, g, x, y, label, scale=1.0, log=False, **kw):
    """Mean line and 95% t-CI band over seeds of y per x (log: geometric mean, CI of log10 y)."""
    s = summarise(g.assign(v=np.log10(g[y]) if log else g[y]), [x], "v")
    f = (lambda v: 10 ** v) if log else (lambda v: v * scale)  # noqa: E731
    ax.plot(s[x], f(s["mean"]), label=label, **kw)
    ax.fill_between(s[x], f(s.ci_low), f(s.ci_high), alpha=0.2, color=ax.lines[-1].get_color())


def ci_txt(m, lo, hi, n, scale=100):
    return "n/a" if not np.isfinite(m) else fmt_ci(m, lo, hi, scale) if n >= 2 else f"{m * scale:.1f}"


def one(g, y, scale=100):
    s = summarise(g.assign(k=0), ["k"], y)
    return (ci_txt(s["mean"][0], s.ci_low[0], s.ci_high[0], s.n_seeds[0], scale), s["mean"][0], s.ci_low[0],
            s.ci_high[0]) if len(s) and s.n_seeds[0] else ("n/a", np.nan, np.nan, np.nan)


def plot_curves(h, out):
    fig, (ax1, ax3, ax2) = figure(1, 3, figsize=(17, 4.6))
    for act in [a for a in ACTS if a in set(h.act)]:
        g = h[(h.act == act) & h.own & (h.status == "FINISHED")]
        for ax in (ax1, ax3):
            band(ax, g, "step", "test/acc", f"{act} ({OWN_INIT[act]})", 100, marker="o", ms=3)
        band(ax2, g, "step", "train/loss", act, log=True, marker="o", ms=3)
    ax1.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(0, 100), title="Test accuracy per epoch")
    top = h[h.own & (h.step >= 1) & (h.act != "sigmoid")]["test/acc"]
    ax3.set(xlabel="epoch", ylabel="test accuracy (%)", title="Zoom (sigmoid off the scale)",
            ylim=((max(top.quantile(0.05) * 100 - 1, 0), min(top.max() * 100 + 1.5, 100)) if len(top) else (0, 100)),
            xlim=(0.5, h.step.max() + 0.5))
    ax2.set(xlabel="epoch", ylabel="training loss (cross-entropy, log scale)", yscale="log",
            title="Training loss (geometric mean, 95% CI)")
    ax1.legend(title="activation (init)", fontsize="small")
    fig.suptitle("Learning curves, 6×100 network, MNIST 10k subset (mean ± 95% CI over seeds)", fontsize="medium")
    save(fig, out / "learning_curves.png")


def plot_gradients(h, L, out):
    last = int(h.step.max())
    fig, axes = figure(1, 4, figsize=(19, 4.4))
    g = h[h.own & (h.status == "FINISHED")]
    for ax, step, title in zip(axes, (0, 1, last), ("at initialisation (step 0)", "after epoch 1",
                                                     f"after epoch {last}")):
        for act in [a for a in ACTS if a in set(g.act)]:
            m = g[(g.act == act) & (g.step == step)][[f"layer{i}/grad_norm" for i in range(1, L + 1)]].mean()
            ax.plot(range(1, L + 1), m.values, marker="o", label=act)
        ax.set(yscale="log", xlabel=f"layer (1 = first hidden, {L} = output)", ylabel="‖dW‖ (gradient norm)",
               title=title, xticks=range(1, L + 1))
    for act in [a for a in ACTS if a in set(g.act)]:
        band(axes[3], g[g.act == act], "step", "ratio", act, log=True, marker="o", ms=3)
    axes[3].set(yscale="log", xlabel="epoch", ylabel=f"‖dW₁‖ / ‖dW{L}‖",
                title="layer 1 ÷ output layer (geometric mean, 95% CI)")
    axes[3].xaxis.get_major_locator().set_params(integer=True)
    axes[3].axhline(1, color="grey", ls=":")
    axes[0].legend(fontsize="small")
    fig.suptitle("Gradient norm per layer (mean over seeds; each activation under its own init)", fontsize="medium")
    save(fig, out / "gradients.png")


def plot_saturation(h, L, out):
    acts = [a for a in ("sigmoid", "tanh") if a in set(h.act)]
    fig, axes = figure(1, 2, figsize=(12, 4.2))
    for act, color in zip(acts, ("C0", "C3")):
        for init, ls in (("xavier", "-"), ("he", "--")):
            g = h[(h.act == act) & (h.init == init)]
            if len(g):
                band(axes[0], g, "step", "sat_mean", f"{act}, {init} init", 100, ls=ls, marker="o", ms=3, color=color)
        for step, ls, mk in ((0, ":", "s"), (int(h.step.max()), "-", "o")):
            g = h[(h.act == act) & h.own & (h.step == step)]
            m = g[[f"layer{i}/saturated_frac" for i in range(1, L)]].mean() * 100
            axes[1].plot(range(1, L), m.values, marker=mk, ls=ls, color=color, label=f"{act}, epoch {step}")
    axes[0].set(xlabel="epoch", ylabel="saturated (%, mean over hidden layers)", ylim=(-0.3, None),
                title="Saturated fraction over training (mean ± 95% CI)")
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    axes[1].set(xlabel="hidden layer", ylabel="saturated activations (%)", ylim=(-0.3, None),
                title="Per layer, each under its own init (Xavier)", xticks=range(1, L))
    for ax in axes:
        ax.legend(fontsize="small")
    fig.suptitle("Saturation (σ' or tanh' below 10% of its maximum) of sigmoid and tanh units", fontsize="medium")
    save(fig, out / "saturation.png")


def dead_per_run(h, runs):
    """Whole-network dead fraction (hidden layers weighted by units) per evaluation with a finite loss, and per
    run: after training (finished runs), the peak over the epochs of training (step >= 1) and when it came."""
    w = runs.set_index("run_id").widths
    cols = lambda r: [f"layer{i + 1}/dead_frac" for i in range(len(w[r]))]  # noqa: E731
    h = h.copy()
    h["net_dead"] = [np.average(row[cols(r)].astype(float), weights=w[r]) if row[cols(r)].notna().all() else np.nan
                     for r, (_, row) in zip(h.run_id, h.iterrows())]
    h = h[np.isfinite(h["train/loss"]) & h.net_dead.notna()]
    rows = []
    for _, run in runs.iterrows():
        g = h[h.run_id == run.run_id].sort_values("step")
        t = g[g.step >= 1]  # during training: a run that diverged in epoch 1 has no such evaluation
        peak = t.loc[t.net_dead.idxmax()] if len(t) else None
        done = run.status == "FINISHED" and len(g)
        rows.append({"run_id": run.run_id, "lr": run.lr, "seed": run.seed, "status": run.status,
                     "diverged_epoch": run.diverged_epoch, "init_dead": g.net_dead.iloc[0] if len(g) else np.nan,
                     "final_dead": g.net_dead.iloc[-1] if done else np.nan,
                     "peak_dead": peak.net_dead if peak is not None else np.nan,
                     "peak_epoch": int(peak.step) if peak is not None else -1,
                     "worst_layer": max(cols(run.run_id), key=lambda c: t[c].max()).split("/")[0] if len(t) else "",
                     "worst_layer_dead": max(t[c].max() for c in cols(run.run_id)) if len(t) else np.nan,
                     "test_acc": g["test/acc"].iloc[-1] if done else np.nan})
    return h, pd.DataFrame(rows)


def plot_dead(hd, per, runs, out):
    fig, (ax1, ax2, ax3) = figure(1, 3, figsize=(18, 4.6))
    fin = per[per.status == "FINISHED"]
    for y, label, mk in (("final_dead", "after training (finished runs)", "o"),
                         ("peak_dead", "peak during training (all runs, finite epochs)", "s")):
        s = summarise(per if y == "peak_dead" else fin, ["lr"], y)
        ax1.errorbar(s.lr, s["mean"] * 100, yerr=[(s["mean"] - s.ci_low) * 100, (s.ci_high - s["mean"]) * 100],
                     marker=mk, capsize=3, label=f"{label}, mean ± 95% CI")
        ax1.scatter(per.lr if y == "peak_dead" else fin.lr, (per if y == "peak_dead" else fin)[y] * 100, s=10,
                    alpha=0.4, color=ax1.lines[-1].get_color())
    ax1.axhline(CLAIM * 100, color="red", ls="--", label="seed 004: \"as much as 40%\"")
    s = summarise(fin, ["lr"], "test_acc")
    ax2.errorbar(s.lr, s["mean"] * 100, yerr=[(s["mean"] - s.ci_low) * 100, (s.ci_high - s["mean"]) * 100],
                 marker="o", capsize=3, label="finished runs, mean ± 95% CI")
    for ax in (ax1, ax2):
        for i, (lr, g) in enumerate(runs.groupby("lr")):
            n_f = int((g.status == "FAILED").sum())
            if n_f:
                ax.plot([lr], [96], "rx", ms=9, label="diverged (FAILED): k/n runs" if not ax.texts else None)
                ax.text(lr, 89 - 5 * (i % 2), f"{n_f}/{len(g)}", ha="center", fontsize="x-small", color="red")
        ax.set(xscale="log", ylim=(0, 100), xlabel="learning rate (log scale)")
    ax1.set(ylabel="dead ReLU units (% of all hidden units)", title="Dead fraction vs learning rate")
    ax2.set(ylabel="test accuracy (%)", title="Test accuracy vs learning rate (× = diverged)")
    ax1.legend(fontsize="x-small", loc="upper left")
    ax2.legend(fontsize="x-small", loc="lower left")
    import matplotlib

    lrs = sorted(runs.lr.unique())
    cmap = matplotlib.colormaps["viridis"]
    for i, lr in enumerate(lrs):
        m = hd[hd.lr == lr].groupby("step").net_dead.mean() * 100
        ax3.plot(m.index, m.values, marker="o", ms=3, color=cmap(i / max(len(lrs) - 1, 1)), label=f"{lr:g}")
    ax3.axhline(CLAIM * 100, color="red", ls="--")
    ax3.set(xlabel="epoch", ylabel="dead ReLU units (%, mean over the runs still finite)", ylim=(0, 100),
            title="Dead fraction per epoch (until divergence)")
    ax3.legend(title="learning rate", fontsize="x-small", ncol=2)
    fig.suptitle("Dead ReLUs (zero for every training sample), 6×100 ReLU network, He init, plain SGD, MNIST 10k subset",
                 fontsize="medium")
    save(fig, out / "dead_vs_lr.png")


def sci(x):
    return "n/a" if not np.isfinite(x) else f"{x:.2g}" if 1e-2 <= abs(x) < 1e3 else f"{x:.1e}"


METRICS = {"test_acc_epoch1": ("test/acc", 1), "test_acc_final": ("test/acc", -1), "train_loss_final": ("train/loss", -1),
           "grad_ratio_init": ("ratio", 0), "grad_ratio_final": ("ratio", -1), "sat_init": ("sat_mean", 0),
           "sat_final": ("sat_mean", -1), "dead_final": ("dead_mean", -1),
           "epochs_to_90": ("reach90", -1)}  # name: (column, step; -1 = last)


def compare_table(h, runs):
    """Tidy: per activation × init × metric, mean and 95% CI over the finished seeds (and the run counts)."""
    rows, last = [], int(h.step.max())
    for (act, init), g in runs.groupby(["act", "init"]):
        hh = h[(h.act == act) & (h.init == init) & (h.status == "FINISHED")]
        for name, (y, step) in METRICS.items():
            df = hh[hh.step == (last if step < 0 else step)]
            s = summarise(df.assign(k=0), ["k"], y) if len(df) and df[y].notna().any() else None
            rows.append({"act": act, "init": init, "own_init": OWN_INIT.get(act) == init, "metric": name,
                         "n_runs": len(g), "n_failed": int((g.status == "FAILED").sum()),
                         **{c: (s[c].iloc[0] if s is not None else np.nan) for c in ("n_seeds", "mean", "ci_low", "ci_high")}})
    return pd.DataFrame(rows)


def cell(t, act, init, m, pct=True):
    r = t[(t.act == act) & (t.init == init) & (t.metric == m)]
    if not len(r):
        return "—"
    r = r.iloc[0]
    if r.n_runs == r.n_failed:
        return f"diverged {r.n_failed}/{r.n_runs}"
    if m == "epochs_to_90":  # a run that never reaches 90% has no value: say how many did
        ok = f"{r.n_seeds:.0f}/{r.n_runs - r.n_failed} runs"
        return f"never (0/{r.n_runs - r.n_failed} runs)" if not r.n_seeds > 0 else (f"{r['mean']:.2g}" + (f" [{r.ci_low:.2g}, {r.ci_high:.2g}]"
                                                                     if r.n_seeds >= 2 else "") + f" ({ok})")
    if pct:
        return ci_txt(r["mean"], r.ci_low, r.ci_high, r.n_seeds)
    return sci(r["mean"]) + (f" [{sci(r.ci_low)}, {sci(r.ci_high)}]" if r.n_seeds >= 2 else "")


def own_frame(t, m):
    """mean, ci_low, ci_high, n_seeds of metric m per activation under its own init."""
    return t[t.own_init & (t.metric == m)].set_index("act")


def report(runs, lr_runs, t, per, L, rel):
    acts = [a for a in ACTS if a in set(runs.act)]
    last = int(runs.epochs.astype(int).max())
    one_ = lambda df, c: ", ".join(map(str, sorted(df[c].dropna().unique())))  # noqa: E731
    fin = lambda df: f"{len(df)} runs: {(df.status == 'FINISHED').sum()} finished, {(df.status == 'FAILED').sum()} failed (diverged)"  # noqa: E731
    w = runs.widths.iloc[0]
    main = pd.DataFrame([{"activation (own init)": f"{a} ({OWN_INIT[a]})", "test acc epoch 1 (%)": cell(t, a, OWN_INIT[a], "test_acc_epoch1"),
                          f"test acc epoch {last} (%)": cell(t, a, OWN_INIT[a], "test_acc_final"),
                          f"‖dW₁‖/‖dW{L}‖ at init": cell(t, a, OWN_INIT[a], "grad_ratio_init", False),
                          f"… at epoch {last}": cell(t, a, OWN_INIT[a], "grad_ratio_final", False),
                          "saturated (%) init → end": (f"{cell(t, a, OWN_INIT[a], 'sat_init')} → {cell(t, a, OWN_INIT[a], 'sat_final')}"
                                                       if a in ("sigmoid", "tanh") else "—"),
                          "dead (%) at end": cell(t, a, OWN_INIT[a], "dead_final") if a == "relu" else "—",
                          "epochs to 90% test acc": cell(t, a, OWN_INIT[a], "epochs_to_90", False)}
                         for a in acts])
    cross = pd.DataFrame([{"activation": a, **{f"{i} init: test acc (%)": cell(t, a, i, "test_acc_final")
                                               for i in ("xavier", "he") if len(t[(t.act == a) & (t.init == i)])}}
                          for a in acts])
    fr = own_frame(t, "test_acc_final").dropna(subset=["mean"])
    best = fr["mean"].idxmax()
    tied = [a for a in fr.index if a != best and fr.ci_high[a] >= fr.ci_low[best]]
    g, gf = own_frame(t, "grad_ratio_init")["mean"], own_frame(t, "grad_ratio_final")["mean"]
    findings = [f"Best final test accuracy: {best} ({cell(t, best, OWN_INIT[best], 'test_acc_final')}%); "
                + ("one seed, no CI to tell noise from a difference" if fr.n_seeds.min() < 2 else
                   f"within noise of it (CIs overlap): {', '.join(tied)}" if tied else
                   "every other activation is below it beyond noise")
                + "; " + "; ".join(f"{a} {cell(t, a, OWN_INIT[a], 'test_acc_final')}%" for a in acts if a != best) + "."]
    reach = own_frame(t, "epochs_to_90")
    if {"tanh", "relu"} <= set(reach.index):
        findings.append("Speed (seed 004, after AlexNet: ReLU reaches a training error ~6× sooner than tanh): epochs to "
                        "a 90% test accuracy, " + "; ".join(
                            f"{a} {cell(t, a, OWN_INIT[a], 'epochs_to_90', False)}" for a in acts if a in reach.index)
                        + f". tanh ÷ ReLU: {reach['mean']['tanh'] / reach['mean']['relu']:.2g}, "
                        + ("within noise (CIs overlap)" if reach.ci_low["tanh"] <= reach.ci_high["relu"] and
                           reach.ci_low["relu"] <= reach.ci_high["tanh"] else "beyond noise") + " — not the 6× of "
                        "AlexNet (a CNN on ImageNet, with its own learning rate and a training-error target).")
    dead = own_frame(t, "dead_final")
    if {"relu", "leaky_relu", "prelu"} <= set(fr.index) and "relu" in dead.index:
        over = lambda a: fr.ci_low[a] > fr.ci_high["relu"] or fr.ci_high[a] < fr.ci_low["relu"]  # noqa: E731
        findings.append(f"Dying ReLU at lr {one_(runs, 'lr')}: {dead['mean']['relu']:.1%} of the ReLU units were "
                        f"dead after epoch {last}, so Leaky ReLU and PReLU had little to fix here: " + ", ".join(
                            f"{a} {cell(t, a, OWN_INIT[a], 'test_acc_final')}% "
                            f"({'beyond' if over(a) else 'within'} noise of ReLU's)" for a in ("leaky_relu", "prelu"))
                        + ". Where units do die, at high learning rates, see below.")
    if "sigmoid" in g and "relu" in g:
        findings.append(f"Vanishing gradient: at initialisation layer 1's gradient norm was {sci(g['sigmoid'])} times the "
                        f"output layer's with sigmoid, against {sci(g['relu'])} with ReLU"
                        + (f" and {sci(g['tanh'])} with tanh" if "tanh" in g else "") + f"; at epoch {last}, {sci(gf['sigmoid'])} for sigmoid (ReLU {sci(gf['relu'])}). "
                        f"A sigmoid's derivative is at most 1/4, so over {L - 1} layers the backward signal shrinks by up "
                        f"to 4^{L - 1} = {4 ** (L - 1):,} even when no unit is saturated.")
    for a in ("sigmoid", "tanh"):
        if a in acts:
            findings.append(f"{a}: {cell(t, a, OWN_INIT[a], 'sat_init')}% of the hidden activations saturated at "
                            f"initialisation, {cell(t, a, OWN_INIT[a], 'sat_final')}% after epoch {last}"
                            + (" — the sigmoid network's gradient vanished without saturating" if a == "sigmoid" and
                               own_frame(t, "sat_final")["mean"].get(a, 1) < 0.05 and g.get(a, 1) < 0.01 else "") + ".")
    lines = [
        "## Activation functions compared (seed 004)", "",
        "**Question.** Seed 004 says the sigmoid saturates and kills gradients, tanh is zero-centred but still "
        "saturates, ReLU converges fast but units can die — \"with too high a learning rate as much as 40% of the "
        "network may be dead\" — and Leaky ReLU / PReLU are the fixes. How do they compare in one network?", "",
        f"**Setup.** The 10,000-digit MNIST subset ({int(float(runs.n_train.iloc[0])):,} training digits after the "
        f"validation split). One network for all: {len(w)} hidden layers of {w[0]} units, softmax + cross-entropy, "
        f"plain SGD at lr {one_(runs, 'lr')}, batch {one_(runs, 'batch')}, {last} epochs, seeds {one_(runs, 'seed')}. Every activation "
        "ran under both Xavier and He init; the figures and the first table show each under its own init (Xavier, "
        "derived for tanh, for sigmoid and tanh; He, derived for ReLU/PReLU, for the ReLU family), the second table "
        f"the other pairing. {fin(runs)}. Dead-ReLU sweep (`activation_compare_lr`): the same network with ReLU "
        f"and He init, learning rates {one_(lr_runs, 'lr')}, {one_(lr_runs, 'epochs')} epochs, seeds "
        f"{one_(lr_runs, 'seed')}; {fin(lr_runs)}. A unit is dead when it is 0 for every training sample; the "
        "network's dead fraction is over all hidden units (layers weighted by their width).", "",
        "Run: `python -m nnexp +experiment=activation_compare`, `python -m nnexp +experiment=activation_compare_lr`; "
        "analyse: `python experiments/activation_compare.py`.", "",
        f"![learning curves]({rel('learning_curves.png')})", "", f"![gradient norm per layer]({rel('gradients.png')})",
        "", f"![saturation]({rel('saturation.png')})", "", f"![dead fraction vs learning rate]({rel('dead_vs_lr.png')})",
        "", "**Numbers** (mean ± 95% t-CI half-width over seeds; gradient ratios as mean [CI]):", "",
        markdown_table(main), "", markdown_table(cross), "", "**Findings.**", "", *[f"- {x}" for x in findings], ""]
    lines += dead_report(per, lr_runs)
    lines += ["", "**Limits.** The 10,000-digit MNIST subset; one learning rate for the comparison (a sigmoid network "
              "would want a larger one, a deep ReLU network may prefer a smaller one); plain SGD (no momentum, no "
              f"normalisation); {last} epochs; {runs.seed.nunique()} seed(s), so the CIs are wide. Gradient norms of "
              f"layers of different shapes (inputs×{w[0]}, {w[0]}×{w[0]}, {w[-1]}×classes) are compared as "
              "they are (‖dW‖ grows with the number of weights: the output layer has the fewest). The dead fraction is "
              "measured on the training set at each epoch's end; a diverged run's last (non-finite) epoch is not used."]
    return "\n".join(lines)


def dead_report(per, lr_runs):
    fin = per[per.status == "FINISHED"]
    s_fin, s_peak = summarise(fin, ["lr"], "final_dead"), summarise(per, ["lr"], "peak_dead")
    rows = []
    for lr, g in lr_runs.groupby("lr"):
        p, f = s_peak[s_peak.lr == lr], s_fin[s_fin.lr == lr]
        failed = g[g.status == "FAILED"]
        rows.append({"lr": f"{lr:g}", "finished": f"{len(g) - len(failed)}/{len(g)}",
                     "diverged (epoch)": ", ".join(f"{e:g}" for e in failed.diverged_epoch) or "—",
                     "dead after training (%)": ci_txt(*f[["mean", "ci_low", "ci_high", "n_seeds"]].iloc[0]) if len(f) else "—",
                     "peak dead during training (%)": ci_txt(*p[["mean", "ci_low", "ci_high", "n_seeds"]].iloc[0]) if len(p) else "—",
                     "largest single value (%)": f"{per[per.lr == lr].peak_dead.max() * 100:.1f}"
                     if per[per.lr == lr].peak_dead.notna().any() else "—",
                     "test acc (%)": one(fin[fin.lr == lr], "test_acc")[0] if len(fin[fin.lr == lr]) else "—"})
    top = per.loc[per.peak_dead.fillna(-1).idxmax()]
    bf = s_fin.loc[s_fin["mean"].idxmax()] if len(s_fin) else None
    bp = s_peak.loc[s_peak["mean"].idxmax()]
    n_failed = int((lr_runs.status == "FAILED").sum())
    reached = (per.peak_dead >= CLAIM).sum()
    lrs = sorted(lr_runs.lr.unique())
    first_fail = lr_runs[lr_runs.status == "FAILED"].lr.min() if (lr_runs.status == "FAILED").any() else np.nan
    text = (f"The largest whole-network dead fraction measured was **{top.peak_dead:.1%}** (lr {top.lr:g}, seed "
            f"{top.seed}, epoch {top.peak_epoch}; the run {'finished' if top.status == 'FINISHED' else 'diverged later'}"
            + (f" at {top.test_acc:.1%} test accuracy" if np.isfinite(top.test_acc) else "")
            + f"; its worst layer, {top.worst_layer}, {top.worst_layer_dead:.0%} dead). At initialisation "
            f"{per.init_dead.mean():.1%} of the units were dead (mean over runs). ")
    if bf is not None:
        text += (f"After training, the highest mean was {ci_txt(bf['mean'], bf.ci_low, bf.ci_high, bf.n_seeds)}% at lr "
                 f"{bf.lr:g} ({bf.n_seeds:.0f} finished run{'s' if bf.n_seeds > 1 else ''}); the highest mean peak "
                 f"during training {ci_txt(bp['mean'], bp.ci_low, bp.ci_high, bp.n_seeds)}% at lr {bp.lr:g} "
                 f"({bp.n_seeds:.0f} run{'s' if bp.n_seeds > 1 else ''} with a finite epoch). ")
    text += f"40% was reached in {reached} of {len(per)} runs (at any epoch)"
    if bp.n_seeds >= 2:
        text += f"; at lr {bp.lr:g} the mean peak's 95% CI {'includes' if bp.ci_low <= CLAIM <= bp.ci_high else 'excludes'} 40%"
    text += ". "
    if n_failed:
        text += (f"{n_failed} run(s) diverged (loss NaN/inf, recorded FAILED): " + "; ".join(
            f"lr {lr:g}: {int((g.status == 'FAILED').sum())}/{len(g)}" for lr, g in lr_runs.groupby("lr")
            if (g.status == "FAILED").any()) + "; their dead fraction counts only up to the last epoch with a finite "
            "loss (none for a run that diverged within its first epoch). ")
    hit = per[per.peak_dead >= CLAIM]
    ok = per[(per.status == "FINISHED") & (per.test_acc > 0.5)]
    text += "The seed's \"as much as 40%\" is " + (
        f"reached in {len(hit)} run(s): " + "; ".join(
            f"lr {r.lr:g} seed {r.seed} ({r.peak_dead:.0%}, " + (f"finished at {r.test_acc:.0%} test accuracy)"
                                                              if r.status == "FINISHED" else
                                                              f"diverged at epoch {r.diverged_epoch:g})")
            for _, r in hit.iterrows()) + ". " if len(hit) else f"not reached here: the most was {top.peak_dead:.0%}. ")
    if len(ok):
        w = ok.loc[ok.final_dead.idxmax()]
        text += (f"In a network that still worked (finished above 50% test accuracy), the most units dead after "
                 f"training was {w.final_dead:.1%} (lr {w.lr:g}, seed {w.seed}). ")
    if np.isfinite(first_fail):
        below = [x for x in lrs if x < first_fail]
        text += (f"The smallest learning rate with a diverged run was {first_fail:g}; the most dead units (mean peak) "
                 f"came at lr {bp.lr:g}, " + ("the largest rate below it." if below and bp.lr == max(below) else
                                              "well below it." if bp.lr < first_fail else
                                              "the rate where runs start to diverge." if bp.lr == first_fail else
                                              "among the diverging rates."))
    else:
        text += "No run diverged."
    return ["**Dead ReLUs vs learning rate** (seed 004's 40%):", "", markdown_table(pd.DataFrame(rows)), "", text]


def main(argv=None) -> str:
    a = study_parser(__doc__, experiment=(STUDY, "the comparison sweep; its _lr sweep is read too")).parse_args(argv)
    uri, out = resolve_uri(a.tracking_uri), a.out or RESULTS / STUDY
    base, quick = a.experiment.removesuffix("_quick"), "_quick" if a.experiment.endswith("_quick") else ""
    # no runs: LookupError (run_script: exit 3)
    runs, lr_runs = tidy(latest_sweep(a.experiment, uri)), tidy(latest_sweep(f"{base}_lr{quick}", uri))
    out.mkdir(parents=True, exist_ok=True)
    L = max(map(len, runs.widths)) + 1
    keys = (["test/acc", "val/acc", "train/loss"] + [f"layer{i}/grad_norm" for i in range(1, L + 1)]
            + [f"layer{i}/{k}" for i in range(1, L) for k in ("saturated_frac", "dead_frac")])
    h = curves(runs, keys, uri)
    h["ratio"] = h["layer1/grad_norm"] / h[f"layer{L}/grad_norm"]
    sat = [c for c in h if c.endswith("saturated_frac")]
    dead = [c for c in h if c.endswith("dead_frac")]
    h["sat_mean"] = h[sat].mean(axis=1) if sat else np.nan  # NaN for the activations that cannot saturate
    h["dead_mean"] = h[dead].mean(axis=1) if dead else np.nan  # equal widths: the unweighted mean is the network's
    h["reach90"] = h.run_id.map(h[h["test/acc"] >= 0.9].groupby("run_id").step.min())  # first epoch at 90%
    t = compare_table(h, runs)
    Lr = max(map(len, lr_runs.widths))
    hl = curves(lr_runs, ["train/loss", "test/acc"] + [f"layer{i}/dead_frac" for i in range(1, Lr + 1)], uri)
    hd, per = dead_per_run(hl, lr_runs)
    plot_curves(h, out), plot_gradients(h, L, out), plot_saturation(h, L, out), plot_dead(hd, per, lr_runs, out)
    comp = t.assign(part="compare")
    lr_rows = [summarise(per if y == "peak_dead" else per[per.status == "FINISHED"], ["lr"], y).assign(metric=y)
               for y in ("final_dead", "peak_dead", "test_acc")]
    lr_tab = pd.concat(lr_rows).merge(lr_runs.groupby("lr").status.apply(lambda s: int((s == "FAILED").sum()))
                                      .rename("n_failed").reset_index(), on="lr").assign(part="dead_vs_lr", act="relu")
    pd.concat([comp, lr_tab], ignore_index=True).to_csv(out / "summary.csv", index=False)
    rel = lambda f: report_link(out / f, a.report)  # noqa: E731
    md = report(runs, lr_runs, t, per, L, rel)
    write_section(STUDY, md, a.report)
    print(f"{STUDY}: {len(runs)} + {len(lr_runs)} runs -> {out}, {a.report}")
    return md


if __name__ == "__main__":
    from nnexp.analysis import run_script

    sys.exit(run_script("activation_compare", main))
