"""Generic numeric solvers (numpy only): ridge and L2-regularised logistic regression.

Used by the linear candidate (tabflow.models.linear) and by Platt calibration
(tabflow.calibration); they import nothing of tabflow, so neither depends on the other."""

import numpy as np


def ridge_regression(
    design: np.ndarray, y: np.ndarray, *, alpha: float
) -> tuple[np.ndarray, float]:
    """Least squares with an L2 penalty on the coefficients (not the intercept)."""
    mean_x, mean_y = design.mean(axis=0), float(y.mean())
    xc = design - mean_x
    coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(design.shape[1]), xc.T @ (y - mean_y))
    return coef, mean_y - float(mean_x @ coef)


def logistic_regression(
    design: np.ndarray, y: np.ndarray, *, c: float, balanced: bool = False, iterations: int = 100
) -> tuple[np.ndarray, float]:
    n, d = design.shape
    weights = np.ones(n)
    if balanced and 0 < y.sum() < n:
        pos = y.sum()
        weights = np.where(y == 1, n / (2 * pos), n / (2 * (n - pos)))
    xb = np.column_stack([design, np.ones(n)])
    w = np.zeros(d + 1)
    penalty = np.ones(d + 1) / c
    penalty[-1] = 0.0

    def loss(v: np.ndarray) -> float:
        z = xb @ v
        return float(np.sum(weights * (np.logaddexp(0, z) - y * z)) + 0.5 * np.sum(penalty * v * v))

    current = loss(w)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -35, 35)))
        grad = xb.T @ (weights * (p - y)) + penalty * w
        hess = (
            (xb * (weights * p * (1 - p))[:, None]).T @ xb
            + np.diag(penalty)
            + 1e-10 * np.eye(d + 1)
        )
        step = np.linalg.solve(hess, grad)
        scale, candidate = 1.0, loss(w - step)
        while candidate > current + 1e-12 and scale > 1e-6:  # damped Newton: the loss never rises
            scale /= 2
            candidate = loss(w - scale * step)
        w -= scale * step
        improved, current = current - candidate, candidate
        if np.max(np.abs(scale * step)) < 1e-9 or improved < 1e-12 * max(1.0, abs(current)):
            break
    return w[:-1], float(w[-1])
