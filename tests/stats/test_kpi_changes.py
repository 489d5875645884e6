"""A KPI's change in percent: one decimal, rounded half-up."""

from __future__ import annotations

import pytest

from aurora.stats.kpi_changes import percent_change


@pytest.mark.parametrize(
    ("base", "current", "expected"),
    [(4, 7, 75.0), (3, 4, 33.3), (6, 7, 16.7), (8, 9, 12.5), (16, 17, 6.3), (40, 39, -2.5), (5, 5, 0.0), (0, 10, None)],
)
def test_percent_change_is_one_decimal_rounded_half_up(base, current, expected):
    assert percent_change(base, current) == expected
