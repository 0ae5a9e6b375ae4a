"""MSE vs cross-entropy (seed 004, after Nielsen ch. 3): the saturated sigmoid neuron and the MNIST subset.

Reads the latest `loss_compare_neuron` sweep (one neuron, x = 1, target 0) and, when present, the latest
`loss_compare_mnist` sweep (784-100-10 on the 10,000-digit MNIST subset) from MLflow, never retraining;
writes results/loss_compare/: neuron.png, mnist_curves.png, mnist_lr.png, summary.csv and its section of
results/README.md.

    python experiments/loss_compare.py [--experiment E] [--mnist-experiment E] [--tracking-uri URI]
                                       [--out DIR] [--report FILE]
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from nnexp.analysis import (report_link, study_parser, RESULTS, REPORT, figure, fmt_ci, histories, latest_sweep, markdown_table, save,
                            summarise, t_interval, write_section)

STUDY = "loss_compare"
NIELSEN = {(2.0, 2.0): (0.98, 0.20), (0.6, 0.9): (0.82, 0.09)}  # ch. 3: output at epoch 0 and 300 under MSE, lr 0.15
LOSS = {"mse": "MSE", "cross_entropy": "cross-entropy"}
INIT = {"normal_fanin": "N(0, 1/√fan_in) init", "normal": "N(0, 1) init (saturated start)"}
TARGET = 0.90  # the accuracy whose first crossing (test set) measures learning speed


def head(output, loss) -> str:
    return f"{output} + {LOSS.get(loss, loss)}"


# --- part a: the single neuron ---------------------------------------------------------------------------
def load_neuron(experiment, uri):
    runs = latest_sweep(experiment, uri)
    h = histories(list(runs.run_id), ["train/abs_err", "train/loss"], uri)
    h = h.pivot_table(index=["run_id", "step"], columns="key", values="value").reset_index()
    h = h.rename(columns={"train/abs_err": "output", "train/loss": "cost"})
    meta = pd.DataFrame({"run_id": runs.run_id, "loss": runs["params.loss.name"],
                         "w": runs["params.init.value"].astype(float), "b": runs["params.init.bias"].astype(float)})
    return h.merge(meta, on="run_id").sort_values(["loss", "w", "b", "step"])


def first_below(g, col, threshold):
    hit = g[g[col] < threshold]
    return float(hit.step.iloc[0]) if len(hit) else math.nan


def neuron_table(h):
    rows = []
    for (loss, w, b), g in h.groupby(["loss", "w", "b"]):
        c, a = g.set_index("step").cost, g.set_index("step").output
        at = lambda e: float(c.get(e, math.nan))  # noqa: E731
        rows.append({"part": "neuron", "loss": loss, "w": w, "b": b, "epochs": int(g.step.max()),
                     "output_0": a.iloc[0], "output_end": a.iloc[-1], "output_300": float(a.get(300, math.nan)),
                     "cost_0": at(0), "cost_10": at(10), "cost_50": at(50), "cost_end": c.iloc[-1],
                     "drop_10": 1 - at(10) / at(0), "drop_50": 1 - at(50) / at(0),
                     "epochs_to_0.2": first_below(g, "output", 0.2), "epochs_to_0.1": first_below(g, "output", 0.1)})
    return pd.DataFrame(rows)


def starts_shown(table):
    starts = sorted({(r.w, r.b) for r in table.itertuples()}, reverse=True)
    nielsen = [s for s in NIELSEN if s in starts]
    return nielsen or starts


def plot_neuron(h, table, out):
    starts = starts_shown(table)
    fig, axes = figure(len(starts), 2, figsize=(12, 3.8 * len(starts)), squeeze=False)
    for (w, b), (ax1, ax2) in zip(starts, axes):
        g = h[(h.w == w) & (h.b == b)]
        for loss, part in g.groupby("loss"):
            ax1.plot(part.step, part.output, label=LOSS[loss])
            ax2.plot(part.step, part.cost, label=f"{LOSS[loss]}: " + ("½a²" if loss == "mse" else "−ln(1 − a)"))
        ax1.axhline(0.1, color="grey", ls=":", lw=1, label="a = 0.1")
        ax1.set(ylim=(0, 1), xlabel="epoch (one gradient step)", ylabel="output a (target 0)",
                title=f"w = {w:g}, b = {b:g}: output (initial a = {g.output.iloc[0]:.2f})")
        ax2.set(yscale="log", xlabel="epoch (one gradient step)", ylabel="cost (log scale)",
                title=f"w = {w:g}, b = {b:g}: cost")
        ax1.legend(), ax2.legend()
    fig.suptitle("Nielsen's single sigmoid neuron (input 1, target 0, lr 0.15): quadratic cost vs cross-entropy",
                 fontsize="medium")
    save(fig, out / "neuron.png")


# --- part b: the MNIST subset ----------------------------------------------------------------------------
def load_mnist(runs, uri):
    """One row per run of the MNIST sweep (MLflow's runs frame), with its epochs to 90% test accuracy; histories."""
    heads = [head(o, loss) for o, loss in zip(runs["params.model.output"], runs["params.loss.name"])]
    df = pd.DataFrame({"run_id": runs.run_id, "head": heads,
                       "init": runs["params.init.scheme"], "lr": runs["params.optim.lr"].astype(float),
                       "seed": runs["params.seed"].astype(int), "status": runs.status,
                       "test_acc": runs["metrics.test/acc"], "val_acc": runs["metrics.val/acc"],
                       "epochs": runs["params.trainer.epochs"].astype(int),
                       "n_train": runs["tags.nnexp.n_train"].astype(int),
                       "batch": runs["params.trainer.batch_size"].astype(int)})
    h = histories(list(df.run_id), ["test/acc", "progress/epoch", "layer1/saturated_frac"], uri)
    h = h.pivot_table(index=["run_id", "step"], columns="key", values="value").reset_index()
    h = h.rename(columns={"test/acc": "acc", "progress/epoch": "epoch"}).merge(df, on="run_id")
    reach = h[h.acc >= TARGET].groupby("run_id").epoch.min()
    df["epochs_to_90"] = df.run_id.map(reach)  # NaN: not reached within the run
    df["eval_epochs"] = df.run_id.map(h[h.epoch > 0].groupby("run_id").epoch.min())  # epochs between evaluations
    df["saturated_0"] = df.run_id.map(h[h.step == 0].set_index("run_id")["layer1/saturated_frac"])  # at init
    return df, h


def mnist_summary(df):
    ok = df[df.status == "FINISHED"]
    keys = ["head", "init", "lr"]
    s = summarise(ok, keys, "test_acc").rename(columns={"mean": "test_acc", "ci_low": "acc_low", "ci_high": "acc_high"})
    val = ok.groupby(keys).val_acc.mean().rename("val_acc")
    median = ok.assign(ep=ok.epochs_to_90.fillna(np.inf)).groupby(keys).ep.median().rename("median_ep")
    reached = ok.groupby(keys).epochs_to_90.agg(n_reached="count")
    e = summarise(ok.dropna(subset=["epochs_to_90"]), keys, "epochs_to_90")
    if e.empty:  # no run reached the target
        e = pd.DataFrame(columns=keys + ["n_seeds", "mean", "ci_low", "ci_high"])
    e = e.rename(columns={"mean": "epochs_to_90", "ci_low": "ep_low", "ci_high": "ep_high"}).drop(columns="n_seeds")
    s = s.merge(val, on=keys).merge(median, on=keys).merge(reached, on=keys).merge(e, on=keys, how="left")
    s["chosen"] = s.groupby(["head", "init"]).val_acc.transform("max") == s.val_acc  # the lr choice rule
    return s.assign(part="mnist")


def epochs_cell(r, n_epochs):
    if r.n_reached == 0:
        return f"not reached within {n_epochs} epochs (0/{r.n_seeds})"
    cell = (fmt_ci(r.epochs_to_90, r.ep_low, r.ep_high, scale=1, digits=2) if r.n_reached > 1
            else f"{r.epochs_to_90:.2f}")
    return cell if r.n_reached == r.n_seeds else f"{cell} ({r.n_reached}/{r.n_seeds} reached)"


def plot_mnist(h, df, s, out):
    import seaborn as sns

    inits = [i for i in INIT if i in set(s.init)]
    order = sorted(s["head"].unique())
    chosen = s[s.chosen][["head", "init", "lr"]]
    fig, axes = figure(1, len(inits), figsize=(6.5 * len(inits), 4.6), squeeze=False, sharey=True)
    for init, ax in zip(inits, axes[0]):
        part = h[h.status == "FINISHED"].merge(chosen[chosen.init == init], on=["head", "init", "lr"])
        part = part.assign(acc=part.acc * 100, head=part["head"] + " (lr " + part.lr.map("{:g}".format) + ")")
        sns.lineplot(data=part, x="epoch", y="acc", hue="head", errorbar=t_interval, ax=ax,
                     hue_order=sorted(part["head"].unique()))
        ax.axhline(TARGET * 100, color="grey", ls="--", lw=1, label=f"{TARGET:.0%}")
        ax.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(0, 100),
               title=f"{INIT[init]}, each head at its chosen lr")
        ax.legend(fontsize="small", loc="lower right")
    fig.suptitle("784-100-10 sigmoid MLP on the 10,000-digit MNIST subset (mean ± 95% CI over seeds)",
                 fontsize="medium")
    save(fig, out / "mnist_curves.png")

    n_epochs, top = int(df.epochs.max()), int(df.epochs.max()) + 1
    ok = df[df.status == "FINISHED"].assign(ep=lambda d: d.epochs_to_90.fillna(np.inf))
    fig, axes = figure(len(inits), 2, figsize=(13, 4.4 * len(inits)), squeeze=False)
    for init, (ax1, ax2) in zip(inits, axes):
        for i, name in enumerate(order):
            g = ok[(ok.init == init) & (ok["head"] == name)].sort_values("lr")
            x = g.lr * 1.08 ** (i - 1.5)  # dodged on the log axis
            med = g.groupby("lr").ep.median()  # a seed that never reached 90% counts as slowest
            line, = ax1.plot(med.index * 1.08 ** (i - 1.5), np.minimum(med, top), "-", label=name)
            reached = np.isfinite(g.ep)
            ax1.scatter(x[reached], g.ep[reached], color=line.get_color(), s=18)
            ax1.scatter(x[~reached], [top] * int((~reached).sum()), color=line.get_color(), marker="x", s=40)
            ax2.plot(g.groupby("lr").test_acc.mean().index * 1.08 ** (i - 1.5), g.groupby("lr").test_acc.mean() * 100,
                     "-", color=line.get_color(), label=name)
            ax2.scatter(x, g.test_acc * 100, color=line.get_color(), s=18)
        ax1.axhline(top, color="grey", ls=":", lw=1)
        ax1.set(xscale="log", ylim=(0, top + 0.8), xlabel="learning rate (log scale)",
                ylabel=f"epochs to {TARGET:.0%} test accuracy",
                title=f"{INIT[init]}: speed")
        ax2.set(xscale="log", ylim=(0, 100), xlabel="learning rate (log scale)",
                ylabel=f"test accuracy after {n_epochs} epochs (%)", title=f"{INIT[init]}: final accuracy")
        for ax in (ax1, ax2):
            ax.set_xticks(sorted(ok.lr.unique()), [f"{x:g}" for x in sorted(ok.lr.unique())])
            ax.minorticks_off()
    axes[0][1].legend(fontsize="small", loc="lower left")
    fig.suptitle(f"784-100-10 sigmoid MLP, 10,000-digit MNIST subset\nDots: seeds; ×: did not reach {TARGET:.0%} "
                 f"within {n_epochs} epochs (counted as slowest); lines: median (left), mean (right)",
                 fontsize="medium")
    save(fig, out / "mnist_lr.png")


# --- report ----------------------------------------------------------------------------------------------
def neuron_text(t):
    lines = []
    for w, b in starts_shown(t):
        g = t[(t.w == w) & (t.b == b)].set_index("loss")
        if not {"mse", "cross_entropy"} <= set(g.index):
            continue
        m, c = g.loc["mse"], g.loc["cross_entropy"]
        reach = lambda r: (f"after {r['epochs_to_0.1']:.0f} epochs" if math.isfinite(r["epochs_to_0.1"])  # noqa: E731
                           else f"not within {r.epochs} epochs (a = {r.output_end:.3f} at the end)")
        lines.append(f"- From w = {w:g}, b = {b:g} (a = {m.output_0:.3f}): after 10 epochs the quadratic cost fell by "
                     f"{m.drop_10:.1%} and the cross-entropy by {c.drop_10:.1%} "
                     f"({c.drop_10 / m.drop_10 if m.drop_10 > 0 else math.inf:.0f}× more); the output fell below 0.1 "
                     f"under MSE {reach(m)}, under cross-entropy {reach(c)}."
                     + (f" Nielsen's MSE plot ends at a ≈ {NIELSEN[(w, b)][1]:.2f} after 300 epochs; ours at "
                        f"{m.output_300:.3f}." if (w, b) in NIELSEN and m.epochs >= 300 else ""))
    return lines


def perm_p(x, y):
    """One-sided permutation p-value that x is larger than y (Mann-Whitney U over every relabelling; ties count ½).
    A seed that never reached the target is inf: slower than any that did."""
    pooled, n = list(x) + list(y), len(x)
    u = lambda a, b: sum((i > j) + 0.5 * (i == j) for i in a for j in b)  # noqa: E731
    obs, splits = u(x, y), list(itertools.combinations(range(len(pooled)), n))
    return sum(u([pooled[i] for i in c], [pooled[i] for i in range(len(pooled)) if i not in c]) >= obs - 1e-9
               for c in splits) / len(splits)


def compare(mse, ce, x, y, n_epochs):
    """'slower' / 'faster' / 'noise' / 'neither' for an MSE head against the cross-entropy head with its output,
    from the per-seed epochs x (MSE) and y (CE), and the sentence that says so."""
    if mse.n_reached == 0 and ce.n_reached == 0:
        return "neither", f"neither {mse.name} nor {ce.name} reached {TARGET:.0%} within {n_epochs} epochs."
    p_slow, p_fast = perm_p(x, y), perm_p(y, x)
    kind = "slower" if p_slow <= 0.05 else "faster" if p_fast <= 0.05 else "noise"
    return kind, (f"{mse.name} {epochs_cell(mse, n_epochs)} epochs, {ce.name} {epochs_cell(ce, n_epochs)}: "
                  + {"noise": f"within noise (the seeds overlap; p = {min(p_slow, p_fast):.2f}).",
                     "slower": f"MSE slower in every seed (p = {p_slow:.2f}).",
                     "faster": f"MSE faster in every seed (p = {p_fast:.2f})."}[kind])


def mnist_text(s, df, n_epochs):
    """Bullets per init and output (MSE vs cross-entropy at each head's chosen lr, then at equal lrs) and
    {init: verdict kind} for the sigmoid output, the seed's case."""
    lines, kinds = [], {}
    for init, g in s.groupby("init", sort=False):
        for out in ("sigmoid", "softmax"):
            mse_name, ce_name = head(out, "mse"), head(out, "cross_entropy")
            r = g[g.chosen].set_index("head")
            if not {mse_name, ce_name} <= set(r.index):
                continue
            ep = lambda name: df[(df["head"] == name) & (df.init == init) & (df.lr == r.loc[name].lr)  # noqa: E731
                                 & (df.status == "FINISHED")].epochs_to_90.fillna(np.inf).tolist()
            kind, text = compare(r.loc[mse_name], r.loc[ce_name], ep(mse_name), ep(ce_name), n_epochs)
            kinds.update({init: kind} if out == "sigmoid" else {})
            a = g[g["head"] == mse_name].set_index("lr").median_ep
            c = g[g["head"] == ce_name].set_index("lr").median_ep
            both = a.index.intersection(c.index)
            never = int(sum(a[lr] == c[lr] == np.inf for lr in both))
            lines.append(f"- {INIT[init]}, {out} output, epochs to {TARGET:.0%} at each head's chosen lr "
                         f"(MSE {r.loc[mse_name].lr:g}, cross-entropy {r.loc[ce_name].lr:g}): {text} At equal "
                         f"learning rates MSE was slower (median over seeds; not reaching {TARGET:.0%} is slowest) at "
                         f"{int(sum(a[lr] > c[lr] for lr in both))} of the {len(both)} rates, faster at "
                         f"{int(sum(a[lr] < c[lr] for lr in both))}" + (f"; neither reached it at {never}" if never
                                                                        else "") + ".")
    return lines, kinds


def claim_text(table, kinds, n_seeds):
    out = []
    t = table.set_index(["loss", "w", "b"])
    for (w, b) in starts_shown(table):
        if ("mse", w, b) in t.index and ("cross_entropy", w, b) in t.index:
            m, c = t.loc[("mse", w, b)], t.loc[("cross_entropy", w, b)]
            out.append(f"from a = {m.output_0:.2f} the quadratic cost fell {m.drop_10:.1%} in 10 epochs against "
                       f"cross-entropy's {c.drop_10:.1%}")
    text = ("On the neuron, " + "; ".join(out) + ". " if out else "")
    mse = table[table.loss == "mse"].sort_values("output_0")
    if len(mse) >= 2:  # does MSE's early progress shrink as the start gets more saturated?
        falls = ", ".join(f"{r.drop_10:.1%} from a = {r.output_0:.2f}" for r in mse.itertuples())
        text += (f"Over all {len(mse)} starts the quadratic cost's fall in 10 epochs ({falls}) "
                 + ("shrinks steadily as the start gets more saturated" if mse.drop_10.is_monotonic_decreasing
                    else "does not simply follow the saturation") + f", while cross-entropy's stays between "
                 f"{table[table.loss == 'cross_entropy'].drop_10.min():.0%} and "
                 f"{table[table.loss == 'cross_entropy'].drop_10.max():.0%}. ")
    words = {"slower": "sigmoid + MSE slower in every seed", "noise": "no difference beyond noise",
             "faster": "sigmoid + MSE faster in every seed", "neither": "neither reached the target"}
    if kinds:
        text += ("On the MLP (sigmoid output, each loss at its chosen lr): "
                 + "; ".join(f"{INIT[i]}: {words[k]}" for i, k in kinds.items()) + ". ")
        slow = [i for i, k in kinds.items() if k == "slower"]
        text += ("Seed 004's claim holds on the MLP at every initialisation tried" if len(slow) == len(kinds) else
                 f"Seed 004's claim holds on the MLP only with {', '.join(INIT[i] for i in slow)}" if slow else
                 "Seed 004's claim is not borne out on the MLP beyond noise") + (
            f", though with {n_seeds} seeds per head each verdict rests on the smallest p-value they allow "
            f"({1 / math.comb(2 * n_seeds, n_seeds):.2f}). " if slow else ". ")
    return text


def edge_text(s):
    edge = s[s.chosen & s.lr.isin([s.lr.min(), s.lr.max()])]
    return ("The chosen lr is at the grid's edge for " + "; ".join(
        f"{r.head} with {INIT[r.init].split(' init')[0]} (lr {r.lr:g})" for r in edge.itertuples())
        + ": a rate beyond the grid might do better." if len(edge) else "")


def neuron_display(table):
    fmt = lambda v, n: f"{v:.0f}" if math.isfinite(v) else f"not within {n}"  # noqa: E731
    rows = list(table.itertuples())
    return pd.DataFrame({"loss": table.loss.map(LOSS), "start (w, b)": [f"({r.w:g}, {r.b:g})" for r in rows],
                         "a at 0 → end": [f"{r.output_0:.3f} → {r.output_end:.3f}" for r in rows],
                         "cost at 0 / 10 / 50 / end": [f"{r.cost_0:.4g} / {r.cost_10:.4g} / {r.cost_50:.4g} / "
                                                       f"{r.cost_end:.4g}" for r in rows],
                         "cost fall in 10 epochs": table.drop_10.map("{:.1%}".format),
                         "epochs to a < 0.2": [fmt(v, n) for v, n in zip(table["epochs_to_0.2"], table.epochs)],
                         "epochs to a < 0.1": [fmt(v, n) for v, n in zip(table["epochs_to_0.1"], table.epochs)]})


def report(table, s, df, links):
    lines = ["## MSE vs cross-entropy (`loss_compare`, seed 004)", "",
             "**Question** (seed 004, after Nielsen, *Neural Networks and Deep Learning*, ch. 3): with a sigmoid "
             "output, the quadratic cost's gradient carries σ'(z), so a saturated, wrong neuron learns slowly; "
             "cross-entropy cancels that factor. Does it show, on one neuron and on an MLP?", "",
             "**Setup (a)**: Nielsen's neuron — one weight and one bias, sigmoid, one sample (x = 1, target 0), "
             "full-batch gradient descent at lr 0.15 (for both losses; Nielsen's cross-entropy plots used 0.005), "
             f"float64, {int(table.epochs.max())} epochs; starts (w, b) = " + ", ".join(
                 f"({w:g}, {b:g})" for w, b in sorted({(r.w, r.b) for r in table.itertuples()}, reverse=True))
             + ". The output a is the logged `train/abs_err`, the cost `train/loss` (MSE = ½(a − y)², cross-entropy "
             "= −ln(1 − a)). Deterministic: one run each. `python -m nnexp +experiment=loss_compare_neuron`.", "",
             f"![neuron]({links['neuron.png']})", "", markdown_table(neuron_display(table)), "", *neuron_text(table)]
    kinds = {}
    if s is not None:
        n_epochs, seeds = int(df.epochs.max()), df.seed.nunique()
        per_epoch = round(1 / df.eval_epochs.min())
        table_b = s[s.chosen].assign(
            init=lambda d: d.init.map(lambda i: INIT[i].split(" init")[0]), lr=lambda d: d.lr.map("{:g}".format),
            **{f"epochs to {TARGET:.0%} test": lambda d: [epochs_cell(r, n_epochs) for r in d.itertuples()],
               "final test acc %": lambda d: [fmt_ci(r.test_acc, r.acc_low, r.acc_high) if r.n_seeds > 1 else
                                              f"{r.test_acc * 100:.1f}" for r in d.itertuples()]})
        failed = int((df.status != "FINISHED").sum())
        bullets, kinds = mnist_text(s, df, n_epochs)
        lines += ["", f"**Setup (b)**: the 10,000-digit MNIST subset ({int(df.n_train.max()):,} training digits after "
                  "10% are held out for validation; 2,004 test digits unless capped), 784-100-10 with a sigmoid hidden "
                  "layer (Nielsen's networks are sigmoid throughout, so the loss is the only difference between the "
                  f"heads), mini-batches of {int(df.batch.max())}, {n_epochs} epochs, test accuracy {per_epoch} times "
                  "per epoch; heads "
                  f"{', '.join(sorted(s['head'].unique()))} (cross-entropy after sigmoid is binary per unit); "
                  + ", ".join(f"{INIT[i]} ({df[df.init == i].saturated_0.mean():.0%} of the hidden activations "
                              "saturated at the start, σ' < 10% of its maximum)" for i in INIT if i in set(s.init))
                  + "; lr from {"
                  + ", ".join(f"{x:g}" for x in sorted(s.lr.unique())) + "}, the same rule for every head: the lr with "
                  f"the best mean final validation accuracy; {seeds} seed(s); {failed} run(s) not FINISHED. MSE vs "
                  "cross-entropy (same output) is called *beyond noise* when every MSE seed took longer than every "
                  f"cross-entropy seed (one-sided permutation test on the seeds, p ≤ 0.05, the smallest p {seeds} + "
                  f"{seeds} seeds allow; a seed that never reached {TARGET:.0%} counts as slowest). "
                  "`python -m nnexp +experiment=loss_compare_mnist`.", "",
                  f"![learning curves]({links['mnist_curves.png']})", "",
                  f"![speed and accuracy vs lr]({links['mnist_lr.png']})",
                  "", markdown_table(table_b[["head", "init", "lr", "n_seeds", f"epochs to {TARGET:.0%} test",
                                              "final test acc %"]]), "", *bullets]
        dead = s[s.test_acc < 0.2]
        if len(dead):
            lines.append("- Collapsed to chance (mean final test accuracy < 20%): " + "; ".join(
                f"{r.head}, {INIT[r.init].split(' init')[0]}, lr {r.lr:g} ({r.test_acc:.1%})"
                for r in dead.itertuples()) + ".")
    lines += ["", "**Compared with the seed.** " + claim_text(table, kinds, df.seed.nunique() if df is not None else 0),
              "",
              "**Limits.** One neuron is deterministic (no seeds needed); part (b) is on the 10,000-digit MNIST subset "
              + (f"with {df.seed.nunique()} seeds, one architecture, a {s.lr.nunique()}-point lr grid, "
                 f"{int(df.epochs.max())} epochs; epochs-to-{TARGET:.0%} is read on the test set at the evaluation "
                 "points, while the lr was chosen on the validation set. " + edge_text(s) if s is not None else
                 "(not run).")]
    return "\n".join(lines)


def main(argv=None):
    a = study_parser(__doc__, REPORT, experiment="loss_compare_neuron",
                     mnist_experiment="loss_compare_mnist").parse_args(argv)
    out = a.out or RESULTS / STUDY
    out.mkdir(parents=True, exist_ok=True)
    links = {n: report_link(out / n, a.report) for n in ("neuron.png", "mnist_curves.png", "mnist_lr.png")}
    h = load_neuron(a.experiment, a.tracking_uri)
    table = neuron_table(h)
    plot_neuron(h, table, out)
    try:
        runs = latest_sweep(a.mnist_experiment, a.tracking_uri)
    except LookupError as e:  # no MNIST sweep recorded
        print(f"note: {e}; the MNIST part is left out")
        runs = df = s = None
    if runs is not None:
        df, hist = load_mnist(runs, a.tracking_uri)
        s = mnist_summary(df)
        plot_mnist(hist, df, s, out)
    pd.concat([table, s]).to_csv(out / "summary.csv", index=False)
    text = report(table, s, df, links)
    write_section(STUDY, text, a.report)
    print("\n".join(neuron_text(table) + (mnist_text(s, df, int(df.epochs.max()))[0] if s is not None else [])))
    return text


if __name__ == "__main__":
    import sys

    from nnexp.analysis import run_script

    sys.exit(run_script("loss_compare", main))
