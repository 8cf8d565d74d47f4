"""One comparison for "the widget's view model is what the JSON export wrote"."""

from __future__ import annotations

import math


def same(written, expected, where: str = "") -> None:
    """``written`` (parsed JSON) equals ``expected`` (the model, made JSON-able) to 1e-6."""
    if isinstance(expected, dict):
        assert isinstance(written, dict) and set(written) == set(expected), where
        for key in expected:
            same(written[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(written, list) and len(written) == len(expected), where
        for i, (w, e) in enumerate(zip(written, expected, strict=True)):
            same(w, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert isinstance(written, int | float), where
        assert math.isclose(written, expected, rel_tol=1e-6, abs_tol=1e-6), where
    else:
        assert written == expected, where
