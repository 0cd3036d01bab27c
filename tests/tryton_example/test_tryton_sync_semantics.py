"""Issue 15's sync semantics on Tryton, a system no issue names, tried as a new user would: raw SQL into the CRM's
database and into Tryton's (``party_party``, ``party_contact_mechanism``), synced by the files of
``examples/tryton/`` alone, by a worker and two sinks of this run's own (the example's flow under a flow name of
its own, its groups and the sinks' started at the end of what they read, as test_hostile_sync.py's fleet), so
that other runs on the shared stack neither disturb it nor are disturbed.

What it writes, each case a customer number of its own (the example's range ``C-802``):
- null is a value: a CRM customer's e-mail and phone set to NULL (Tryton's mechanisms stay: the flow file declares
  them ``cannot_clear``, and the difference is on isthmus.audit.conflicts, once per field); a Tryton e-mail
  mechanism deleted and a phone mechanism archived (the CRM's are cleared, and nothing is audited: Tryton holds
  the null itself), that e-mail then set again in the CRM (Tryton gets it again); a CRM e-mail cleared and set
  again;
- net effect per transaction: a customer inserted, updated and deleted in one CRM transaction, and a party in one
  Tryton transaction (nothing reaches the other system, no command names them); several updates of a CRM
  customer in one transaction (one command, the last name);
- delete then re-create of the same number in one CRM transaction (the party keeps its one row, active, renamed);
- non-Latin names: Greek, Arabic and Chinese from the CRM, Chinese from Tryton;
- same-second edits: a CRM rename, then a Tryton rename of the same party microseconds later (both PostgreSQL):
  Tryton's, the later commit, wins in both; and the other way round, the CRM's wins;
- values the CRM refuses: a party born in Tryton with a code in the range that is no CRM customer number, one
  born without a name, and a linked party's name cleared (the example's mapping makes a null name ``""``): each
  a dead letter with the CRM's 422 naming the field, and nothing else dead-lettered.
Then a fixed point: no command for a quiet period, and each system as expected by its own SQL.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kafka import TopicPartition
from psycopg.rows import dict_row
from support.flows import start_at_end
from support.pipeline import pipeline
from support.topics import Record, TopicReader, end_offsets, raw, topic_names
from support.waiting import eventually, quiet
from tryton_example.test_tryton_integration import sink_urls

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.files import FLOWS_DIR_ENV
from streams.flows.topics import AUDIT_CONFLICTS, DLQ_TOPIC, command_topic

if TYPE_CHECKING:
    from tryton_example.conftest import TrytonExample

pytestmark = pytest.mark.integration

CRM, ERP = "refcrm", "tryton"
WAIT_S = 120.0
#: Names no ASCII-only path survives: Greek, Arabic, Chinese.
NON_LATIN = ("Ελληνική Εμπορική Α.Ε.", "شركة الخليج للتجارة", "上海测试贸易有限公司")  # noqa: RUF001 (Greek on purpose)
INSERT_CUSTOMER = "INSERT INTO crm.customers (customer_number, name, email, phone) VALUES (%s, %s, %s, %s)"


def _own_flows(example: TrytonExample, folder: Path, tag: str) -> tuple[dict[str, str], dict[str, str]]:
    """The example's flow file under a flow name of this run, its groups and the sinks' started at the end of what
    they read. Returns the worker's environment and each sink's."""
    bootstrap = example.stack.settings.bootstrap_servers
    folder.mkdir()
    source = Path(example.env[FLOWS_DIR_ENV])
    names = []
    for path in sorted(source.glob("*.yaml")):
        lines = [f"name: {line.removeprefix('name: ')}-{tag}" if line.startswith("name: ") else line
                 for line in path.read_text(encoding="utf-8").splitlines()]
        names += [line.removeprefix("name: ") for line in lines if line.startswith("name: ")]
        (folder / path.name).write_text("\n".join([*lines, ""]), encoding="utf-8")
    topics = sorted(t for t in topic_names(bootstrap) if t.startswith(("crm.", "tryton.", "isthmus.results.")))
    data = [t for t in topics if not t.endswith(".transaction")]
    for name in names:
        for group in (name, f"{name}-results-keying", f"{name}-keying"):
            start_at_end(bootstrap, group, data)  # data first, the transaction topics last
            start_at_end(bootstrap, group, [t for t in topics if t.endswith(".transaction")])
    worker = {**example.env, FLOWS_DIR_ENV: str(folder), "ISTHMUS_WORKER_ID": f"trial-{tag}",
              "ISTHMUS_WORKER_FLOWS": ",".join(names), "ISTHMUS_RESYNC_AT": "off"}
    sinks = {}
    for system in (CRM, ERP):
        group = f"trial-sink-{system}-{tag}"
        start_at_end(bootstrap, group, [command_topic(system)])
        sinks[system] = {**example.env, "ISTHMUS_SINK_GROUP_ID": group, "ISTHMUS_SINK_TRANSACTIONAL_ID": group}
    for system, url in sink_urls(example).items():
        sinks[system]["ISTHMUS_SINK_BASE_URL"] = url
    return worker, sinks


@pytest.fixture
def fleet(tryton_example: TrytonExample, tmp_path: Path) -> Iterator[Path]:
    worker, sinks = _own_flows(tryton_example, tmp_path / "flows", uuid.uuid4().hex[:6])
    settings = tryton_example.stack.settings
    with pipeline(host=settings.host, worker_env=worker, sinks=sinks, logs=tmp_path) as logs:
        yield logs


class Db:
    """Raw SQL into the CRM's database and Tryton's, each call's statements in one transaction."""

    def __init__(self, example: TrytonExample) -> None:
        self.stack = example.stack
        self.tryton_db = example.stack.settings.tryton_db_name

    def _run(self, dbname: str | None, statements: tuple[tuple[str, tuple[Any, ...]], ...]) -> None:
        kwargs = {} if dbname is None else {"dbname": dbname}
        with self.stack.connect_crm(**kwargs) as conn, conn.transaction():
            for sql, params in statements:
                conn.execute(sql, params)

    def crm(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        self._run(None, statements)

    def tryton(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        self._run(self.tryton_db, statements)

    def rows(self, dbname: str | None, sql: str, *params: Any) -> list[dict[str, Any]]:
        kwargs = {} if dbname is None else {"dbname": dbname}
        with self.stack.connect_crm(autocommit=True, row_factory=dict_row, **kwargs) as conn:
            return conn.execute(sql, params).fetchall()

    def customer(self, number: str) -> dict[str, Any] | None:
        found = self.rows(None, "SELECT id, name, email, phone FROM crm.customers WHERE customer_number = %s", number)
        return found[0] if found else None

    def parties(self, code: str) -> list[dict[str, Any]]:
        return self.rows(self.tryton_db, "SELECT id, name, active FROM party_party WHERE code = %s ORDER BY id", code)

    def mechanisms(self, code: str) -> dict[str, str]:
        rows = self.rows(self.tryton_db, "SELECT m.type, m.value FROM party_contact_mechanism m JOIN party_party p "
                         "ON p.id = m.party WHERE p.code = %s AND m.active ORDER BY m.id DESC", code)
        return {row["type"]: row["value"] for row in rows}


def _party(code: str, name: str, **fields: Any) -> tuple[str, tuple[Any, ...]]:
    """A party as Tryton's create leaves it, by raw SQL (Tryton's own code_alnum/code_digit are search helpers)."""
    return ("INSERT INTO party_party (code, name, active, create_uid, create_date) VALUES (%s, %s, %s, 1, now())",
            (code, name, fields.get("active", True)))


def _mechanism(code: str, kind: str, value: str) -> tuple[str, tuple[Any, ...]]:
    return ("INSERT INTO party_contact_mechanism (party, type, value, active, create_uid, create_date) "
            "SELECT id, %s, %s, true, 1, now() FROM party_party WHERE code = %s", (kind, value, code))


def _since(bootstrap: str, start: Mapping[TopicPartition, int], topic: str) -> list[Record]:
    with TopicReader(bootstrap, [topic], raw, start=start) as reader:
        reader.to_end()
        return list(reader.seen)


def test_issue_15_semantics_hold_with_tryton_by_the_example_files(tryton_example: TrytonExample,
                                                                   fleet: Path) -> None:
    bootstrap = tryton_example.stack.settings.bootstrap_servers
    db = Db(tryton_example)
    run = f"{random.randrange(10**6):06d}"
    commands = (command_topic(CRM), command_topic(ERP))
    start = end_offsets(bootstrap, (*commands, AUDIT_CONFLICTS, DLQ_TOPIC))

    def number(n: int) -> str:
        return f"C-802{run}{n}"

    soon = functools.partial(eventually, logs=fleet, timeout=WAIT_S)

    nulls, born_null, ghost, ghost_party, many, phoenix, same_second = (number(n) for n in range(7))
    latin = [number(7 + n) for n in range(len(NON_LATIN))]
    chinese_party = number(len(NON_LATIN) + 7)
    refused, nameless, tryton_many, archived, reset, crm_last, nameless_born = (number(n) for n in range(11, 18))

    # Customers born in the CRM by raw SQL, one transaction each; and parties born in Tryton.
    for code, name in ((nulls, "Null Probe"), (many, "Many v0"), (phoenix, "Phoenix v1"),
                       (same_second, "Same v0"), (nameless, "Nameless"), (tryton_many, "Tryton Many v0"),
                       (archived, "Archived Phone"), (reset, "Reset"), (crm_last, "CRM Last v0"),
                       *zip(latin, NON_LATIN, strict=True)):
        db.crm((INSERT_CUSTOMER, (code, name, f"{code.lower()}@example.com", "+47 2200 0001")))
    db.tryton(_party(born_null, "Born Null"), _mechanism(born_null, "email", "born@example.com"))
    db.tryton(_party(chinese_party, "北京天坛贸易公司"))
    db.tryton(_party(f"{refused}X", "Refused Code"))  # the CRM takes digits only after C-
    db.tryton(_party(nameless_born, None))  # Tryton lets a party's name be empty, the CRM does not
    for code in (nulls, many, phoenix, same_second, nameless, tryton_many, archived, reset, crm_last, *latin):
        soon(f"party {code}", lambda code=code: db.parties(code))
    for code in (born_null, chinese_party):
        soon(f"customer {code}", lambda code=code: db.customer(code))
    soon("Tryton's e-mail reaches the CRM", lambda: (db.customer(born_null) or {}).get("email"))

    # Null is a value: set to NULL in the CRM (Tryton cannot clear a mechanism's value: declared, audited), and
    # a Tryton e-mail mechanism deleted (the CRM's e-mail is cleared).
    soon("the e-mail mechanism", lambda: db.mechanisms(nulls).get("email"))
    db.crm(("UPDATE crm.customers SET email = NULL, phone = NULL, version = version + 1 WHERE customer_number = %s",
            (nulls,)))
    db.tryton(("DELETE FROM party_contact_mechanism WHERE type = 'email' AND party IN "
               "(SELECT id FROM party_party WHERE code = %s)", (born_null,)))

    # ... a linked party's name cleared in Tryton (the CRM cannot take it: dead-lettered, see below), a phone
    # mechanism archived in Tryton (the CRM's phone is cleared), and a CRM e-mail cleared then set again.
    db.tryton(("UPDATE party_party SET name = NULL WHERE code = %s", (nameless,)))
    soon("the phone mechanism", lambda: db.mechanisms(archived).get("phone"))
    db.tryton(("UPDATE party_contact_mechanism SET active = false WHERE type = 'phone' AND party IN "
               "(SELECT id FROM party_party WHERE code = %s)", (archived,)))
    soon("the e-mail mechanism", lambda: db.mechanisms(reset).get("email"))
    db.crm(("UPDATE crm.customers SET email = NULL, version = version + 1 WHERE customer_number = %s", (reset,)))
    db.crm(("UPDATE crm.customers SET email = 'again@example.com', version = version + 1 "
            "WHERE customer_number = %s", (reset,)))

    # Net effect: inserted, updated and deleted in one transaction, on each side; several updates in one.
    db.crm((INSERT_CUSTOMER, (ghost, "Ghost", None, None)),
           ("UPDATE crm.customers SET name = 'Ghost 2' WHERE customer_number = %s", (ghost,)),
           ("DELETE FROM crm.customers WHERE customer_number = %s", (ghost,)))
    db.tryton(_party(ghost_party, "Ghost Party"),
              ("UPDATE party_party SET name = 'Ghost Party 2' WHERE code = %s", (ghost_party,)),
              ("DELETE FROM party_party WHERE code = %s", (ghost_party,)))
    db.crm(*(("UPDATE crm.customers SET name = %s, version = version + 1 WHERE customer_number = %s",
              (f"Many v{n}", many)) for n in range(1, 6)))

    db.tryton(*(("UPDATE party_party SET name = %s, write_date = now() WHERE code = %s",
                 (f"Tryton Many v{n}", tryton_many)) for n in range(1, 6)))

    # Delete then re-create of the same number, in one CRM transaction.
    db.crm(("DELETE FROM crm.customers WHERE customer_number = %s", (phoenix,)),
           (INSERT_CUSTOMER, (phoenix, "Phoenix v2", None, None)))

    # Same-second edits: the CRM's rename, then Tryton's on top of it, microseconds apart.
    db.crm(("UPDATE crm.customers SET name = 'Same CRM' WHERE customer_number = %s", (same_second,)))
    db.tryton(("UPDATE party_party SET name = 'Same Tryton', write_date = now() WHERE code = %s", (same_second,)))

    db.tryton(("UPDATE party_party SET name = 'Last Tryton', write_date = now() WHERE code = %s", (crm_last,)))
    db.crm(("UPDATE crm.customers SET name = 'Last CRM' WHERE customer_number = %s", (crm_last,)))

    born_email: list[str | None] = [None]  # the CRM's e-mail of born_null expected now

    def agreed() -> list[str]:
        problems = []
        if db.mechanisms(nulls).get("email") != f"{nulls.lower()}@example.com":
            problems.append(f"nulls: Tryton's mechanisms {db.mechanisms(nulls)}, expected kept (cannot_clear)")
        if (db.customer(born_null) or {}).get("email") != born_email[0]:
            problems.append(f"born_null: CRM {db.customer(born_null)}, expected e-mail {born_email[0]}")
        if db.customer(ghost) or db.parties(ghost) or db.customer(ghost_party) or db.parties(ghost_party):
            problems.append("ghosts: a customer or party made and deleted in one transaction exists")
        if [p["name"] for p in db.parties(many)] != ["Many v5"]:
            problems.append(f"many: Tryton {db.parties(many)}, expected one party named Many v5")
        if [(p["name"], p["active"]) for p in db.parties(phoenix)] != [("Phoenix v2", True)]:
            problems.append(f"phoenix: Tryton {db.parties(phoenix)}, expected one active party named Phoenix v2")
        crm_name = (db.customer(same_second) or {}).get("name")
        if ([p["name"] for p in db.parties(same_second)], crm_name) != (["Same Tryton"], "Same Tryton"):
            problems.append(f"same second: Tryton {db.parties(same_second)}, CRM {crm_name}; expected Tryton's")
        for code, name in zip(latin, NON_LATIN, strict=True):
            if [p["name"] for p in db.parties(code)] != [name]:
                problems.append(f"non-Latin: Tryton {db.parties(code)}, expected {name}")
        if (db.customer(chinese_party) or {}).get("name") != "北京天坛贸易公司":
            problems.append(f"non-Latin from Tryton: CRM {db.customer(chinese_party)}")
        if (db.customer(nameless) or {}).get("name") != "Nameless":
            problems.append(f"nameless: CRM {db.customer(nameless)}, expected its name kept (cannot_clear)")
        if (db.customer(archived) or {}).get("phone") is not None:
            problems.append(f"archived phone: CRM {db.customer(archived)}, expected its phone cleared")
        if db.mechanisms(reset).get("email") != "again@example.com":
            problems.append(f"reset: Tryton {db.mechanisms(reset)}, expected the e-mail set again")
        if (db.customer(tryton_many) or {}).get("name") != "Tryton Many v5":
            problems.append(f"tryton many: CRM {db.customer(tryton_many)}, expected Tryton Many v5")
        if ((db.customer(crm_last) or {}).get("name"), [p["name"] for p in db.parties(crm_last)]) != (
                "Last CRM", ["Last CRM"]):
            problems.append(f"crm last: CRM {db.customer(crm_last)}, Tryton {db.parties(crm_last)}; expected CRM's")
        return problems

    eventually("both systems to agree under the example's mappings", lambda: not agreed(), fleet, timeout=WAIT_S,
               context=lambda: "\n".join(agreed()))
    # The e-mail Tryton cleared, set again in the CRM to the value Tryton had: Tryton gets it again.
    db.crm(("UPDATE crm.customers SET email = 'born@example.com', version = version + 1 "
            "WHERE customer_number = %s", (born_null,)))
    born_email[0] = "born@example.com"
    soon("the e-mail set again reaches Tryton", lambda: db.mechanisms(born_null).get("email") == "born@example.com")
    quiet("the commands to stop coming", lambda: end_offsets(bootstrap, commands), settle=10, timeout=WAIT_S,
          every=1)
    assert not agreed()

    schemas = SchemaStore.from_directory()

    def since(topic: str) -> list[dict[str, Any]]:
        return [schemas.decode(r.value).value for r in _since(bootstrap, start, topic)
                if r.value is not None and run.encode() in (r.key or b"") + r.value]

    sent: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for topic in commands:
        for command in since(topic):
            sent.setdefault(command["entity_key"], []).append(
                (command["target"], command["operation"], tuple(command["changed_fields"])))
    # Net effect: nothing for what was made and deleted in one transaction; one update for five.
    assert ghost not in sent and ghost_party not in sent, sent
    # (Each system's commands in order; the two command topics one after the other.)
    assert sent[many] == [(ERP, "create", ()), (ERP, "update", ("name",))], sent[many]
    assert sorted(sent[tryton_many]) == [(CRM, "update", ("name",)), (ERP, "create", ())], sent[tryton_many]
    assert sent[phoenix] == [(ERP, "create", ()), (ERP, "update", ("name",))], sent[phoenix]
    # The dead letters are what a user calls invalid for the CRM: a code it does not take as a customer number,
    # a party's name cleared (the mapping's default, "", is refused by the CRM: 422 naming the field).
    letters = {(letter["reason"].split(":")[0], letter["reason"].split('"error":"')[1].split(":")[0])
               for letter in since(DLQ_TOPIC)}
    assert letters == {("REFCRM answered 422 to POST /customers", "customer_number"),
                       ("REFCRM answered 422 to POST /customers", "name"),
                       (f"REFCRM answered 422 to PATCH /customers/{nameless}", "name")}, letters
    assert db.customer(f"{refused}X") is None and db.customer(nameless_born) is None
    # Null is a value: what Tryton cannot clear (an e-mail or phone mechanism's value) is audited, once per field;
    # a null Tryton made itself (a mechanism deleted or archived) is no difference, and not audited.
    audited = sorted((a["entity_key"], a["field"]) for a in since(AUDIT_CONFLICTS) if a["rule"] == "cannot_clear")
    assert audited == sorted([(nulls, "email"), (nulls, "phone"), (reset, "email"), (phoenix, "email"),
                              (phoenix, "phone")]), audited
