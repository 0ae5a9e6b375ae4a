"""Initialisation schemes (seeds 000, 001, 004): zero, N(0, fan_in^-1/2), N(0, 1), U(-1, 1), Xavier, He.

Reads the latest sweeps of `init_schemes` (0/1/3 hidden layers, sigmoid/ReLU), `init_schemes_deep` (10 hidden
layers: spread of activations and gradients at step 0) and, when present, `init_schemes_fp32` (zero init in
float32 vs float64) from MLflow (it never retrains) and writes results/init_schemes/: summary.csv, symmetry.png,
accuracy.png, deep_init.png, float32_symmetry.png and its section of results/README.md.

    python experiments/init_schemes.py [--experiment init_schemes] [--tracking-uri URI] [--out DIR] [--report FILE]
"""
from __future__ import annotations

import ast
import functools
import os
import sys
import tempfile

import numpy as np
import pandas as pd

from nnexp.analysis import column, curves, report_link, study_parser, RESULTS, figure, fmt_ci, latest_sweep, markdown_table, save, summarise, write_section
from nnexp.tracking import resolve_uri

STUDY = "init_schemes"
SCHEMES = {"zero": "zero", "normal_fanin": "N(0, 1/√fan_in)", "normal": "N(0, 1)", "uniform": "U(−1, 1)",
           "xavier": "Xavier", "he": "He"}
FLOOR = 1e-20  # where exact zeros are drawn on log axes


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    col = functools.partial(column, raw)
    widths = col("tags.nnexp.hidden", "[]").map(lambda s: list(ast.literal_eval(s)))
    df = pd.DataFrame({"run_id": raw.run_id, "scheme": col("params.init.scheme"), "act": col("params.activation.name"),
                       "widths": widths, "depth": widths.map(len), "seed": pd.to_numeric(col("params.seed")).astype(int),
                       "dtype": col("params.model.dtype"), "status": raw.status, "lr": col("params.optim.lr"),
                       "epochs": col("params.trainer.epochs"), "batch": col("params.trainer.batch_size"), "end_reason": col("tags.nnexp.end_reason", None),
                       "n_train": pd.to_numeric(col("tags.nnexp.n_train"), errors="coerce"),
                       "test_acc": pd.to_numeric(col("metrics.test/acc"), errors="coerce")})
    df["arch"] = [f"{d}×{w[0]} {a}" if d else "0 hidden" for d, w, a in zip(df.depth, df.widths, df.act)]
    return df




def weights_symmetric(run_id, uri):
    """True when every hidden layer's weight columns are bitwise identical in the saved weights; None if absent."""
    from nnexp.tracking import download

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            w = np.load(download(run_id, "weights.npz", tmp, uri), allow_pickle=False)
            mats = [w[k] for k in sorted(w.files) if k.startswith("W")][:-1]
            return all((m == m[:, :1]).all() for m in mats)
    except Exception:  # noqa: BLE001 - no artifact, or not downloadable: the check is just skipped
        return None


def acc_table(h, runs):
    """Per (arch, scheme): test accuracy after epoch 1 and at the end (finished runs), and the failed count."""
    ok = h[h.status == "FINISHED"]
    last = ok.step.max()
    rows = []
    for (arch, scheme), g in runs.groupby(["arch", "scheme"]):
        r = {"arch": arch, "scheme": scheme, "n_runs": len(g), "n_failed": int((g.status == "FAILED").sum())}
        for tag, step in (("epoch1", 1), ("final", last)):
            s = summarise(ok[(ok.arch == arch) & (ok.scheme == scheme) & (ok.step == step)].assign(k=0), ["k"],
                          "test/acc")
            r.update({f"{tag}_{c}": (s[c].iloc[0] if len(s) else np.nan) for c in ("mean", "ci_low", "ci_high")})
        rows.append(r)
    return pd.DataFrame(rows)


def _arch_order(runs):
    """'0 hidden' first, then by depth, sigmoid before relu (any depths and activations the sweep holds)."""
    keys = runs.drop_duplicates("arch").set_index("arch")
    return sorted(keys.index, key=lambda a: (keys.depth[a], 0 if keys.act[a] == "sigmoid" else 1, a))


def plot_symmetry(h, runs, out):
    archs = [a for a in _arch_order(runs) if a != "0 hidden"]
    fig, axes = figure(1, len(archs), figsize=(4.2 * len(archs) + 1.6, 4.2), sharey=True, squeeze=False)
    top = 1e4  # values above are named, not drawn: a U(-1, 1) ReLU net can reach 1e90 in float64
    for ax, arch in zip(axes[0], archs):
        for scheme in [s for s in SCHEMES if s in set(runs.scheme)]:
            g = h[(h.arch == arch) & (h.scheme == scheme)].groupby("step")["layer1/unit_spread"].mean()
            ax.plot(g.index, np.maximum(g.values, FLOOR), marker="o", ms=3, label=SCHEMES[scheme],
                    lw=3 if scheme == "zero" else 1.5)
            if g.max() > top:
                ax.annotate(f"{SCHEMES[scheme]}: up to {g.max():.0e} (off scale)", (g.idxmax(), top / 3), ha="right"
                            if g.idxmax() > g.index.max() / 2 else "left", fontsize="x-small", color=ax.lines[-1].get_color())
        ax.axhline(FLOOR, color="grey", ls=":", lw=1)
        ax.set(yscale="log", title=arch, xlabel="epoch", ylim=(FLOOR / 10, top))
        ax.text(0.02, FLOOR * 2, "exactly 0 (drawn at 1e-20)", fontsize="x-small", color="grey",
                transform=ax.get_yaxis_transform())
        if "sigmoid" in arch:
            ax.text(0.5, 1e-14, "zero init: ~1e-16 is the rounding of\nnumpy's std; the units are identical",
                    fontsize="x-small", ha="center", transform=ax.get_yaxis_transform())
    axes[0][0].set_ylabel("layer-1 unit spread (std across units)")
    fig.legend(*axes[0][0].get_legend_handles_labels(), title="init", fontsize="small", loc="outside right center")
    fig.suptitle("Symmetry: zero init keeps the hidden units identical (mean over seeds; float64)", fontsize="medium")
    save(fig, out / "symmetry.png")


def plot_accuracy(acc, runs, out):
    archs = _arch_order(runs)
    fig, axes = figure(1, len(archs), figsize=(3.6 * len(archs), 4.4), sharey=True, squeeze=False)
    schemes = [s for s in SCHEMES if s in set(acc.scheme)]
    for ax, arch in zip(axes[0], archs):
        a = acc[acc.arch == arch].set_index("scheme").reindex(schemes)
        x = np.arange(len(schemes))
        for tag, dx, mk, lab in (("epoch1", -0.12, "o", "after epoch 1"),
                                 ("final", 0.12, "s", f"after epoch {int(runs.epochs.astype(int).max())}")):
            m = a[f"{tag}_mean"] * 100
            ax.errorbar(x + dx, m, yerr=[m - a[f"{tag}_ci_low"] * 100, a[f"{tag}_ci_high"] * 100 - m], fmt=mk,
                        capsize=3, label=lab)
        for i, (n_f, n) in enumerate(zip(a.n_failed, a.n_runs)):
            if n_f:
                ax.text(i, 3, f"{n_f}/{n}\ndiverged", ha="center", fontsize="x-small", color="red")
        ax.set_xticks(x, [SCHEMES[s] for s in schemes], rotation=40, ha="right", fontsize="small")
        ax.set(title=arch, ylim=(0, 100))
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][0].legend(fontsize="small", loc="lower left")
    fig.suptitle("Test accuracy per initialisation (mean ± 95% CI over seeds; MNIST 10k subset)", fontsize="medium")
    save(fig, out / "accuracy.png")


def plot_deep(d0, out):
    acts = [a for a in ("tanh", "sigmoid", "relu") if a in set(d0.act)]
    fig, axes = figure(2, len(acts), figsize=(4.6 * len(acts), 7.6), squeeze=False)
    for j, act in enumerate(acts):
        for i, (stat, lab) in enumerate((("act_std", "std of activations"), ("grad_std", "std of dW (gradient)"))):
            ax, g = axes[i][j], d0[(d0.act == act) & (d0.stat == stat)]
            for scheme in [s for s in SCHEMES if s in set(g.scheme)]:
                m = g[g.scheme == scheme].groupby("layer").value.mean()
                ax.plot(m.index, np.maximum(m.values, FLOOR), marker="o", ms=4, label=SCHEMES[scheme])
            ax.set(yscale="log", xlabel="layer index (1 = first hidden" + (", last = output)" if i else ")"),
                   ylabel=lab + " at step 0", title=f"{act}: {lab}")
            ax.set_xticks(sorted(g.layer.unique()))
    axes[1][-1].legend(title="init", fontsize="small", loc="center right")
    fig.suptitle("Deep network at initialisation (Glorot & Bengio's view): per layer, mean over seeds", fontsize="medium")
    save(fig, out / "deep_init.png")


def plot_fp32(h, out):
    fig, (ax1, ax2) = figure(1, 2, figsize=(11, 4.2))
    for (dtype, seed), g in h.groupby(["dtype", "seed"]):
        kw = dict(color="C0" if dtype == "float32" else "C1", alpha=0.8, label=dtype if seed == h.seed.min() else None)
        ax1.plot(g.step, np.maximum(g["layer1/unit_spread"], FLOOR), marker="o", ms=3, **kw)
        ax2.plot(g.step, g["test/acc"] * 100, marker="o", ms=3, **kw)
    ax1.axhline(FLOOR, color="grey", ls=":", lw=1)
    for y, t in ((3e-8, "float32 std's own rounding"), (3e-16, "float64 std's own rounding")):
        ax1.text(h.step.max(), y, t, fontsize="x-small", color="grey", ha="right")
    for ax in (ax1, ax2):
        ax.xaxis.get_major_locator().set_params(integer=True)
    broken = {dtype: bool((g["layer1/unit_spread"] > 1e-3).any()) for dtype, g in h.groupby("dtype")}
    which = [d for d in ("float32", "float64") if broken.get(d)]
    ax1.set(yscale="log", ylim=(FLOOR / 10, 10), xlabel="epoch", ylabel="layer-1 unit spread",
            title="Zero init, sigmoid: " + (f"rounding breaks the symmetry ({', '.join(which)})" if which
                                            else "the units stay identical in both dtypes"))
    ax2.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(0, 100), title="Test accuracy")
    ax1.legend(title="dtype (one line per seed)", fontsize="small")
    save(fig, out / "float32_symmetry.png")


def deep_step0(h):
    """Tidy step-0 values of layerl/act_std and layerl/grad_std."""
    h0 = h[h.step == 0].melt(id_vars=["run_id", "scheme", "act", "seed"], value_vars=[c for c in h if "/" in c and
                             c.split("/")[1] in ("act_std", "grad_std")], var_name="key").dropna(subset=["value"])
    h0["layer"] = h0.key.str.extract(r"layer(\d+)")[0].astype(int)
    h0["stat"] = h0.key.str.split("/").str[1]
    return h0


def sci(x):
    return "n/a" if not np.isfinite(x) else f"{x:.2g}" if 1e-2 <= abs(x) < 1e3 else f"{x:.1e}"


def ci_txt(m, lo, hi, n):
    return fmt_ci(m, lo, hi) if n >= 2 else f"{m * 100:.1f}" if np.isfinite(m) else "n/a"


def zero_facts(h, runs, acc, uri):
    """Sentences on zero init from the logged metrics (and the saved weights when present), and the list of the
    parts of seed 004's claim the data contradict (empty: reproduced)."""
    out, broken, z = [], [], h[h.scheme == "zero"]
    row = lambda arch, sch: acc[(acc.arch == arch) & (acc.scheme == sch)].iloc[0]  # noqa: E731
    def a(arch, sch):
        r = row(arch, sch)
        return ci_txt(r.final_mean, r.final_ci_low, r.final_ci_high, r.n_runs - r.n_failed) + "%"
    has_he = "he" in set(acc.scheme)
    for arch in _arch_order(runs):
        g, n = z[z.arch == arch], runs[(runs.arch == arch) & (runs.scheme == "zero")]
        if not len(n):
            continue
        ref = f" (He: {a(arch, 'he')})" if has_he else ""
        gap = row(arch, "he").final_mean - row(arch, "zero").final_mean if has_he else np.nan
        if arch == "0 hidden":
            out.append(f"**No hidden layer** (softmax regression): zero init reached {a(arch, 'zero')} test accuracy "
                       f"after the last epoch{ref}.")
            broken += ["zero init fell behind He without a hidden layer"] if gap > 0.02 else []
            continue
        spread = g[[c for c in g if c.endswith("/unit_spread")]].abs().max().max()
        known = [x for x in (weights_symmetric(r, uri) for r in n.run_id) if x is not None]
        text = (f"**{arch}**: the largest unit spread in any hidden layer and epoch was {spread:.1e} over {len(n)} "
                f"runs" + (f"; the saved weights' columns are bitwise identical in every hidden layer in {sum(known)} "
                           f"of {len(known)} runs" if known else "") + f"; test accuracy {a(arch, 'zero')}{ref}.")
        broken += [f"{arch}: zero init learned about as well as He"] if gap < 0.2 else []
        broken += [f"{arch}: the units did not stay identical"] if spread > 1e-12 or not all(known) else []
        if "relu" in arch:
            dead = g[[c for c in g if c.endswith("/dead_frac")]].min().min()
            grad = g[[c for c in g if c.endswith("/grad_norm")]].abs().max().max()
            text += (f" Smallest dead fraction in any layer and epoch: {dead:.3g}; largest weight-gradient norm in any "
                     f"layer: {grad:.3g}" + (" — everything stays exactly zero; only the output biases learn (the "
                                              "network predicts the most frequent class)" if grad == 0 and dead == 1
                                              else "") + ".")
            broken += [f"{arch}: not everything stayed zero"] if grad != 0 or dead != 1 else []
        else:
            text += (" The units stay identical: the network computes what one unit per hidden layer would"
                     + (" (the spread is 0 up to the rounding of numpy's std itself)" if spread < 1e-12 else "") + ".")
        out.append(text)
    return out, broken


def deep_table(d0, hd, deep):
    rows = []
    last = hd[hd.status == "FINISHED"].step.max()
    order = lambda c: c.map({a: i for i, a in enumerate(("tanh", "sigmoid", "relu"))} if c.name == "act" else  # noqa: E731
                            {k: i for i, k in enumerate(SCHEMES)})
    for (act, scheme), g in d0.groupby(["act", "scheme"]):
        L = g[g.stat == "act_std"].layer.max()
        per = g.pivot_table(index="run_id", columns=["stat", "layer"], values="value")
        ra, rg = per[("act_std", L)] / per[("act_std", 1)], per[("grad_std", 1)] / per[("grad_std", L)]
        runs = deep[(deep.act == act) & (deep.scheme == scheme)]
        h0 = hd[(hd.act == act) & (hd.scheme == scheme) & (hd.step == 0)]
        sat = h0[[c for c in h0 if c.endswith("/saturated_frac")]].mean(axis=1).mean()
        f = hd[(hd.act == act) & (hd.scheme == scheme) & (hd.status == "FINISHED") & (hd.step == last)]
        s = summarise(f.assign(k=0), ["k"], "test/acc")
        rows.append({"act": act, "scheme": scheme, "activation": act, "init": SCHEMES[scheme],
                     "act_std layer 1": sci(per[("act_std", 1)].mean()),
                     f"activations: layer {L} ÷ layer 1": sci(ra.mean()),
                     f"gradients: layer 1 ÷ layer {L}": sci(rg.mean()),
                     "saturated at step 0": f"{sat:.0%}" if np.isfinite(sat) else "—",
                     f"test acc after {last} epochs (%)": (ci_txt(s["mean"][0], s.ci_low[0], s.ci_high[0], len(f))
                                                            if len(s) else "—"),
                     "diverged": f"{int((runs.status == 'FAILED').sum())}/{len(runs)}",
                     "_ra": ra.mean(), "_rg": rg.mean(), "_sat": sat, "_acc": s["mean"][0] if len(s) else np.nan,
                     "_failed": int((runs.status == "FAILED").sum()), "_epochs": last})
    return pd.DataFrame(rows).sort_values(["act", "scheme"], key=order).drop(columns=["act", "scheme"])


def deep_sentences(t):
    def trend(x, what):
        return (f"{what} grew ×{sci(x)}" if x > 10 else f"{what} shrank to ×{sci(x)}" if x < 0.1 else None)
    out = []
    for act, g in t.groupby("activation", sort=False):
        keep = g[(g._ra.between(0.1, 10)) & (g._rg.between(0.1, 10))]
        bad = []
        for _, r in g.drop(keep.index).iterrows():
            parts = [x for x in (trend(r._ra, "activations"), trend(r._rg, "gradients (towards the input)")) if x]
            bad.append(f"{r.init}: " + ", ".join(parts))
        sat = [f"{r.init} ({r._sat:.0%})" for _, r in g.iterrows() if np.isfinite(r._sat) and r._sat > 0.2]
        out.append(f"**{act}**: activations and gradients stayed within a factor 10 from the first to the last hidden "
                   f"layer with {', '.join(keep.init) or 'no scheme'}" + (f"; not with {'; '.join(bad)}" if bad else "")
                   + (f". Saturated at step 0 (mean over layers): {', '.join(sat)} — a steady activation spread that "
                      "only means the units sit at ±1 (or 0/1)" if sat else "") + ". After "
                   f"{g._epochs.iloc[0]} epochs, " + "; ".join(x for x in (
                       "learning (test accuracy > 50%): " + ", ".join(g[g._acc > 0.5].init) if (g._acc > 0.5).any() else "",
                       "near chance (< 20%): " + ", ".join(g[g._acc < 0.2].init) if (g._acc < 0.2).any() else "",
                       "diverged: " + ", ".join(g[g._failed > 0].init) if (g._failed > 0).any() else "") if x) + ".")
    return out


def versus(acc, arch, s1, s2, tag="final"):
    """'N(0, 1) 85.0 ± 1.0% vs He 95.0 ± 0.2%: beyond noise' (test accuracy), from the table."""
    r = [acc[(acc.arch == arch) & (acc.scheme == s)] for s in (s1, s2)]
    if any(len(x) == 0 for x in r):
        return ""
    r = [x.iloc[0] for x in r]
    cell = lambda x: (f"diverged in all {x.n_runs} runs" if x.n_failed == x.n_runs else  # noqa: E731
                      ci_txt(x[f"{tag}_mean"], x[f"{tag}_ci_low"], x[f"{tag}_ci_high"], x.n_runs - x.n_failed) + "%")
    apart = all(x.n_runs - x.n_failed >= 2 for x in r) and (r[0][f"{tag}_ci_low"] > r[1][f"{tag}_ci_high"] or
                                                            r[1][f"{tag}_ci_low"] > r[0][f"{tag}_ci_high"])
    both = all(x.n_failed < x.n_runs for x in r)
    return (f"{SCHEMES[s1]} {cell(r[0])} vs {SCHEMES[s2]} {cell(r[1])}"
            + ((": beyond noise" if apart else ": within noise (CIs overlap)") if both else ""))


def collapsed(h, acc):
    """Non-zero schemes that finished (no NaN) but ended at chance, with the ReLU network's final dead fraction."""
    out, last = [], h[h.step == h.step.max()]
    for _, r in acc[(acc.scheme != "zero") & (acc.final_mean < 0.2)].iterrows():
        g = last[(last.arch == r.arch) & (last.scheme == r.scheme)]
        dead = g[[c for c in g if c.endswith("/dead_frac")]].mean(axis=1)  # equal widths: the network's fraction
        out.append(f"{SCHEMES[r.scheme]} with {r.arch} finished without a NaN but at {r.final_mean:.1%} test accuracy "
                   "(the most frequent class)" + (f", with {dead.mean():.0%} of its ReLU units dead at the end (runs: "
                   + ", ".join(f"{d:.0%}" for d in dead) + ")" if dead.notna().any() else "") + ".")
    return out


def acc_markdown(acc, runs):
    schemes = [s for s in SCHEMES if s in set(acc.scheme)]
    rows = []
    for s in schemes:
        row = {"init": SCHEMES[s]}
        for arch in _arch_order(runs):
            r = acc[(acc.arch == arch) & (acc.scheme == s)].iloc[0]
            n = r.n_runs - r.n_failed
            row[arch] = (f"diverged {r.n_failed}/{r.n_runs}" if not n else
                         f"{ci_txt(r.epoch1_mean, r.epoch1_ci_low, r.epoch1_ci_high, n)} → "
                         f"**{ci_txt(r.final_mean, r.final_ci_low, r.final_ci_high, n)}**"
                         + (f" ({r.n_failed}/{r.n_runs} diverged)" if r.n_failed else ""))
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


def report(runs, deep, fp, acc, dt, facts, broken, fp_text, rel, h):
    one = lambda df, c: ", ".join(map(str, sorted(df[c].dropna().unique())))  # noqa: E731
    fin = lambda df: f"{len(df)} runs: {(df.status == 'FINISHED').sum()} finished, {(df.status == 'FAILED').sum()} failed (diverged)"  # noqa: E731
    w = next((x[0] for x in runs.widths if x), 0)
    wd = deep.widths.iloc[0]
    s1 = f"1×{w} sigmoid"
    sat = h[(h.arch == s1) & (h.step == 0)].groupby("scheme")["layer1/saturated_frac"].mean()
    sat_txt = ("At initialisation the first sigmoid layer (784 inputs) had " + ", ".join(
        f"{sat[s]:.0%} saturated activations with {SCHEMES[s]}" for s in SCHEMES if s in sat.index and s != "zero")
        + " (σ' below a tenth of its maximum). ") if len(sat) else ""
    lines = [
        "## Initialisation schemes (seeds 000, 001, 004)", "",
        "**Question.** Does the first draw of the weights matter? Seed 004: zero init is fine without a hidden layer "
        "and fails with one (hidden units stay identical with sigmoid; everything stays zero with ReLU). Seeds 000 "
        "and 001 draw N(0, 1/√fan_in) instead of N(0, 1) or zeros and ask why. And, after Glorot & Bengio (2010): "
        "how do activations and gradients spread through a deep network at initialisation under each scheme?", "",
        f"**Setup.** The 10,000-digit MNIST subset ({runs.n_train.max():,.0f} training digits after the validation "
        f"split, 784 inputs). Shallow sweep (`init_schemes`): init "
        f"{', '.join(SCHEMES[s] for s in SCHEMES if s in set(runs.scheme))}; {one(runs, 'depth')} hidden layers of {w} "
        f"units; {one(runs[runs.depth > 0], 'act')}; softmax + cross-entropy, plain SGD at lr "
        f"{one(runs, 'lr')}, batch {one(runs, 'batch')}, {one(runs, 'epochs')} epochs, {one(runs, 'dtype')} (so "
        f"that zero init's symmetry is exact); "
        f"seeds {one(runs, 'seed')}; {fin(runs)} (networks without a hidden layer ignore the activation: one of each "
        f"twin pair is counted" + {True: "; the twins' final accuracies are identical, as they must be", False:
                                   "; the twins' final accuracies differ: a bug to look into", None: ""}[
            runs.attrs.get("twins_identical")] + f"). Deep sweep (`init_schemes_deep`): {len(wd)} hidden layers of {wd[0]}, "
        f"{one(deep, 'act')}; init {', '.join(SCHEMES[s] for s in SCHEMES if s in set(deep.scheme))}; per-layer std of activations (`layerl/act_std`) and of the "
        f"weight gradients (`layerl/grad_std`) at step 0, then {one(deep, 'epochs')} epochs of the same SGD; "
        f"{fin(deep)}."
        + (f" Zero init in float32 vs float64 (`init_schemes_fp32`): 784-{w}-10 sigmoid, {one(fp, 'epochs')} "
           f"epochs; {fin(fp)}." if fp is not None else ""), "",
        "Run: `python -m nnexp +experiment=init_schemes`, `python -m nnexp +experiment=init_schemes_deep`, "
        "`python -m nnexp +experiment=init_schemes_fp32`; analyse: `python experiments/init_schemes.py`.", "",
        f"![unit spread per epoch]({rel('symmetry.png')})", "", f"![accuracy per scheme]({rel('accuracy.png')})", "",
        f"![deep network at initialisation]({rel('deep_init.png')})", "",
        *([f"![float32 vs float64 zero init]({rel('float32_symmetry.png')})", ""] if fp is not None else []),
        f"**Test accuracy (%)** after epoch 1 → **after epoch {one(runs, 'epochs')}** (mean ± 95% t-CI half-width over seeds; diverged runs "
        "counted, not averaged):", "", acc_markdown(acc, runs), "",
        "**Zero initialisation (seed 004).**", "", *[f"- {t}" for t in facts], "",
        "Against the seed: without a hidden layer, " + versus(acc, "0 hidden", "zero", "he") + "; with hidden layers "
        "zero init fell to " + ", ".join(f"{acc[(acc.arch == x) & (acc.scheme == 'zero')].final_mean.iloc[0]:.1%} "
                                          f"({x})" for x in _arch_order(runs)[1:]) + " while He reached " + ", ".join(
            f"{acc[(acc.arch == x) & (acc.scheme == 'he')].final_mean.iloc[0]:.1%}" for x in _arch_order(runs)[1:])
        + (". Seed 004's claim is reproduced: fine without a hidden layer, identical sigmoid units and all-zero ReLU "
           "networks with one." if not broken else ". Not reproduced here: " + "; ".join(broken) + ".") if
        {"zero", "he"} <= set(acc.scheme) else "", "",
        "**Scale of the first draw (seeds 000/001).** " + sat_txt + "Final test accuracy: " + "; ".join(
            f"{arch}: {versus(acc, arch, 'normal', 'normal_fanin')}" for arch in _arch_order(runs)[1:]
            if versus(acc, arch, "normal", "normal_fanin")) + ". " + "; ".join(
            f"{arch}: {versus(acc, arch, 'uniform', 'he')}" for arch in _arch_order(runs)[1:]
            if versus(acc, arch, "uniform", "he")) + ". " + " ".join(collapsed(h, acc)), "",
        f"**Deep network at initialisation** ({len(wd)}×{wd[0]}; step-0 values, mean over seeds; ratios between the "
        "first and the last hidden layer):", "",
        markdown_table(dt[[c for c in dt if not c.startswith("_")]]), "", *[f"- {t}" for t in deep_sentences(dt)], "",
    ]
    if fp_text:
        lines += ["**Zero init in float32.** " + " ".join(fp_text) + " In exact arithmetic the symmetric state "
                  "cannot be left, but it is unstable: in float32 this machine's OpenBLAS (0.3.31, sgemm) gives "
                  "identical weight columns slightly different products (dgemm does not), and training amplifies the difference until the units are genuinely "
                  "different. Seed 004's \"units stay identical\" holds exactly only when the arithmetic is exact.", ""]
    lines += [f"**Limits.** The 10,000-digit MNIST subset; one learning rate ({one(runs, 'lr')}) for every scheme, "
              f"so a badly scaled init is also judged at a learning rate not tuned for it; {one(runs, 'epochs')} epochs; "
              f"{runs.seed.nunique()} seed(s), so the CIs are wide; no biases other than zero-initialised ones. The deep figure shows step 0 only: after a few "
              "updates the spreads change. `layerl/unit_spread` is the std across units of each unit's "
              "difference from the first unit, exactly 0 for identical units; 'identical' is also checked on the "
              "saved weights."]
    return "\n".join(lines)


def main(argv=None) -> str:
    a = study_parser(__doc__, experiment=(STUDY, "the shallow sweep; its _deep and _fp32 sweeps are read too")
                     ).parse_args(argv)
    uri, out = resolve_uri(a.tracking_uri), a.out or RESULTS / STUDY
    base = a.experiment.removesuffix("_quick")
    name = lambda part: f"{base}_{part}" + ("_quick" if a.experiment.endswith("_quick") else "")  # noqa: E731
    # no runs: LookupError (run_script: exit 3)
    runs, deep = tidy(latest_sweep(a.experiment, uri)), tidy(latest_sweep(name("deep"), uri))
    try:
        fp = tidy(latest_sweep(name("fp32"), uri))
    except LookupError:
        fp = None
    out.mkdir(parents=True, exist_ok=True)
    L = runs.depth.max()
    keys = (["test/acc", "layer1/saturated_frac"] + [f"layer{i}/{k}" for i in range(1, L + 1) for k in ("unit_spread", "dead_frac")]
            + [f"layer{i}/grad_norm" for i in range(1, L + 2)])
    dup = runs[runs.depth == 0]  # no hidden layer: the activation is unused; keep one of the twin runs
    twins = dup.groupby(["scheme", "seed"]).test_acc.nunique(dropna=False).max() == 1 if len(dup) else None
    runs = pd.concat([runs[runs.depth > 0], dup[dup.act == dup.act.min()]]).reset_index(drop=True)
    runs.attrs["twins_identical"] = twins
    h = curves(runs, keys, uri)
    acc = acc_table(h, runs)
    Ld = deep.depth.max()
    hd = curves(deep, ["test/acc"] + [f"layer{i}/{k}" for i in range(1, Ld + 2)
                                      for k in ("act_std", "grad_std", "saturated_frac")], uri)
    d0 = deep_step0(hd)
    dt = deep_table(d0, hd, deep)
    plot_symmetry(h, runs, out), plot_accuracy(acc, runs, out), plot_deep(d0, out)
    (facts, broken), fp_text = zero_facts(h, runs, acc, uri), []
    tidy_rows = [pd.DataFrame([{"part": "shallow", "arch": r.arch, "act": r.arch.split()[-1] if r.arch != "0 hidden"
                                else "none", "scheme": r.scheme, "metric": f"test_acc_{tag}", "n_failed": r.n_failed,
                                "n_seeds": r.n_runs - r.n_failed, **{c: r[f"{tag}_{c}"] for c in ("mean", "ci_low", "ci_high")}}
                               for _, r in acc.iterrows() for tag in ("epoch1", "final")])]
    if fp is not None:
        hf = curves(fp, ["test/acc", "layer1/unit_spread"], uri)
        plot_fp32(hf, out)
        for dtype, g in hf.groupby("dtype"):
            last = g[g.step == g.step.max()]
            sym = [weights_symmetric(r, uri) for r in fp[fp.dtype == dtype].run_id]
            grown = g[g["layer1/unit_spread"] > 1e-3].groupby("run_id").step.min()
            s = summarise(last.assign(k=0), ["k"], "test/acc")
            fp_text.append(f"{dtype}: unit spread after epoch 1 at most {g[g.step == 1]['layer1/unit_spread'].max():.1e}, "
                           f"after epoch {g.step.max()} {sci(last['layer1/unit_spread'].mean())} (mean); it passed "
                           f"1e-3 in {len(grown)} of {g.run_id.nunique()} runs" + (f" (at epoch {', '.join(map(str, sorted(grown)))})" if len(grown) else "")
                           + f"; test accuracy at the end {ci_txt(s['mean'][0], s.ci_low[0], s.ci_high[0], len(last))}%"
                           + (f"; weights bitwise symmetric in {sum(x for x in sym if x)} of "
                              f"{sum(x is not None for x in sym)} runs" if any(x is not None for x in sym) else "") + ".")
        tidy_rows.append(summarise(hf[hf.step == hf.step.max()], ["dtype"], "test/acc").assign(
            part="fp32_zero_init", arch=f"1×{fp.widths.iloc[0][0]} sigmoid", act="sigmoid", scheme="zero",
            metric="test_acc_final"))
    tidy_rows.append(summarise(d0, ["act", "scheme", "stat", "layer"], "value").rename(columns={"stat": "metric"})
                     .assign(metric=lambda d: d.metric + "_step0", arch=f"{Ld}×{deep.widths.iloc[0][0]}", part="deep"))
    fin = hd[(hd.status == "FINISHED") & (hd.step == hd.step.max())]
    tidy_rows.append(summarise(fin, ["act", "scheme"], "test/acc").merge(
        deep.groupby(["act", "scheme"]).status.apply(lambda x: int((x == "FAILED").sum())).rename("n_failed").reset_index(),
        how="right").assign(part="deep", arch=f"{Ld}×{deep.widths.iloc[0][0]}", metric="test_acc_final"))
    cols = ["part", "arch", "act", "scheme", "dtype", "layer", "metric", "n_seeds", "n_failed", "mean", "ci_low", "ci_high"]
    pd.concat(tidy_rows, ignore_index=True).reindex(columns=cols).to_csv(out / "summary.csv", index=False)
    rel = lambda f: report_link(out / f, a.report)  # noqa: E731
    md = report(runs, deep, fp, acc, dt, facts, broken, fp_text, rel, h)
    write_section(STUDY, md, a.report)
    print(f"{STUDY}: {len(runs)} + {len(deep)} runs -> {out}, {a.report}")
    return md


if __name__ == "__main__":
    from nnexp.analysis import run_script

    sys.exit(run_script("init_schemes", main))
