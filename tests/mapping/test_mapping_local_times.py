"""Zone-less local times across daylight-saving changes: a mapping's `local_times:` policy for a repeated and a
skipped wall-clock time (Europe/Berlin and America/New_York), checked at load, and the notes the flows put in
the lineage."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest
from support.systems import reference_with, system

from streams.catalog.model import Catalog, Column
from streams.mapping import MappingLoadError, MappingValueError, RecordMapping, load_mapping
from streams.mapping.compiled import plan_of
from streams.mapping.kinds import fits, from_avro, from_column
from streams.mapping.loader import default_tables
from streams.mapping.local_times import (
    DEFAULT,
    LocalTimeNote,
    LocalTimePolicy,
    Occurrence,
    Sibling,
    resolve,
)
from streams.mapping.transforms import Context, LocalToUtcStep

UTC = dt.UTC
BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
# The repeated and the skipped hour of 2024: Berlin falls back 03:00 CEST -> 02:00 CET on 27 October and
# springs 02:00 CET -> 03:00 CEST on 31 March; New York 02:00 EDT -> 01:00 EST on 3 November, 02:00 EST ->
# 03:00 EDT on 10 March.
BERLIN_REPEATED, BERLIN_SKIPPED = dt.datetime(2024, 10, 27, 2, 30), dt.datetime(2024, 3, 31, 2, 30)
NY_REPEATED, NY_SKIPPED = dt.datetime(2024, 11, 3, 1, 30), dt.datetime(2024, 3, 10, 2, 30)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


LATER = LocalTimePolicy(repeated=Occurrence.LATER)


def by(column: str, means: str, otherwise: Occurrence = Occurrence.EARLIER) -> LocalTimePolicy:
    return LocalTimePolicy(repeated=otherwise, decided_by=Sibling(column=column, means=means))  # type: ignore[arg-type]


@pytest.mark.parametrize(("local", "zone", "policy", "row", "expected", "resolution"), [
    # repeated: the first pass is summer time
    (BERLIN_REPEATED, BERLIN, DEFAULT, {}, utc(2024, 10, 27, 0, 30), "earlier"),
    (BERLIN_REPEATED, BERLIN, LATER, {}, utc(2024, 10, 27, 1, 30), "later"),
    (NY_REPEATED, NEW_YORK, DEFAULT, {}, utc(2024, 11, 3, 5, 30), "earlier"),
    (NY_REPEATED, NEW_YORK, LATER, {}, utc(2024, 11, 3, 6, 30), "later"),
    # a sibling offset, in minutes east of UTC or as text
    (BERLIN_REPEATED, BERLIN, by("tz", "offset"), {"tz": 60}, utc(2024, 10, 27, 1, 30), "offset tz: later"),
    (BERLIN_REPEATED, BERLIN, by("tz", "offset"), {"tz": "+02:00"}, utc(2024, 10, 27, 0, 30), "offset tz: earlier"),
    (NY_REPEATED, NEW_YORK, by("tz", "offset"), {"tz": "-0500"}, utc(2024, 11, 3, 6, 30), "offset tz: later"),
    (NY_REPEATED, NEW_YORK, by("tz", "offset"), {"tz": -240}, utc(2024, 11, 3, 5, 30), "offset tz: earlier"),
    # a sibling that decides nothing falls back to `otherwise`
    (NY_REPEATED, NEW_YORK, by("tz", "offset", Occurrence.LATER), {"tz": None}, utc(2024, 11, 3, 6, 30),
     "offset tz decided nothing (None), otherwise: later"),
    (NY_REPEATED, NEW_YORK, by("tz", "offset"), {"tz": "+01:00"}, utc(2024, 11, 3, 5, 30),
     "offset tz decided nothing ('+01:00'), otherwise: earlier"),
    # a sibling instant: the occurrence nearer to it
    (NY_REPEATED, NEW_YORK, by("at", "instant"), {"at": utc(2024, 11, 3, 6, 31, 5)}, utc(2024, 11, 3, 6, 30),
     "instant at: later"),
    (BERLIN_REPEATED, BERLIN, by("at", "instant", Occurrence.LATER), {"at": utc(2024, 10, 27, 0, 29)},
     utc(2024, 10, 27, 0, 30), "instant at: earlier"),
    (BERLIN_REPEATED, BERLIN, by("at", "instant", Occurrence.LATER), {"at": utc(2024, 10, 27, 1, 0)},
     utc(2024, 10, 27, 1, 30), "instant at decided nothing (datetime.datetime(2024, 10, 27, 1, 0, "
                               "tzinfo=datetime.timezone.utc)), otherwise: later"),
    # skipped: the wall clock plus the gap, whatever decides a repeated time
    (BERLIN_SKIPPED, BERLIN, DEFAULT, {}, utc(2024, 3, 31, 1, 30), "shift_forward 1:00:00"),   # 03:30 CEST
    (NY_SKIPPED, NEW_YORK, LATER, {}, utc(2024, 3, 10, 7, 30), "shift_forward 1:00:00"),       # 03:30 EDT
    (NY_SKIPPED, NEW_YORK, by("tz", "offset"), {"tz": -240}, utc(2024, 3, 10, 7, 30), "shift_forward 1:00:00"),
])
def test_each_policy_resolves_a_repeated_or_skipped_time(local: dt.datetime, zone: str, policy: LocalTimePolicy,
                                                         row: dict[str, Any], expected: dt.datetime,
                                                         resolution: str) -> None:
    resolved = resolve(local, zone, policy, row)
    assert (resolved.utc, resolved.resolution) == (expected, resolution)
    assert resolved.case == ("skipped" if local in (BERLIN_SKIPPED, NY_SKIPPED) else "repeated")


def test_an_ordinary_time_is_not_noted() -> None:
    resolved = resolve(dt.datetime(2024, 10, 27, 3, 30), BERLIN, DEFAULT)
    assert (resolved.utc, resolved.case) == (utc(2024, 10, 27, 2, 30), None)


def test_times_after_a_shift_keep_their_order_and_the_skipped_ones_land_after_the_gap() -> None:
    before, skipped, after = (dt.datetime(2024, 3, 10, 1, 59), dt.datetime(2024, 3, 10, 2, 15),
                              dt.datetime(2024, 3, 10, 3, 16))
    times = [resolve(t, NEW_YORK, DEFAULT).utc for t in (before, skipped, after)]
    assert times == sorted(times) and times[1] == utc(2024, 3, 10, 7, 15)


ORDERS = """
target: isthmus.canonical.ErpSalesOrder
key: erp_order_id
owner: erp
policy: owner_wins
{policy}
sources:
  erp_sales_orders:
    system: {system}
    table: sales_orders
    fields:
      erp_order_id: order_id
      erp_order_no: order_no
      erp_account_id: account_id
      status: {{from: status, transform: [{{map: {{values: {{reserved: reserved}}, default: shipped}}}}]}}
      currency: currency
      total_amount: total_amount
      ordered_at: {{from: order_date, transform: [{step}]}}
"""


@pytest.fixture
def shop(write_mapping: Callable[[str], Any], schemas: Any) -> Callable[..., RecordMapping]:
    """Load ``ORDERS`` over the system ``shop`` (zone New York), whose sales_orders are the ERP's plus a
    ``utc_offset`` (minutes) and a zoned ``created_at``."""
    erp = default_tables()["erp"].tables["sales_orders"]
    columns = {**erp.columns, "utc_offset": Column(name="utc_offset", sql_type="INT"),
               "created_at": Column(name="created_at", sql_type="TIMESTAMP", args=("6",))}
    table = dataclasses.replace(erp, columns=MappingProxyType(columns))
    tables = {**default_tables(), "shop": Catalog(system="shop", engine="mariadb", namespace="shop",
                                                  tables=MappingProxyType({"sales_orders": table}))}
    systems = reference_with(system("shop", time_zone=NEW_YORK))

    def loaded(policy: str = "", step: str = "local_to_utc") -> RecordMapping:
        path = write_mapping(ORDERS.format(policy=policy, step=step, system="shop"))
        return load_mapping(path, schemas=schemas, tables=tables, systems=systems)

    return loaded


ROW = {"order_id": 7, "order_no": "SO7", "account_id": 3, "status": "reserved", "currency": "USD",
       "total_amount": 10, "order_date": NY_REPEATED, "utc_offset": -300, "created_at": None}


def _map(mapping: RecordMapping, row: dict[str, Any], schemas: Any) -> tuple[dict[str, Any], list[LocalTimeNote]]:
    notes: list[LocalTimeNote] = []
    context = Context(time_zones={"shop": NEW_YORK}, notes=notes).reading("shop")
    return plan_of(mapping, schemas.named).sources[id(mapping.sources[0])][1].map_row(row, context), notes


def test_the_files_policy_decides_by_a_sibling_column_and_notes_the_field(shop: Callable[..., RecordMapping],
                                                                          schemas: Any) -> None:
    mapping = shop("local_times: {repeated: {offset: utc_offset, otherwise: earlier}, skipped: shift_forward}")
    values, notes = _map(mapping, ROW, schemas)
    assert values["ordered_at"] == utc(2024, 11, 3, 6, 30)  # -300 minutes: EST, the second pass
    assert notes == [LocalTimeNote(field="ordered_at", local=NY_REPEATED, zone=NEW_YORK, case="repeated",
                                   resolution="offset utc_offset: later", utc=utc(2024, 11, 3, 6, 30))]
    values, notes = _map(mapping, {**ROW, "order_date": dt.datetime(2024, 11, 3, 3, 0)}, schemas)
    assert values["ordered_at"] == utc(2024, 11, 3, 8, 0) and notes == []


def test_without_a_declared_policy_a_repeated_time_is_its_earlier_instant_never_an_error(
        shop: Callable[..., RecordMapping], schemas: Any) -> None:
    values, notes = _map(shop(), ROW, schemas)
    assert values["ordered_at"] == utc(2024, 11, 3, 5, 30) and notes[0].resolution == "earlier"
    values, _ = _map(shop(), {**ROW, "order_date": NY_SKIPPED}, schemas)
    assert values["ordered_at"] == utc(2024, 3, 10, 7, 30)


def test_a_steps_own_choice_overrides_the_file_and_raise_still_refuses(shop: Callable[..., RecordMapping],
                                                                       schemas: Any) -> None:
    file_policy = "local_times: {repeated: {instant: created_at}}"
    values, notes = _map(shop(file_policy, "{local_to_utc: {ambiguous: latest}}"), ROW, schemas)
    assert values["ordered_at"] == utc(2024, 11, 3, 6, 30) and notes[0].resolution == "later"
    refusing = shop(file_policy, "{local_to_utc: {ambiguous: raise}}")
    with pytest.raises(MappingValueError, match=r"ordered_at: 2024-11-03T01:30:00 happened twice in America/New_York"):
        _map(refusing, ROW, schemas)
    values, _ = _map(refusing, {**ROW, "order_date": NY_SKIPPED}, schemas)  # it refuses only what it says
    assert values["ordered_at"] == utc(2024, 3, 10, 7, 30)


@pytest.mark.parametrize(("policy", "field", "message", "fix"), [
    ("local_times: {repeated: {offset: tz}}", "local_times.repeated.offset",
     "'tz' is not a column of shop.sales_orders", "utc_offset"),
    ("local_times: {repeated: {instant: order_no}}", "local_times.repeated.instant",
     "'order_no' of shop.sales_orders (shop.columns.yaml) is string", "name a column that holds one"),
    ("local_times: {repeated: {offset: created_at}}", "local_times.repeated.offset",
     "not a UTC offset", "repeated: earlier"),
    ("local_times: {repeated: first}", "local_times.repeated", "'first' is not a policy for a repeated time",
     "`repeated: earlier`, `later`"),
    ("local_times: {repeated: {offset: utc_offset, otherwise: never}}", "local_times.repeated.otherwise",
     "'never' is not earlier or later", "otherwise: earlier"),
    ("local_times: {skipped: raise}", "local_times.skipped", "'raise' is not a policy for a skipped time",
     "skipped: shift_forward"),
    ("local_times: {ambiguous: earlier}", "local_times.ambiguous", "unknown key 'ambiguous'", "repeated:"),
    ("local_times: earlier", "local_times", "is a mapping of `repeated` and `skipped`", "repeated:"),
])
def test_a_bad_policy_is_refused_at_load_with_file_line_field_and_fix(shop: Callable[..., RecordMapping],
                                                                      policy: str, field: str, message: str,
                                                                      fix: str) -> None:
    with pytest.raises(MappingLoadError) as caught:
        shop(policy)
    (problem,) = caught.value.problems
    assert problem.file.suffix == ".yaml" and problem.line == 5 and problem.field == field
    assert message in problem.message and fix in problem.fix


def test_the_shipped_mappings_declare_a_policy_for_every_local_time(mappings: dict[str, RecordMapping]) -> None:
    steps = [step for m in mappings.values() for s in m.sources for b in s.bindings.values() for step in b.steps
             if isinstance(step, LocalToUtcStep)]
    assert len(steps) >= 5
    assert all(step.policy.line > 0 and step.field for step in steps)


def test_a_local_time_field_takes_a_zone_less_time_and_names_utc_to_local_for_a_utc_one() -> None:
    """A ``local-timestamp-*`` field (a zone-less target column's wall-clock time): a DATETIME fills it as it is; a
    UTC time is refused at load, with the transform that says which zone's wall clock it shows."""
    field = from_avro({"type": "long", "logicalType": "local-timestamp-micros"}, {})
    assert fits(from_column(Column(name="c", sql_type="DATETIME", nullable=False), "mariadb"), field) is None
    assert fits(from_avro({"type": "long", "logicalType": "timestamp-micros"}, {}), field) == (
        "a UTC timestamp cannot fill a zone-less local time: which zone's wall clock it shows is not said",
        "add the transform `utc_to_local: {zone: <IANA name>}` (a source of a system may leave the zone out: the "
        "`time_zone` of its systems/<name>.yaml)")
