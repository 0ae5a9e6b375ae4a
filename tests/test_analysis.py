"""nnexp.analysis helpers shared by the study scripts."""
from __future__ import annotations

import math

import pandas as pd

from nnexp.analysis import column, fmt_ci, summarise, t_interval


def test_column_gives_the_default_where_no_run_recorded_the_key():
    runs = pd.DataFrame({"run_id": ["a", "b"], "params.seed": ["0", "1"]}, index=[3, 7])
    assert list(column(runs, "params.seed")) == ["0", "1"]
    missing = column(runs, "tags.nnexp.hidden", "[]")
    assert list(missing) == ["[]", "[]"] and list(missing.index) == [3, 7]  # aligned with the runs
    assert column(runs, "metrics.test/acc").isna().all()


def test_t_interval_and_summarise():
    lo, hi = t_interval([1.0, 2.0, 3.0])
    assert math.isclose((lo + hi) / 2, 2.0) and math.isclose(hi - 2.0, 4.302652729911275 / math.sqrt(3))
    assert t_interval([5.0]) == (5.0, 5.0) and all(math.isnan(v) for v in t_interval([math.nan]))
    s = summarise(pd.DataFrame({"g": ["x", "x", "y"], "v": [1.0, 3.0, 2.0]}), ["g"], "v")
    assert list(s.g) == ["x", "y"] and list(s.n_seeds) == [2, 1] and list(s["mean"]) == [2.0, 2.0]
    assert fmt_ci(0.5, 0.4, 0.6) == "50.0 ± 10.0" and fmt_ci(math.nan, 0, 0) == "n/a"
