"""Tests for explain/schedule.py: which steps get a snapshot, against a reference written
band by band."""

from __future__ import annotations

import pytest

from explain.schedule import RecordSchedule


def doubling_schedule(step: int, dense_until: int, dense_every: int) -> bool:
    """Reference: multiples of dense_every up to dense_until; then in each band
    [dense_until * 2**k, dense_until * 2**(k+1)) multiples of dense_every * 2**(k+1)."""
    if step <= dense_until:
        return step % dense_every == 0
    band_start, interval = dense_until, 2 * dense_every
    while step >= 2 * band_start:
        band_start, interval = 2 * band_start, 2 * interval
    return step % interval == 0


def test_schedule_default_is_dense_to_64_then_doubling() -> None:
    schedule = RecordSchedule()
    picked = [s for s in range(0, 300) if schedule(s)]
    want = [*range(0, 65), *range(66, 128, 2), *range(128, 256, 4), *range(256, 300, 8)]
    assert picked == want
    # each doubling of training gets as many snapshots: 32 in (64, 128], (128, 256], ...
    big = [s for s in range(1, 64 * 2**6 + 1) if schedule(s)]
    for k in range(6):
        lo, hi = 64 * 2**k, 64 * 2 ** (k + 1)
        assert sum(lo < s <= hi for s in big) == 32, (lo, hi)


@pytest.mark.parametrize("dense_until, dense_every", [(4, 1), (64, 1), (10, 3), (5, 2), (48, 4)])
def test_schedule_matches_the_reference(dense_until: int, dense_every: int) -> None:
    schedule = RecordSchedule(dense_until=dense_until, dense_every=dense_every)
    for step in range(0, 5000):
        assert schedule(step) == doubling_schedule(step, dense_until, dense_every), step
    assert [s for s in range(20) if RecordSchedule(dense_until=4)(s)] == [
        *(0, 1, 2, 3, 4, 6, 8, 12, 16)
    ]


def test_schedule_every_n() -> None:
    assert [s for s in range(0, 40) if RecordSchedule(every=7)(s)] == [0, 7, 14, 21, 28, 35]
    assert all(RecordSchedule(every=1)(s) for s in range(200))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"every": 0}, "every"),
        ({"every": -3}, "every"),
        ({"dense_until": 0}, "dense_until"),
        ({"dense_every": -1}, "dense_every"),
    ],
)
def test_schedule_rejects_non_positive_arguments(kwargs: dict[str, int], name: str) -> None:
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=rf"RecordSchedule\.{name} must be positive.*got {value}"):
        RecordSchedule(**kwargs)
