"""MTT weight-transfer functions and a metaplastic binary network trained through them.

Derivation of the symmetric differential MTT transfer (reference conductance normalised to 1,
Vread_H = 2 V_T so the inference transistor is in its linear region). A hidden weight
W_h ∈ [−1, 1] programs one analog device of the pair to G = 1 + (K − 1)|W_h| ∈ [1, K] (the
other stays at the reference, G = 1). The divider read-out of each side is G/(1 + G), and the
binary weight is the normalised difference::

    W_b ∝ G/(1 + G) − 1/2 = (K − 1)|W_h| / (2 (2 + (K − 1)|W_h|))

Normalising so that W_b(±1) = ±1 gives ``W_b = A W_h / (1 + B |W_h|)`` with
``A = (K + 1)/2`` and ``B = (K − 1)/2``: odd, monotone, W_b(±1) = ±1, linear for K = 1 and
→ sign(W_h) as K → ∞. Fitted devices use (A_p, B_p) for W_h > 0 and (A_n, B_n) for W_h < 0.
The ternary variant (sub-threshold bias) has a zero region |W_h| < r; outside it the same form
acts on the rescaled magnitude (|W_h| − r)/(1 − r) (our definition: the paper's equation did
not survive extraction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MttTransfer",
    "XorResult",
    "f_meta",
    "quantize_hidden",
    "train_xor_bnn",
    "transfer_coefficients",
    "xor_dataset",
]


def transfer_coefficients(k_ratio: float) -> tuple[float, float]:
    """(A, B) of the symmetric MTT unit for on/off ratio ``k_ratio`` (K ≥ 1)."""
    if not k_ratio >= 1:
        raise ValueError(f"on/off ratio K must be >= 1, got {k_ratio}")
    return (k_ratio + 1) / 2, (k_ratio - 1) / 2


@dataclass(frozen=True)
class MttTransfer:
    """W_b(W_h) = A W_h / (1 + B |W_h|), separate branches, optional zero region r."""

    a_p: float
    b_p: float
    a_n: float
    b_n: float
    radius: float = 0.0

    @classmethod
    def symmetric(cls, k_ratio: float, radius: float = 0.0) -> MttTransfer:
        a, b = transfer_coefficients(k_ratio)
        return cls(a, b, a, b, radius)

    def __post_init__(self) -> None:
        if min(self.a_p, self.a_n) <= 0 or min(self.b_p, self.b_n) < 0:
            raise ValueError("A must be > 0 and B >= 0 on both branches")
        if not 0 <= self.radius < 1:
            raise ValueError(f"ternary radius must be in [0, 1), got {self.radius}")

    def __call__(self, w_h: np.ndarray) -> np.ndarray:
        w = np.clip(np.asarray(w_h, dtype=float), -1.0, 1.0)
        mag = np.abs(w)
        if self.radius > 0:
            mag = np.clip((mag - self.radius) / (1 - self.radius), 0.0, None)
        pos = self.a_p * mag / (1 + self.b_p * mag)
        neg = self.a_n * mag / (1 + self.b_n * mag)
        return np.where(w >= 0, pos, -neg)

    def derivative(self, w_h: np.ndarray) -> np.ndarray:
        """dW_b/dW_h (0 inside the zero region)."""
        w = np.clip(np.asarray(w_h, dtype=float), -1.0, 1.0)
        mag = np.abs(w)
        scale = 1.0
        if self.radius > 0:
            scale = 1 / (1 - self.radius)
            inside = mag < self.radius
            mag = np.clip((mag - self.radius) * scale, 0.0, None)
        a = np.where(w >= 0, self.a_p, self.a_n)
        b = np.where(w >= 0, self.b_p, self.b_n)
        d = scale * a / (1 + b * mag) ** 2
        if self.radius > 0:
            d = np.where(inside, 0.0, d)
        return d

    def as_dict(self) -> dict[str, float]:
        return {
            "A_p": self.a_p,
            "B_p": self.b_p,
            "A_n": self.a_n,
            "B_n": self.b_n,
            "radius": self.radius,
        }


def f_meta(w_h: np.ndarray, m: float) -> np.ndarray:
    """Metaplastic attenuation 1 − tanh²(m |W_h|) (Laborieux et al. 2021)."""
    return 1.0 - np.tanh(m * np.abs(w_h)) ** 2


def quantize_hidden(w: np.ndarray, bits: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Quantise to 2**bits symmetric levels in [−1, 1] (±1 included, 0 excluded for odd
    counts); stochastic rounding when ``rng`` is given (an analog device moves by whole pulses).
    """
    n = 2**bits
    step = 2.0 / (n - 1)
    x = (np.clip(w, -1, 1) + 1) / step
    x = np.floor(x + rng.random(x.shape)) if rng is not None else np.round(x)
    return np.clip(x, 0, n - 1) * step - 1


def xor_dataset(n: int, noise: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian clusters at (±1, ±1); label 1 when the signs differ (XOR)."""
    rng = np.random.default_rng(seed)
    centres = rng.choice([-1.0, 1.0], size=(n, 2))
    x = centres + noise * rng.standard_normal((n, 2))
    y = (centres[:, 0] * centres[:, 1] < 0).astype(float)
    return x, y


@dataclass
class XorResult:
    accuracy: float
    history: list[float]
    w_hidden: list[np.ndarray]
    w_binary: list[np.ndarray]


def _bn(a: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5):
    mu, var = a.mean(0), a.var(0)
    ah = (a - mu) / np.sqrt(var + eps)
    return gamma * ah + beta, (ah, var, eps)


def _bn_back(g: np.ndarray, gamma: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    ah, var, eps = cache
    n = g.shape[0]
    dgamma = (g * ah).sum(0)
    dbeta = g.sum(0)
    dah = g * gamma
    da = (n * dah - dah.sum(0) - ah * (dah * ah).sum(0)) / (n * np.sqrt(var + eps))
    return da, dgamma, dbeta


def train_xor_bnn(
    transfer: MttTransfer,
    hidden: int = 3,
    epochs: int = 60,
    lr: float = 0.005,
    m: float = 10.0,
    bits: int = 3,
    batch: int = 32,
    n_train: int = 1000,
    n_test: int = 1000,
    seed: int = 0,
) -> XorResult:
    """Train a 2×hidden×1 binary network on XOR with metaplastic updates through the MTT.

    Forward: inference weights W_b = transfer(W_h); batch norm; sign activations (straight-
    through estimator, hardtanh window). Updates: Adam steps on W_h (lr ``lr``); a step that
    would shrink |W_h| is scaled by f_meta = 1 − tanh²(m|W_h|); the device keeps ``bits``-bit
    hidden weights in ±1, reached by stochastic rounding (whole programming pulses).
    """
    rng = np.random.default_rng(seed)
    x_tr, y_tr = xor_dataset(n_train, seed=seed)
    x_te, y_te = xor_dataset(n_test, seed=seed + 1)
    shapes = [(2, hidden), (hidden, 1)]
    w_h = [quantize_hidden(rng.uniform(-1, 1, s), bits, rng) for s in shapes]
    bn = [(np.ones(s[1]), np.zeros(s[1])) for s in shapes]
    adam = [(np.zeros(s), np.zeros(s)) for s in shapes]
    bn_adam = [[(np.zeros(s[1]), np.zeros(s[1])) for _ in range(2)] for s in shapes]
    b1, b2, eps, t = 0.9, 0.999, 1e-8, 0

    def forward(x: np.ndarray):
        wb = [transfer(w) for w in w_h]
        a1, c1 = _bn(x @ wb[0], *bn[0])
        h1 = np.sign(a1) + (a1 == 0)
        a2, c2 = _bn(h1 @ wb[1], *bn[1])
        return wb, a1, c1, h1, a2, c2

    history = []
    for _ in range(epochs):
        order = rng.permutation(n_train)
        for start in range(0, n_train, batch):
            idx = order[start : start + batch]
            x, y = x_tr[idx], y_tr[idx, None]
            wb, a1, c1, h1, a2, c2 = forward(x)
            p = 1 / (1 + np.exp(-a2))
            g2 = (p - y) / len(idx)  # d BCE / d logit
            d2, dg2, db2 = _bn_back(g2, bn[1][0], c2)
            gw2 = h1.T @ d2
            gh1 = d2 @ wb[1].T * (np.abs(a1) <= 1)  # STE
            d1, dg1, db1 = _bn_back(gh1, bn[0][0], c1)
            gw1 = x.T @ d1
            t += 1
            for k, (gw, dgb) in enumerate([(gw1, (dg1, db1)), (gw2, (dg2, db2))]):
                mom, vel = adam[k]
                mom[:] = b1 * mom + (1 - b1) * gw
                vel[:] = b2 * vel + (1 - b2) * gw**2
                step = -lr * (mom / (1 - b1**t)) / (np.sqrt(vel / (1 - b2**t)) + eps)
                shrink = np.sign(step) != np.sign(w_h[k])
                step = np.where(shrink, step * f_meta(w_h[k], m), step)
                w_h[k] = quantize_hidden(w_h[k] + step, bits, rng)
                for j in range(2):  # batch-norm affine parameters are digital (float)
                    bm, bv = bn_adam[k][j]
                    bm[:] = b1 * bm + (1 - b1) * dgb[j]
                    bv[:] = b2 * bv + (1 - b2) * dgb[j] ** 2
                    bn[k][j][:] -= 10 * lr * (bm / (1 - b1**t)) / (np.sqrt(bv / (1 - b2**t)) + eps)
        _, _, _, _, a2, _ = forward(x_te)
        history.append(float(((a2[:, 0] > 0) == (y_te > 0.5)).mean()))
    wb = [transfer(w) for w in w_h]
    return XorResult(history[-1], history, [w.copy() for w in w_h], wb)
