"""A target that rewrites text it stores, declared with the ``replace`` transform in ``systems.<s>.keeps`` (a new
user's trial: a ticket shop keeps phones in E.164, ``+49 30 0000125`` as ``+49300000125``; no transform removed inner
spaces, so the form could not be declared: the echo of a create left the two systems different with a log line only,
and the echo of an update was taken for the shop's own edit and written back into the CRM by its later commit).

On a made-up pair (tests/flows/customers/box_office/): members of a club's register (``club``, MariaDB) and customers
of its ticket shop (``box``, PostgreSQL), born in either, both ways, the later commit winning. The shop keeps the
name inside a jsonb column (``name_parts``, read with ``parse_json: {path: full_name}``) and declares
``keeps: {phone: [{replace: {pattern: '\\s+', with: ''}}]}``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent
from made_up_run import MadeUpRun, MadeUpTable, made_up_flow

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, sync
from streams.systems import Engine

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "box_office"
KEEPS = "      keeps:\n        phone: [{replace: {pattern: '\\s+', with: ''}}]\n"
T0 = dt.datetime(2026, 12, 7, 18, 40, tzinfo=dt.UTC)
KEY = "member0125@club.test"
TABLES = {
    "member": MadeUpTable(system="club", key=("member_no",), engine=Engine.MARIADB, namespace="club", columns={
        "member_no": ("INT", "int32"), "email": ("VARCHAR", "string"), "full_name": ("VARCHAR", "string"),
        "phone": ("VARCHAR", "string")}),
    "customer": MadeUpTable(system="box", key=("id",), engine=Engine.POSTGRESQL, namespace="box", columns={
        "id": ("BIGINT", "int64"), "email": ("TEXT", "string"), "name_parts": ("JSONB", "string"),
        "phone": ("TEXT", "string")}, names={"name_parts": "io.debezium.data.Json"}),
}


def _folder(tmp_path: Path, keeps: str = KEEPS) -> Path:
    """A copy of the pair's folder, its ``keeps`` replaced by ``keeps``."""
    folder = tmp_path / "box_office"
    shutil.copytree(HERE, folder)
    flow = folder / "flows" / "box_office.yaml"
    text = flow.read_text(encoding="utf-8")
    assert text.count(KEEPS) == 1
    flow.write_text(text.replace(KEEPS, keeps), encoding="utf-8")
    return folder


class BoxOffice(MadeUpRun):
    def __init__(self, schemas: SchemaStore, folder: Path) -> None:
        mappings, systems, self.config = made_up_flow(schemas, folder, TABLES, required=("email",))
        super().__init__(schemas, systems, CustomerFlow(mappings=mappings, schemas=schemas, systems=systems,
                                                        config=self.config, clock=lambda: T0),
                         start=T0, published_to="test.canonical.box_office", tables=TABLES)


def member(phone: str, name: str = "Anna Berg") -> dict[str, Any]:
    return {"member_no": 125, "email": "Member0125@Club.TEST", "full_name": name, "phone": phone}


def customer(sent: Sent | None = None, **values: Any) -> dict[str, Any]:
    """The shop's row as it stores what ``sent`` carried (``values`` over it): the name inside its jsonb column, the
    phone in E.164 (its spaces dropped)."""
    payload = sent.payload if sent is not None else {}
    row = {"id": 9125, "email": payload.get("email"), "name": payload.get("name"), "phone": payload.get("phone"),
           **values}
    name = row.pop("name")
    phone = row["phone"]
    return {**row, "name_parts": json.dumps({"_scheme": "full", "full_name": name}),
            "phone": None if phone is None else "".join(phone.split())}


@pytest.fixture(autouse=True)
def _nothing_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts in a process that has said nothing yet (the flow says some things once per process)."""
    monkeypatch.setattr(sync, "_SAID", set())
    monkeypatch.setattr(sync, "_FORMS", {})


def _created(run: BoxOffice) -> tuple[Sent, dict[str, Any]]:
    """Member 125 made in the club, created in the shop; the shop's row (the create's echo) and what it caused."""
    (create,) = run.feed(run.change("member", "c", after=member("+49 30 0000125")))
    assert (create.record["target"], create.record["operation"]) == ("box", "create")
    assert create.payload["phone"] == "+49 30 0000125"
    row = customer(create)
    assert row["phone"] == "+49300000125"
    return create, row


def _phones_said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reported phone" in r.getMessage()]


def test_the_shops_e164_echoes_of_a_create_and_an_update_are_no_edit_and_send_nothing(
        schemas: SchemaStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = BoxOffice(schemas, _folder(tmp_path))
    with caplog.at_level(logging.WARNING, logger=sync.__name__):
        _, row = _created(run)
        assert run.feed(run.change("customer", "c", after=row)) == []
        # the update the trial saw written back into the CRM as the shop's edit (its echo committed later)
        before, after = member("+49 30 0000125"), member("+49 30 0000025", name="Anna Berg-Ost")
        (update,) = run.feed(run.change("member", "u", before=before, after=after))
        assert (update.record["target"], update.changed) == ("box", ("name", "phone"))
        echoed = customer(update)
        assert echoed["phone"] == "+49300000025"
        assert run.feed(run.change("customer", "u", before=row, after=echoed)) == []
        # the club writes a phone the shop holds already, in its form: no difference, nothing sent
        same = member("+4930 000 0025", name="Anna Berg-Ost")
        assert run.feed(run.change("member", "u", before=after, after=same)) == []
    assert _phones_said(caplog) == [] and run.conflicts() == [] and run.dead_letters == []
    published = run.published(KEY)
    assert (published["phone"], published["name"]) == ("+4930 000 0025", "Anna Berg-Ost"), "the club's full value"


def test_a_phone_edited_in_the_shop_is_still_an_edit_and_written_into_the_club(
        schemas: SchemaStore, tmp_path: Path) -> None:
    run = BoxOffice(schemas, _folder(tmp_path))
    _, row = _created(run)
    assert run.feed(run.change("customer", "c", after=row)) == []
    edited = {**row, "phone": "+494011112222"}
    (back,) = run.feed(run.change("customer", "u", before=row, after=edited))
    assert (back.record["target"], back.changed, back.payload["phone"]) == ("club", ("phone",), "+494011112222")
    assert run.published(KEY)["phone"] == "+494011112222"
    (conflict,) = run.conflicts()  # the owner's value lost to the later commit: audited
    assert (conflict["field"], conflict["winner"], conflict["rule"]) == ("phone", "box", "later_commit")


def test_without_keeps_the_echo_of_an_update_is_taken_for_the_shops_edit_and_written_back(
        schemas: SchemaStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What the trial saw, and why the form must be declared: the club's phone rewritten by the shop's echo."""
    run = BoxOffice(schemas, _folder(tmp_path, keeps=""))
    with caplog.at_level(logging.WARNING, logger=sync.__name__):
        _, row = _created(run)
        run.feed(run.change("customer", "c", after=row))
        before, after = member("+49 30 0000125"), member("+49 30 0000025")
        (update,) = run.feed(run.change("member", "u", before=before, after=after))
        sent = run.feed(run.change("customer", "u", before=row, after=customer(update)))
    assert [(s.record["target"], s.changed, s.payload["phone"]) for s in sent if s.record["target"] == "club"] == [
        ("club", ("phone",), "+49300000025")]
    assert [(c["field"], c["winner"], c["rule"]) for c in run.conflicts()] == [("phone", "box", "later_commit")]
    assert any("systems.box.keeps" in said for said in _phones_said(caplog))


def test_the_form_is_compiled_at_load_and_keeps_a_null(schemas: SchemaStore, tmp_path: Path) -> None:
    kept = BoxOffice(schemas, _folder(tmp_path)).config.written["box"].keeps["phone"]
    assert kept.view("+49 30 0000125") == "+49300000125" == kept.view("+49300000125")
    assert kept.view(" +49\t30 0000125 ") == "+49300000125" and kept.view(None) is None
