"""Pure logic of topic inspection: the --where language, --since, roles and tokens, masking, decoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.inspect.decoding import Decoded, RawRecord, decode_record, key_label, masked, summary
from streams.inspect.exceptions import AccessDenied, BadExpression, BadFilter, BadSeek, BadTokens
from streams.inspect.expressions import compile_where, resolve
from streams.inspect.filters import build
from streams.inspect.masking import MASK, PiiCatalog
from streams.inspect.roles import AccessPolicy, Permission, Role
from streams.inspect.seek import since_ms
from streams.inspect.trace import EntityMatcher, TraceModel
from streams.mapping import load_mappings

STORE = SchemaStore.from_directory()
CATALOG = PiiCatalog.load(STORE.schemas)


def test_where_compares_paths_with_literals() -> None:
    record = {"after": {"name": "Acme", "credit_limit": "1500.00", "blocked": False}, "op": "u",
              "payload_type": "isthmus.canonical.Account", "lines": [{"sku": "S-1"}]}
    assert compile_where('after.name == "Acme"')(record)
    assert not compile_where("after.name != 'Acme'")(record)
    assert compile_where("payload_type ~ Account")(record)
    assert compile_where("after.credit_limit > 1000 and not after.blocked")(record)
    assert compile_where("op == c or (op == u and lines[0].sku == S-1)")(record)
    assert not compile_where("after.missing == 1")(record)
    assert compile_where("after.missing == null")(record)
    assert resolve(record, "lines[0].sku") == "S-1"


@pytest.mark.parametrize(("text", "words"), [
    ("", "empty expression"), ("after.name ==", "expected a value"), ("a == 1 b == 2", "join conditions"),
    ("(a == 1", "expected )"), ("a ~ '('", "bad regular expression"), ("a == ;", "cannot read"),
])
def test_bad_where_names_the_problem(text: str, words: str) -> None:
    with pytest.raises(BadExpression, match=words.replace("(", r"\(").replace(")", r"\)")):
        compile_where(text)


def test_where_is_not_python() -> None:
    with pytest.raises(BadExpression):
        compile_where("__import__('os').system('true')")


def test_since_durations_and_times() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert since_ms("1h", now=now) == int(datetime(2026, 11, 25, 11, 0, tzinfo=UTC).timestamp() * 1000)
    assert since_ms("90s", now=now) == int(datetime(2026, 11, 25, 11, 58, 30, tzinfo=UTC).timestamp() * 1000)
    assert since_ms("2026-11-25T10:00:00Z") == int(datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp() * 1000)
    with pytest.raises(BadSeek, match="no time zone"):
        since_ms("2026-11-25T10:00:00")
    with pytest.raises(BadSeek, match="neither a duration"):
        since_ms("yesterday")


def test_roles_from_env_and_file(tmp_path: Path) -> None:
    policy = AccessPolicy.from_env(tmp_path, {"ISTHMUS_TOKENS": "viewer:v1, operator:o1,admin:a1"})
    assert policy.caller("a1").role is Role.ADMIN and policy.caller(None).role is Role.VIEWER
    assert policy.allows(policy.caller("o1"), Permission.OPERATE)
    assert not policy.allows(policy.caller("o1"), Permission.SHOW_PII)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "tokens").write_text("# roles\nadmin:fromfile\n", encoding="utf-8")
    assert AccessPolicy.from_env(tmp_path, {}).caller("fromfile").role is Role.ADMIN


def test_denials_raise_and_are_audited(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    policy = AccessPolicy.from_env(None, {"ISTHMUS_TOKENS": "viewer:v1,admin:a1"})
    with pytest.raises(AccessDenied, match="role viewer may not show personal data"):
        policy.require(policy.caller("v1"), Permission.SHOW_PII, action="show personal data")
    with pytest.raises(AccessDenied, match="unknown token"):
        policy.caller("nope")
    err = capsys.readouterr().err
    assert "audit: denied show personal data to viewer token #1" in err and "nope" not in err
    assert sum("audit: denied" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize("text", ["boss:x", "admin", "admin:", "admin:a,viewer:a"])
def test_bad_token_configuration_is_refused(text: str) -> None:
    with pytest.raises(BadTokens, match="ISTHMUS_TOKENS line 1"):
        AccessPolicy.from_env(None, {"ISTHMUS_TOKENS": text})


def test_catalog_knows_personal_columns_from_mappings() -> None:
    assert {"name", "email", "phone"} <= CATALOG.columns[("crm", "customers")]
    assert "billing_line1" in CATALOG.columns[("erp", "accounts")]
    assert "customer_number" not in CATALOG.columns[("crm", "customers")]


def _raw(value: bytes | None, key: bytes | None = b"C-000123", topic: str = "t") -> RawRecord:
    return RawRecord(topic=topic, partition=0, offset=7, timestamp_ms=1_795_628_060_003, key=key, value=value,
                     headers=(("isthmus.stage", b"sink.erp"),))


def test_canonical_avro_is_detected_and_masked() -> None:
    data = STORE.encode("Customer", {"customer_number": "C-000123", "name": "Ada Lovelace",
                                     "email": "ada@example.com", "contacts": [
                                         {"first_name": "Bob", "last_name": "Byron", "role": None}]})
    record = decode_record(_raw(data), STORE)
    assert (record.kind, record.schema) == ("avro", "isthmus.canonical.Customer")
    hidden = masked(record, CATALOG)
    text = json.dumps(hidden.value)
    assert "Ada" not in text and "ada@" not in text and "Bob" not in text and "Byron" not in text
    assert hidden.value["name"] == MASK and hidden.value["customer_number"] == "C-000123"
    assert summary(hidden) == "Customer C-000123"


def test_unknown_json_masks_keys_named_like_marked_fields() -> None:
    record = decode_record(_raw(json.dumps({"row": {"name": "Ada", "city": "Paris"}}).encode()), STORE)
    assert record.kind == "json"
    assert masked(record, CATALOG).value == {"row": {"name": MASK, "city": "Paris"}}
    assert masked(decode_record(_raw(b"Ada Lovelace"), STORE), CATALOG).value == MASK


def test_filters_combine_key_header_and_where() -> None:
    data = STORE.encode("Customer", {"customer_number": "C-000123", "name": "Ada"})
    record = decode_record(_raw(data), STORE)
    assert build(keys=["C-000123"], headers=["isthmus.stage=sink.erp"], where=["name == Ada"])(record)
    assert not build(headers=["isthmus.stage=sink.crm"])(record)
    assert not build(keys=["C-999999"])(record)
    assert not build(where=['name == "Ada"'])(masked(record, CATALOG))


def test_entity_names_match_whole_words_only() -> None:
    names = TraceModel.of(load_mappings()).names_for("C-000123")
    assert names == ("C-000123", "AC-000123")  # account.yaml: account_code is the number with C- -> AC-
    assert TraceModel.of(load_mappings()).names_for("SO-000001") == ("SO-000001",)
    matcher = EntityMatcher(names=names)
    assert matcher.names_entity({"x": ["code AC-000123"]})
    assert not matcher.names_entity("C-0001234") and not matcher.names_entity("XC-000123")


def test_which_rows_refer_to_which_comes_from_the_mapping_files() -> None:
    model = TraceModel.of(load_mappings())
    xref_by_crm_id = ("CustomerAccountXref", "crm_customer_id")
    assert ("id", xref_by_crm_id) in model.roots[("crm", "customers")]
    assert ("customer_id", xref_by_crm_id) in model.references[("crm", "contacts")]
    assert ("account_id", ("CustomerAccountXref", "erp_account_id")) in model.references[("erp", "invoices")]
    assert ("order_id", ("SalesOrder", "erp_order_id")) in model.references[("erp", "invoices")]
    matcher = EntityMatcher(names=("C-000123",), model=model)
    customer = Decoded(raw=_raw(b"{}"), kind="debezium", key=None, system="crm", table="customers",
                       value={"before": None, "after": {"id": 7, "customer_number": "C-000123"}})
    contact = Decoded(raw=_raw(b"{}"), kind="debezium", key=None, system="crm", table="contacts",
                      value={"before": None, "after": {"id": 70, "customer_id": 7, "first_name": "Ada"}})
    other = Decoded(raw=_raw(b"{}"), kind="debezium", key=None, system="crm", table="contacts",
                    value={"before": None, "after": {"id": 71, "customer_id": 8, "first_name": "Bob"}})
    assert matcher.matches(customer) and matcher.matches(contact) and not matcher.matches(other)


def _keyed(key: Any) -> Decoded:
    return Decoded(raw=_raw(b"{}", key=json.dumps(key).encode()), kind="debezium", key=key, value={})


def test_key_in_the_form_tail_prints_matches_exactly_that_composite_key() -> None:
    record, other = _keyed({"mandant": 1, "kdnr": 1021}), _keyed({"mandant": 1021, "kdnr": 1})
    printed = key_label(record.key)
    assert printed == "kdnr=1021 mandant=1"
    assert build(keys=[printed])(record) and not build(keys=[printed])(other)
    assert build(keys=["mandant=1 kdnr=1021"])(record) and build(keys=["kdnr=1021, mandant=1"])(record)
    assert not build(keys=["kdnr=1021"])(record)  # a part of the key is not the key
    assert not build(keys=["kdnr=1021 mandant=1 x=2"])(record)
    assert build(keys=['{"kdnr": 1021, "mandant": 1}'])(record) and build(keys=['{"mandant": "1", "kdnr": 1021}'])(
        record)
    assert not build(keys=['{"kdnr": 1021}'])(record)


def test_a_single_value_key_matches_a_whole_key_never_one_column_of_several() -> None:
    composite = _keyed({"mandant": 1, "kdnr": 1021})
    assert not build(keys=["1021"])(composite) and not build(keys=["1"])(composite)
    assert build(keys=["1021"])(_keyed({"id": 1021})) and build(keys=["id=1021"])(_keyed({"id": 1021}))
    assert build(keys=["C-000123"])(_keyed("C-000123")) and not build(keys=["C-000124"])(_keyed("C-000123"))
    assert build(keys=["kdnr=1021 mandant=1"])(_keyed("kdnr=1021 mandant=1"))  # a text key is matched as text


@pytest.mark.parametrize("text", ['{"kdnr": ', "{}", "kdnr=1 kdnr=2"])
def test_a_malformed_key_is_refused_with_the_forms(text: str) -> None:
    with pytest.raises(BadFilter, match="--key"):
        build(keys=[text])
