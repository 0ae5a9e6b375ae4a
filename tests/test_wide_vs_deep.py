"""experiments/wide_vs_deep.py: the verdicts on hand-made runs, and end to end on the quick preset."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from conftest import load_script


@pytest.fixture(scope="module")
def wvd():
    return load_script("wide_vs_deep")


def fake_runs():
    """MLflow-style rows: at budget 1000, 3×10 clearly beats 1×20; at 2000 the two overlap; one run diverged."""
    accs = {(1000, 1): [0.900, 0.901, 0.899], (1000, 3): [0.950, 0.951, 0.949],
            (2000, 1): [0.900, 0.920, 0.880], (2000, 3): [0.910, 0.930, 0.890]}
    hidden = {1: "[20]", 3: "[10, 10, 11]"}
    rows = []
    for (budget, depth), values in accs.items():
        for seed, acc in enumerate(values):
            rows.append({"run_id": f"r{budget}-{depth}-{seed}", "status": "FINISHED", "params.dataset.name": "mnist10k",
                         "params.dataset.max_train": "None", "params.model.budget": str(budget),
                         "params.model.depth": str(depth), "params.seed": str(seed), "tags.nnexp.n_params": str(budget),
                         "tags.nnexp.hidden": hidden[depth], "metrics.test/acc": acc, "metrics.layer1/dead_frac": 0.5,
                         "metrics.layer2/dead_frac": 0.0})
    rows.append({**rows[-1], "run_id": "bad", "status": "FAILED", "params.seed": "3", "metrics.test/acc": float("nan"),
                 "tags.nnexp.end_reason": "diverged: loss not finite at epoch 2"})
    return pd.DataFrame(rows)


def test_verdicts_from_hand_made_runs(wvd):
    runs = wvd.tidy(fake_runs())
    assert list(runs.lxw.unique()) == ["1×20", "3×10/11"]
    assert runs.loc[runs.depth == 3, "dead_frac"].iloc[0] == pytest.approx(0.5 * 10 / 20)  # layer 3 not measured
    summary = wvd.summarise_runs(runs)
    assert len(summary) == 4 and summary.n_seeds.tolist() == [3, 3, 3, 3]
    assert summary.n_failed.tolist() == [0, 0, 0, 1]  # the diverged run is counted, not averaged
    clear, noisy = wvd.verdicts(summary)
    assert clear["budget"] == 1000 and clear["helped"] and clear["deep"] == "3×10/11"
    assert "beat one hidden layer (1×20" in clear["text"] and "by 5.0 points" in clear["text"]
    assert "do not overlap" in clear["text"] and "within noise" not in clear["text"]
    assert noisy["budget"] == 2000 and not noisy["helped"] and "within noise" in noisy["text"]
    table = wvd.seide_table(summary)
    assert "| 1,000 | 3×10/11 |" in table and "**5.0 ± 0.2**" in table and "(1 failed)" in table
    links = {"depth": "x/accuracy_vs_depth.png", "params": "x/accuracy_vs_params.png"}
    text = wvd.report(runs, summary, table, [clear, noisy], links)
    assert "1 failed (diverged)" in text and "diverged: loss not finite at epoch 2" in text
    assert "The claim holds here in 1 of 2 cells only" in text


@pytest.mark.slow
def test_end_to_end_on_quick_sweep(wvd, cli, tmp_path):
    import matplotlib.image

    proc = cli("+experiment=wide_vs_deep_quick")
    assert proc.returncode == 0, proc.stderr
    out, readme = tmp_path / "out", tmp_path / "README.md"
    assert wvd.main(["--experiment", "wide_vs_deep_quick", "--tracking-uri", cli.uri, "--out", str(out),
                     "--report", str(readme)]) == 0
    summary = pd.read_csv(out / "summary.csv")
    expected = ["dataset", "budget", "depth", "widths", "n_params", "n_seeds", "test_acc", "ci_low", "ci_high",
                "test_err"]
    assert set(expected) <= set(summary.columns)
    assert sorted(zip(summary.dataset, summary.budget, summary.depth)) == [("mnist1d", 12730, 1), ("mnist1d", 12730, 3)]
    assert (summary.n_seeds == 1).all() and summary.test_acc.between(0, 1).all()
    for name in ("accuracy_vs_depth.png", "accuracy_vs_params.png"):
        assert os.path.getsize(out / name) > 10_000
        assert matplotlib.image.imread(out / name).ndim == 3
    text = readme.read_text()
    section = text[text.index("<!-- BEGIN wide_vs_deep -->"):text.index("<!-- END wide_vs_deep -->")]
    assert "| parameters | L×W |" in section and (out / "seide_table.md").read_text().strip() in section
    assert "](out/accuracy_vs_depth.png)" in section and "](out/accuracy_vs_params.png)" in section
    assert "python -m nnexp +experiment=wide_vs_deep" in section
    findings = section[section.index("**Findings.**"):section.index("**Against")]
    assert "12,730 parameters" in findings and "one seed" in findings
