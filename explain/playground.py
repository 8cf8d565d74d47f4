"""The optimizer playground in numpy: 2-D surfaces, GD / momentum / Adam trajectories on them,
and the view model that the playground widget and its exports draw (:class:`PlaygroundData`).

The update rules are the ones torch uses, so what the playground shows is what the trainer does:

- GD:        theta <- theta - lr * g
- momentum:  v <- beta1 * v + g;  theta <- theta - lr * v            (torch.optim.SGD, momentum)
- Adam:      m <- beta1 * m + (1 - beta1) * g;  v <- beta2 * v + (1 - beta2) * g^2
             theta <- theta - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    >>> path = trajectory("bowl", "gd", start=(2.0, 1.0), lr=0.1, steps=3)
    >>> path.shape
    (4, 2)
    >>> data = playground("bowl", steps=3)
    >>> data.steps.tolist(), data.paths["gd"].shape, data.z.shape
    ([0, 1, 2, 3], (4, 2), (80, 80))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .views._common import ViewModel

__all__ = [
    "OPTIMIZERS",
    "SURFACES",
    "PlaygroundData",
    "Surface",
    "playground",
    "surface_grid",
    "trajectory",
]

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


# -- the view model --------------------------------------------------------------------------
@dataclass(frozen=True)
class PlaygroundData(ViewModel):
    """GD, momentum and Adam from one start on one surface: the surface on a grid, each
    optimizer's path, and the settings that made them. The frame axis ``steps`` is the update
    count t = 0..n: frame t shows each path up to its t-th update (the last frame: all of it)."""

    what: ClassVar[str] = "playground"
    FIELDS: ClassVar = tuple(
        "surface formula title start lr beta1 beta2 steps x y z log_scale paths".split()
    )
    FRAMED: ClassVar = ()

    surface: str  # a name of SURFACES
    formula: str  # the surface as LaTeX
    start: tuple[float, float]  # (x, y) where every optimizer starts
    lr: float
    beta1: float  # Adam's beta1, and the momentum coefficient
    beta2: float
    steps: np.ndarray  # [n + 1] update counts 0..n: the frame axis
    x: np.ndarray  # [r] grid columns
    y: np.ndarray  # [r] grid rows
    z: np.ndarray  # [r, r] f(x, y) (log(1 + f) where log_scale), rows are y
    log_scale: bool
    x_range: tuple[float, float]  # the view window
    y_range: tuple[float, float]
    paths: dict[str, np.ndarray]  # optimizer -> [<= n + 1, 2] positions; shorter: it diverged
    title: str

    def shown(self, name: str, index: int) -> np.ndarray:
        """The positions of optimizer ``name`` up to frame ``index`` ([<= index + 1, 2])."""
        return self.paths[name][: int(index) + 1]

    def diverged(self, name: str) -> int | None:
        """The update at which optimizer ``name`` left the surface (None: it never did)."""
        done = len(self.paths[name]) - 1
        return done + 1 if done < len(self.steps) - 1 else None


def playground(
    surface: str | Surface = "valley",
    start: Sequence[float] | None = None,
    lr: float | None = None,
    steps: int = 100,
    beta1: float = 0.9,
    beta2: float = 0.999,
    resolution: int = 80,
) -> PlaygroundData:
    """The playground with these settings: every optimizer of :data:`OPTIMIZERS` run for
    ``steps`` updates from ``start`` (default: the surface's suggested start and lr)."""
    if isinstance(surface, str):
        if surface not in SURFACES:
            raise ValueError(f"surface must be one of {list(SURFACES)}; got {surface!r}")
        surface = SURFACES[surface]
    start = surface.start if start is None else start
    lr = surface.lr if lr is None else lr
    paths = {
        name: trajectory(surface, name, start, lr, steps, beta1=beta1, beta2=beta2)
        for name in OPTIMIZERS
    }
    x, y, z = surface_grid(surface, resolution)
    first = paths[OPTIMIZERS[0]][0]
    return PlaygroundData(
        surface=surface.name,
        formula=surface.formula,
        start=(float(first[0]), float(first[1])),
        lr=float(lr),
        beta1=float(beta1),
        beta2=float(beta2),
        steps=np.arange(steps + 1),
        x=x,
        y=y,
        z=z,
        log_scale=surface.log_scale,
        x_range=surface.x_range,
        y_range=surface.y_range,
        paths=paths,
        title=f"optimizer playground · {surface.name}",
    )
