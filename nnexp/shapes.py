"""Network shapes at a fixed parameter budget, for wide-vs-deep comparisons.

`match_widths(n_in, n_out, depth, budget)` returns hidden widths, nearly equal (any two
differ by at most two units), whose network has a parameter count (weights and biases) as
close as possible to `budget`. A one-unit change in the first hidden layer moves the count
by about n_in (784 on MNIST), so exactly uniform widths cannot match a small budget within
2% at every depth; widths of w, w+1 or w+2 can.
"""
from __future__ import annotations

import itertools


def n_params(sizes, bias=True) -> int:
    """Weights (and biases) of a fully connected network with layer sizes [n_in, h..., n_out]."""
    return sum(a * b + (b if bias else 0) for a, b in zip(sizes[:-1], sizes[1:]))


def match_widths(n_in: int, n_out: int, depth: int, budget: int, bias: bool = True) -> list[int]:
    """Hidden widths (depth of them, each w, w+1 or w+2) whose parameter count is closest to budget.

    Ties go to the narrower network, then to the one whose extra units sit in later layers.
    """
    if depth < 1 or budget < 1:
        raise ValueError("depth and budget must be positive")
    # the widest uniform width still within budget: the search starts just below it
    w0 = 1
    while n_params([n_in, *[w0 + 1] * depth, n_out], bias) <= budget:
        w0 += 1
    best, best_key = None, None
    for w in range(max(1, w0 - 2), w0 + 2):
        for extra in itertools.product((0, 1, 2), repeat=depth):
            widths = [w + e for e in extra]
            key = (abs(n_params([n_in, *widths, n_out], bias) - budget), sum(widths), extra)
            if best_key is None or key < best_key:
                best, best_key = widths, key
    return best
