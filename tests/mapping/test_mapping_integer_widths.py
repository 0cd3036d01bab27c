"""An integer column fills an Avro integer only where every value of its type fits: a signed BIGINT (PostgreSQL's
int8) up to 9223372036854775807 needs a ``long``, not an ``int``, and a whole DECIMAL/NUMERIC of more digits than
the field holds does not fit it either. ``isthmus mappings validate`` names each such binding with the fix (once it
said nothing, and every value over 2147483647 was dead-lettered at run time)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.catalog.model import Column
from streams.cli.main import main
from streams.codecs.avro.schemas import SCHEMAS_DIR_ENV
from streams.mapping.kinds import fits, from_avro, from_column

pytestmark = pytest.mark.unit

AVRO_INT, AVRO_LONG = from_avro(["null", "int"], {}), from_avro(["null", "long"], {})
DECIMAL_20 = from_avro(["null", {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 0}], {})


@pytest.mark.parametrize(("engine", "sql_type", "args", "unsigned", "fits_int", "fits_long"), [
    ("mariadb", "TINYINT", (), False, True, True),
    ("mariadb", "SMALLINT", (), False, True, True),
    ("mariadb", "MEDIUMINT", (), False, True, True),
    ("mariadb", "INT", (), False, True, True),
    ("mariadb", "BIGINT", (), False, False, True),
    ("mariadb", "SMALLINT", (), True, True, True),
    ("mariadb", "MEDIUMINT", (), True, True, True),
    ("mariadb", "INT", (), True, False, True),
    ("mariadb", "BIGINT", (), True, False, False),
    ("postgresql", "SMALLINT", (), False, True, True),
    ("postgresql", "INTEGER", (), False, True, True),
    ("postgresql", "BIGINT", (), False, False, True),
    ("postgresql", "INT2", (), False, True, True),
    ("postgresql", "INT4", (), False, True, True),
    ("postgresql", "INT8", (), False, False, True),
    ("postgresql", "BIGSERIAL", (), False, False, True),
    ("postgresql", "INTERVAL", (), False, False, True),
    # whole decimals: MariaDB's bare DECIMAL is DECIMAL(10,0)
    ("mariadb", "DECIMAL", (), False, False, True),
    ("mariadb", "DECIMAL", ("9",), False, True, True),
    ("postgresql", "NUMERIC", ("9", "0"), False, True, True),
    ("postgresql", "NUMERIC", ("12",), False, False, True),
    ("postgresql", "NUMERIC", ("18", "0"), False, False, True),
    ("postgresql", "NUMERIC", ("19",), False, False, False),
])
def test_every_integer_width_is_checked_against_its_field(engine: str, sql_type: str, args: tuple[str, ...],
                                                          unsigned: bool, fits_int: bool, fits_long: bool) -> None:
    kind = from_column(Column(name="c", sql_type=sql_type, args=args, unsigned=unsigned), engine)
    assert (fits(kind, AVRO_INT) is None, fits(kind, AVRO_LONG) is None) == (fits_int, fits_long)


def test_a_signed_bigint_into_an_int_says_to_make_it_a_long() -> None:
    message, fix = fits(from_column(Column(name="c", sql_type="BIGINT"), "mariadb"), AVRO_INT) or ("", "")
    assert message == "a BIGINT value (up to 9223372036854775807) does not fit an Avro int (at most 2147483647)"
    assert fix.startswith("make the field a `long` in the schema, or, where the column's values stay within")
    assert "`transform: [int]`" in fix


def test_a_whole_decimal_too_wide_for_a_long_says_to_make_it_a_decimal() -> None:
    kind = from_column(Column(name="c", sql_type="NUMERIC", args=("19",)), "postgresql")
    message, fix = fits(kind, AVRO_LONG) or ("", "")
    assert message == ("a decimal of 19 digits (up to 9999999999999999999) does not fit an Avro long (at most "
                       "9223372036854775807)")
    assert "make the field a decimal (`{type: bytes, logicalType: decimal, precision: 19, scale: 0}`)" in fix
    assert fits(from_column(Column(name="c", sql_type="NUMERIC", args=("20",)), "postgresql"), DECIMAL_20) is None


def test_a_postgres_numeric_without_precision_into_an_int_names_its_range_too() -> None:
    message, fix = fits(from_column(Column(name="c", sql_type="NUMERIC"), "postgresql"), AVRO_LONG) or ("", "")
    assert message.startswith("a decimal with any number of digits and decimals")
    assert "one over 9223372036854775807 does not fit an Avro long at all" in message
    assert fix.startswith("add the transform `decimal: {scale: 0, rounding: half_even}`") and "decimal (" in fix


JOB = {"type": "record", "name": "Job", "namespace": "fieldwork.canonical", "fields": [
    {"name": "job_code", "type": "string"},
    {"name": "visits", "type": ["null", "int"], "default": None},
    {"name": "crew", "type": ["null", "int"], "default": None},
    {"name": "budget", "type": ["null", "long"], "default": None}]}


def _system(systems: Path, name: str, engine: str, columns: str) -> None:
    connectors = systems.parent / "connect-configs" / "connectors"
    connectors.mkdir(parents=True, exist_ok=True)
    (connectors / f"{name}-source.yaml").write_text(f"name: {name}-source\nconfig: {{topic.prefix: {name}}}\n",
                                                    encoding="utf-8")
    (systems / f"{name}.yaml").write_text(
        f"engine: {engine}\nconnector: {name}-source\ntopics: {{prefix: {name}, namespace: {name}}}\n",
        encoding="utf-8")
    (systems / f"{name}.columns.yaml").write_text(
        f"system: {name}\nengine: {engine}\nnamespace: {name}\ntables:\n  jobs:\n    primary_key: [code]\n"
        f"    columns:\n      code: {{type: VARCHAR, args: [20], nullable: false}}\n{columns}", encoding="utf-8")


def test_validate_names_a_signed_bigint_bound_to_an_int_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The user's case: a MariaDB ``visits BIGINT`` (and a PostgreSQL int8 and NUMERIC(12)) bound to Avro ``int``
    and ``long`` fields of one's own record, which `validate` called valid."""
    systems, schemas, mappings = tmp_path / "systems", tmp_path / "schemas", tmp_path / "mappings"
    for folder in (systems, schemas, mappings):
        folder.mkdir()
    _system(systems, "depot", "mariadb", "      visits: {type: BIGINT, nullable: false}\n"
                                         "      crew: {type: SMALLINT}\n")
    _system(systems, "roster", "postgresql", "      visits: {type: BIGINT}\n      crew: {type: INTEGER}\n"
                                             "      budget: {type: NUMERIC, args: [12]}\n")
    (schemas / "job.avsc").write_text(json.dumps(JOB), encoding="utf-8")
    (mappings / "job.yaml").write_text(
        "target: fieldwork.canonical.Job\nkey: job_code\nowner: depot\npolicy: owner_wins\nsources:\n"
        "  depot_jobs:\n    system: depot\n    table: jobs\n    fields: {job_code: code, visits: visits, crew: crew}\n"
        "  roster_jobs:\n    system: roster\n    table: jobs\n"
        "    fields: {job_code: code, visits: visits, crew: crew, budget: budget}\n", encoding="utf-8")
    monkeypatch.setenv("ISTHMUS_SYSTEMS_DIR", str(systems))
    monkeypatch.setenv(SCHEMAS_DIR_ENV, str(schemas))
    assert main(["mappings", "validate", "--dir", str(mappings)]) == 1
    out = capsys.readouterr().out
    job = mappings / "job.yaml"
    assert (f"{job}:9: sources.depot_jobs.fields.visits: a BIGINT value (up to 9223372036854775807) does not fit an "
            "Avro int (at most 2147483647); fix: make the field a `long` in the schema") in out
    assert f"{job}:13: sources.roster_jobs.fields.visits: a BIGINT value (up to" in out
    # the SMALLINT and INTEGER crews fit their int; the NUMERIC(12) budget fits its long
    assert out.count("does not fit") == 2 and "2 problems in the mapping files" in out
