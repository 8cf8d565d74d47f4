"""2-D optimizer playground maths (numpy): surfaces and GD / momentum / Adam trajectories.

The update rules are the ones torch uses, so what the playground shows is what the trainer does:

- GD:        theta <- theta - lr * g
- momentum:  v <- beta1 * v + g;  theta <- theta - lr * v            (torch.optim.SGD, momentum)
- Adam:      m <- beta1 * m + (1 - beta1) * g;  v <- beta2 * v + (1 - beta2) * g^2
             theta <- theta - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    >>> path = trajectory("bowl", "gd", start=(2.0, 1.0), lr=0.1, steps=3)
    >>> path.shape
    (4, 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["OPTIMIZERS", "SURFACES", "Surface", "trajectory"]

OPTIMIZERS = ("gd", "momentum", "adam")
ESCAPE = 1e6  # stop a trajectory whose coordinates pass this (it diverged)


@dataclass(frozen=True)
class Surface:
    """A loss surface f(x, y) with its gradient, a view window and a suggested start and lr."""

    name: str
    formula: str  # LaTeX
    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad: Callable[[float, float], tuple[float, float]]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    start: tuple[float, float]
    lr: float
    log_scale: bool = False  # contour log(1 + f) for surfaces with a huge range


SURFACES = {
    # A long narrow valley along x, 90 times steeper across it (y): at lr 0.2 each GD step
    # overshoots the floor (y <- -0.8 y, a zig-zag) and creeps along it (x <- 0.98 x), while
    # momentum piles up the small, steady x gradient and runs along the valley.
    "valley": Surface(
        "valley",
        r"f(x, y) = \tfrac{1}{20}x^2 + \tfrac{9}{2}y^2",
        lambda x, y: x**2 / 20 + 4.5 * y**2,
        lambda x, y: (x / 10, 9.0 * y),
        (-10.0, 10.0),
        (-3.0, 3.0),
        (-9.0, 1.5),
        0.2,
    ),
    "bowl": Surface(
        "bowl",
        r"f(x, y) = \tfrac{1}{2}(x^2 + 5y^2)",
        lambda x, y: 0.5 * (x**2 + 5 * y**2),
        lambda x, y: (x, 5.0 * y),
        (-4.0, 4.0),
        (-3.0, 3.0),
        (-3.5, 2.0),
        0.1,
    ),
    "rosenbrock": Surface(
        "rosenbrock",
        r"f(x, y) = (1 - x)^2 + 100(y - x^2)^2",
        lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        lambda x, y: (-2.0 * (1 - x) - 400.0 * x * (y - x**2), 200.0 * (y - x**2)),
        (-2.0, 2.0),
        (-1.0, 3.0),
        (-1.5, 2.0),
        0.001,
        True,
    ),
    "saddle": Surface(
        "saddle",
        r"f(x, y) = \tfrac{1}{2}(x^2 - y^2)",
        lambda x, y: 0.5 * (x**2 - y**2),
        lambda x, y: (x, -y),
        (-3.0, 3.0),
        (-3.0, 3.0),
        (-2.5, 0.05),
        0.1,
    ),
}


def _number(name: str, value: object, low: float, high: float, closed_high: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a number; got {value!r}")
    value = float(value)
    inside = low <= value <= high if closed_high else low <= value < high
    if not math.isfinite(value) or not inside:
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}; got {value!r}")
    return value


def trajectory(
    surface: str | Surface,
    optimizer: str,
    start: Sequence[float],
    lr: float,
    steps: int,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> np.ndarray:
    """Positions [n, 2] visited by ``optimizer`` from ``start`` (row 0) for ``steps`` updates.

    ``momentum`` uses ``beta1`` as its coefficient. A trajectory that diverges (non-finite or
    beyond 1e6) stops there, so it has fewer than ``steps + 1`` rows.
    """
    if isinstance(surface, str):
        if surface not in SURFACES:
            raise ValueError(f"surface must be one of {list(SURFACES)}; got {surface!r}")
        surface = SURFACES[surface]
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}; got {optimizer!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= 100_000:
        raise ValueError(f"steps must be an integer in [0, 100000]; got {steps!r}")
    start = [float(s) for s in start] if isinstance(start, Sequence | np.ndarray) else []
    if len(start) != 2 or not all(math.isfinite(s) for s in start):
        raise ValueError(f"start must be two finite numbers (x, y); got {start!r}")
    lr = _number("lr", lr, 0.0, 100.0)
    beta1 = _number("beta1", beta1, 0.0, 1.0, closed_high=False)
    beta2 = _number("beta2", beta2, 0.0, 1.0, closed_high=False)
    theta = np.array(start, dtype=np.float64)
    m = np.zeros(2)
    v = np.zeros(2)
    path = [theta.copy()]
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            g = np.array(surface.grad(theta[0], theta[1]), dtype=np.float64)
            if optimizer == "gd":
                theta = theta - lr * g
            elif optimizer == "momentum":
                m = beta1 * m + g
                theta = theta - lr * m
            else:
                m = beta1 * m + (1 - beta1) * g
                v = beta2 * v + (1 - beta2) * g * g
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
            if not np.all(np.isfinite(theta)) or np.abs(theta).max() > ESCAPE:
                break
            path.append(theta.copy())
    return np.array(path)


def surface_grid(
    surface: Surface, resolution: int = 80
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x [r], y [r], z [r, r]) over the surface's window; z is log(1 + f) for log surfaces."""
    x = np.linspace(*surface.x_range, resolution)
    y = np.linspace(*surface.y_range, resolution)
    z = surface.f(x[None, :], y[:, None])  # rows are y, columns x (plotly's contour layout)
    if surface.log_scale:
        z = np.log1p(z)
    return x, y, z
