"""Stochastic gradient descent with momentum and L2 weight decay, in place.

    g ← g + λ·W            (weight decay, on weight matrices only, not biases or PReLU slopes)
    v ← μ·v - η·g          (momentum μ; with μ = 0 this is plain SGD, W ← W - η·g)
    W ← W + v
"""
from __future__ import annotations

import numpy as np


class SGD:
    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        self.params = params  # list of (name, array), updated in place
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.decay = [weight_decay > 0 and name.startswith("W") for name, _ in params]
        self.velocity = [np.zeros_like(p) for _, p in params] if momentum else None

    def step(self, grads):
        """Apply one update. The gradient arrays are fresh (backward's output) and are scaled in
        place, so the update allocates nothing the size of a weight matrix."""
        lr = self.lr
        for i, ((_, p), g) in enumerate(zip(self.params, grads)):
            if self.decay[i]:
                g += self.weight_decay * p
            if self.velocity is None:
                g *= lr
                p -= g
            else:
                v = self.velocity[i]
                v *= self.momentum
                v -= lr * g
                p += v

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"
