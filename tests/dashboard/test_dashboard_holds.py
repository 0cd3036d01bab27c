"""The dashboard's held documents: the keys whose latest Hold record says held."""

from __future__ import annotations

from streams.dashboard.sources import held_now


def test_only_keys_whose_latest_hold_record_is_held_are_shown() -> None:
    newest_first = [{"key": "SO-2", "value": {"state": "released"}}, {"key": "SO-1", "value": {"state": "held"}},
                    {"key": "SO-2", "value": {"state": "held"}}, {"key": "SO-1", "value": {"state": "released"}}]
    assert [r["key"] for r in held_now(newest_first)] == ["SO-1"]
