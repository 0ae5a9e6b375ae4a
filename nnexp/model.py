"""The multilayer perceptron: parameters, forward pass and backprop, written out by hand.

Layer l maps a_{l-1} (batch, n_{l-1}) to a_l = act(z_l), z_l = a_{l-1} @ W_l + b_l.
Backprop, one readable pattern per layer:
    dZ = dA * act'(z);  dW = a_prev.T @ dZ;  db = Σ_batch dZ;  dA_prev = dZ @ W.T
The output delta dL/dz_L comes from the loss (losses.py), which knows the output activation.
"""
from __future__ import annotations

from .activations import PReLU
from .xp import DEFAULT, namespace


class MLP:
    """Weights `W[l]` (n_in, n_out), biases `b[l]` (n_out,) or None, PReLU slopes `alpha[l]`."""

    def __init__(self, sizes, hidden, output, *, bias=True, dtype="float32",
                 init, bias_init=0.0, rng, xp=DEFAULT):
        """`init(n_in, n_out, rng)` draws a weight matrix on the host (numpy, from the numpy Generator
        `rng`); the parameters are then arrays of `xp` (see nnexp.xp)."""
        self.sizes = list(sizes)  # [n_in, h_1, ..., h_k, n_out]
        self.dtype = xp.dtype(dtype)
        n_layers = len(sizes) - 1
        self.acts = [hidden] * (n_layers - 1) + [output]
        self.W = [xp.asarray(init(n_in, n_out, rng).astype(self.dtype)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.b = [xp.full(n, bias_init, dtype=self.dtype) if bias else None for n in sizes[1:]]
        self.alpha = [xp.full(n, act.slope, dtype=self.dtype) if isinstance(act, PReLU) else None
                      for n, act in zip(sizes[1:], self.acts)]
        # where each layer's W, b, alpha sit in params(): (i_W, i_b or None, i_alpha or None)
        self._slots_flat = [name for name, _ in self.params()]
        self._slots = [tuple(self._slots_flat.index(f"{kind}{l + 1}") if f"{kind}{l + 1}" in self._slots_flat
                             else None for kind in ("W", "b", "alpha")) for l in range(n_layers)]

    # --- parameters as flat lists, for the optimiser and for saving --------------------------
    def params(self):
        """(name, array) pairs of every trainable array, in a fixed order."""
        out = []
        for l in range(len(self.W)):
            out.append((f"W{l + 1}", self.W[l]))
            if self.b[l] is not None:
                out.append((f"b{l + 1}", self.b[l]))
            if self.alpha[l] is not None:
                out.append((f"alpha{l + 1}", self.alpha[l]))
        return out

    def n_params(self) -> int:
        return sum(p.size for _, p in self.params())

    # --- forward ------------------------------------------------------------------------------
    def _act(self, l, z):
        act = self.acts[l]
        return act.fn(z, self.alpha[l]) if self.alpha[l] is not None else act.fn(z)

    def forward(self, X):
        """Return (zs, As): zs[l] = z_{l+1}, As[0] = X, As[l+1] = act(zs[l])."""
        zs, As = [], [X]
        for l, (W, b) in enumerate(zip(self.W, self.b)):
            z = As[-1] @ W  # (batch, n_out)
            if b is not None:
                z += b
            zs.append(z)
            As.append(self._act(l, z))
        return zs, As

    def predict(self, X):
        return self.forward(X)[1][-1]

    # --- backward -----------------------------------------------------------------------------
    def backward(self, zs, As, delta, back=None, opt=None):
        """Gradients for every parameter, given dL/dz at the output `delta` (batch, n_out).

        Returns a list aligned with `params()`. The caller scales delta (1/batch for a mean loss).
        `back`, when given, is what the output layer sends to the layer below instead of delta:
        only for a published update rule that is not a gradient (losses.RashidMSE).
        With `opt`, each gradient is handed to the optimiser as soon as it is known and nothing is
        returned: dW = a_prev.T @ dZ is computed by the optimiser into its own buffer and applied
        at once (optim.SGD.apply_outer). dA for the layer below is computed first, from W before
        its update, so both ways give the same maths.
        """
        grads = [None] * len(self._slots_flat)
        dZ, dA = delta, None
        sent = delta if back is None else back  # what the output layer passes down
        for l in range(len(self.W) - 1, -1, -1):
            i_W, i_b, i_alpha = self._slots[l]
            dA_below = None
            if l > 0:  # dL/da_l (batch, n_in), with W_l as it was in the forward pass
                dA_below = (sent if l == len(self.W) - 1 else dZ) @ self.W[l].T
            if opt is not None:
                opt.apply_outer(i_W, As[l], dZ)
            else:  # dW (n_in, n_out); one sample: an outer product, where np.dot is ~6x faster than matmul
                grads[i_W] = namespace(dZ).dot(As[l].T, dZ) if len(dZ) == 1 else As[l].T @ dZ
            if i_b is not None:
                grads[i_b] = dZ.sum(axis=0)  # db (n_out,)
            if i_alpha is not None:  # hidden PReLU: dA is this layer's output gradient
                grads[i_alpha] = PReLU.alpha_grad(zs[l], dA)  # dα (n_out,)
            if opt is not None:
                for i in (i_b, i_alpha):
                    if i is not None:
                        opt.apply(i, grads[i])
            if l > 0:
                dA = dA_below
                act, z, a = self.acts[l - 1], zs[l - 1], As[l]
                g = act.grad(z, a, self.alpha[l - 1]) if self.alpha[l - 1] is not None else act.grad(z, a)
                dZ = dA * g
        return None if opt is not None else grads

    def __repr__(self):
        arch = "-".join(str(n) for n in self.sizes)
        acts = ",".join(a.name for a in self.acts)
        return f"MLP({arch}, acts=[{acts}], bias={self.b[0] is not None}, dtype={self.dtype.name})"
