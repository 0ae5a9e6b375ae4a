"""Stochastic gradient descent with momentum and L2 weight decay, in place.

    g ← g + λ·W            (weight decay, on weight matrices only, not biases or PReLU slopes)
    v ← μ·v - η·g          (momentum μ; with μ = 0 this is plain SGD, W ← W - η·g)
    W ← W + v

For a weight matrix the gradient is g = Aᵀ·dZ; `apply_outer` (used by the trainer when
`fused`) computes it into a reused buffer and applies it at once, layer by layer, as backprop
reaches each layer. (One BLAS call subtracting η·Aᵀ·dZ straight into W needs scipy's BLAS, whose
thread pool then fights numpy's for the two cores: ten times slower here, so not used.)
"""
from __future__ import annotations

from .xp import namespace


class SGD:
    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, fused: bool = True):
        self.params = params  # list of (name, array), updated in place
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.fused = fused  # the trainer hands weight gradients to apply_outer instead of step
        self.decay = [weight_decay > 0 and name.startswith("W") for name, _ in params]
        self.xp = namespace(*(p for _, p in params))
        self.velocity = [self.xp.zeros_like(p) for _, p in params] if momentum else None
        self.buffers = [None] * len(params)  # apply_outer's gradient workspace, made on first use

    def step(self, grads):
        """Apply one update, gradients aligned with params."""
        for i, g in enumerate(grads):
            self.apply(i, g)

    def apply(self, i, g):
        """Update parameter i with gradient g. g is fresh (backward's output) and is scaled in place,
        so the update allocates nothing the size of a weight matrix."""
        p, lr = self.params[i][1], self.lr
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

    def apply_outer(self, i, A, dZ):
        """Update weight matrix i, whose gradient is A.T @ dZ, computing that gradient into a
        buffer kept between steps: a fresh W-sized array every step costs page faults that take
        about as long as the matmul itself."""
        if self.buffers[i] is None:
            self.buffers[i] = self.xp.empty_like(self.params[i][1])
        g = self.buffers[i]
        if len(A) == 1:
            self.xp.dot(A.T, dZ, out=g)  # one sample: the outer product, where np.dot is ~6x faster than matmul
        else:
            self.xp.matmul(A.T, dZ, out=g)
        self.apply(i, g)

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay}, fused={self.fused})"
