"""Figures of one run (the learning curve logged as an artifact).

Plain matplotlib, imported lazily: this runs once per job, where seaborn's extra second of
import and drawing would cost more than a small network's training.
"""
from __future__ import annotations

SPLITS = ("train", "val", "test")


def learning_curve(history, title=""):
    """Loss and accuracy per epoch for train/val/test, two panels; returns a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), constrained_layout=True)
    axes = fig.subplots(1, 2)
    epochs = [h["progress/epoch"] for h in history]
    for ax, metric, label in zip(axes, ("loss", "acc"), ("loss (mean per sample)", "accuracy (fraction correct)")):
        for split in SPLITS:
            ax.plot(epochs, [h[f"{split}/{metric}"] for h in history], marker="o", ms=3, label=split)
        ax.set(xlabel="epoch (passes over the training set)", ylabel=label)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_yscale("log")
    fig.suptitle(title)
    return fig
