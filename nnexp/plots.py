"""Figures of one run (the learning curve logged as an artifact). seaborn/matplotlib load lazily."""
from __future__ import annotations


def learning_curve(history, title=""):
    """Loss and accuracy per epoch for train/val/test, two panels; returns a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    rows = [{"epoch": h["progress/epoch"], "split": key.split("/")[0], "metric": key.split("/")[1], "value": v}
            for h in history for key, v in h.items()
            if key.split("/")[0] in ("train", "val", "test") and key.split("/")[1] in ("loss", "acc")]
    df = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, metric, label in zip(axes, ("loss", "acc"), ("loss (mean per sample)", "accuracy (fraction correct)")):
        sns.lineplot(data=df[df.metric == metric], x="epoch", y="value", hue="split", marker="o", ax=ax)
        ax.set(xlabel="epoch (passes over the training set)", ylabel=label)
    axes[0].set_yscale("log")
    fig.suptitle(title)
    return fig
