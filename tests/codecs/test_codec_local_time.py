"""The ERP's zone-less local times to UTC and back, across daylight-saving changes."""

from __future__ import annotations

import datetime as dt

import pytest

from streams.codecs.exceptions import LocalTimeError
from streams.codecs.local_time import local_to_utc, utc_to_local

UTC = dt.UTC


def test_shanghai_is_eight_hours_ahead_all_year() -> None:
    for month in (1, 7):
        local = dt.datetime(2024, month, 10, 14, 30, 0, 123000)
        assert local_to_utc(local, "Asia/Shanghai") == dt.datetime(
            2024, month, 10, 6, 30, 0, 123000, tzinfo=UTC
        )


def test_shanghai_across_midnight_changes_the_date() -> None:
    assert local_to_utc(dt.datetime(2024, 3, 1, 7, 59), "Asia/Shanghai") == dt.datetime(
        2024, 2, 29, 23, 59, tzinfo=UTC
    )


def test_new_york_before_and_after_the_march_change() -> None:
    assert local_to_utc(dt.datetime(2024, 3, 10, 1, 59), "America/New_York") == dt.datetime(
        2024, 3, 10, 6, 59, tzinfo=UTC
    )
    assert local_to_utc(dt.datetime(2024, 3, 10, 3, 0), "America/New_York") == dt.datetime(
        2024, 3, 10, 7, 0, tzinfo=UTC
    )


def test_new_york_skipped_time_is_refused_or_shifted_forward() -> None:
    skipped = dt.datetime(2024, 3, 10, 2, 30)
    with pytest.raises(LocalTimeError, match="does not exist in America/New_York"):
        local_to_utc(skipped, "America/New_York")
    shifted = local_to_utc(skipped, "America/New_York", nonexistent="shift_forward")
    assert shifted == dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC)
    assert utc_to_local(shifted, "America/New_York") == dt.datetime(2024, 3, 10, 3, 30)


def test_new_york_repeated_time_is_refused_or_chosen() -> None:
    repeated = dt.datetime(2024, 11, 3, 1, 30)
    with pytest.raises(LocalTimeError, match="happened twice"):
        local_to_utc(repeated, "America/New_York")
    assert local_to_utc(repeated, "America/New_York", ambiguous="earliest") == dt.datetime(
        2024, 11, 3, 5, 30, tzinfo=UTC
    )
    assert local_to_utc(repeated, "America/New_York", ambiguous="latest") == dt.datetime(
        2024, 11, 3, 6, 30, tzinfo=UTC
    )


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "UTC"])
def test_round_trip_outside_transitions(zone: str) -> None:
    local = dt.datetime(2024, 6, 1, 12, 0, 0, 654321)
    assert utc_to_local(local_to_utc(local, zone), zone) == local


def test_unknown_zone_and_wrong_kinds_of_datetime() -> None:
    with pytest.raises(LocalTimeError, match="unknown time zone 'Mars/Olympus'"):
        local_to_utc(dt.datetime(2024, 1, 1), "Mars/Olympus")
    with pytest.raises(LocalTimeError, match="already has an offset"):
        local_to_utc(dt.datetime(2024, 1, 1, tzinfo=UTC), "Asia/Shanghai")
    with pytest.raises(LocalTimeError, match="has no offset"):
        utc_to_local(dt.datetime(2024, 1, 1), "Asia/Shanghai")
