"""Generic numeric solvers (numpy only): ridge, L2-regularised logistic regression and its
multinomial form (by L-BFGS).

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


def softmax_regression(
    design: np.ndarray,
    y: np.ndarray,
    classes: int,
    *,
    c: float,
    balanced: bool = False,
    iterations: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression: minimises C * sum(cross-entropy) + |W|^2 / 2 (the
    intercepts unpenalised) by L-BFGS with a backtracking line search. ``y`` holds class
    codes; ``balanced`` weighs each row by n / (classes x rows of its class). Returns the
    coefficients (classes x features) and the intercepts (classes)."""
    n, d = design.shape
    codes = np.asarray(y, dtype=np.int64)
    onehot = np.eye(classes)[codes]
    weights = np.ones(n)
    if balanced:
        counts = np.bincount(codes, minlength=classes).astype(float)
        weights = n / (classes * np.maximum(counts, 1.0))[codes]
    xb = np.column_stack([design, np.ones(n)])
    penalty = np.ones((d + 1, 1)) / c
    penalty[-1] = 0.0

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = flat.reshape(d + 1, classes)
        z = xb @ w
        z -= z.max(axis=1, keepdims=True)
        log_total = np.log(np.exp(z).sum(axis=1))
        loss = np.sum(weights * (log_total - (z * onehot).sum(axis=1)))
        p = np.exp(z - log_total[:, None])
        grad = xb.T @ ((p - onehot) * weights[:, None]) + penalty * w
        return float(loss + 0.5 * np.sum(penalty * w * w)), grad.ravel()

    w = lbfgs(objective, np.zeros((d + 1) * classes), iterations=iterations)
    w = w.reshape(d + 1, classes)
    return w[:-1].T.copy(), w[-1].copy()


def lbfgs(objective, x0: np.ndarray, *, iterations: int, memory: int = 10) -> np.ndarray:
    """Limited-memory BFGS for a smooth convex ``objective`` returning (value, gradient)."""
    x = x0.copy()
    fx, g = objective(x)
    steps: list[tuple[np.ndarray, np.ndarray, float]] = []  # (s, y, 1 / y.s)
    for _ in range(iterations):
        q, alphas = g.copy(), []
        for s, yv, rho in reversed(steps):
            a = rho * (s @ q)
            q -= a * yv
            alphas.append(a)
        if steps:
            s, yv, _ = steps[-1]
            q *= (s @ yv) / (yv @ yv)
        else:
            q /= max(1.0, float(np.linalg.norm(g)))
        for (s, yv, rho), a in zip(steps, reversed(alphas), strict=True):
            q += s * (a - rho * (yv @ q))
        direction = -q
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction: start again from the gradient
            steps, direction, slope = [], -g, -float(g @ g)
        t = 1.0
        while True:
            fn, gn = objective(x + t * direction)
            if fn <= fx + 1e-4 * t * slope or t < 1e-10:
                break
            t /= 2
        s, yv = t * direction, gn - g
        x, improved, fx, g = x + s, fx - fn, fn, gn
        if s @ yv > 1e-12:
            steps = [*steps[-(memory - 1) :], (s, yv, 1.0 / float(s @ yv))]
        if improved <= 1e-10 * max(1.0, abs(fx)) or np.max(np.abs(g)) < 1e-6:
            break
    return x
