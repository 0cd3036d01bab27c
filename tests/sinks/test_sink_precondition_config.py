"""A route's ``precondition`` (optimistic concurrency: ``If-Match: <ETag>``) loads as typed values, and a wrong one
is refused at load with file, line, key and fix, alone and against the rest of its route."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streams.sinks.config import HttpRoute, load_target
from streams.sinks.config.model import Precondition, VersionPlace
from streams.sinks.exceptions import TargetConfigError

pytestmark = pytest.mark.unit

HEAD = """\
system: erp
adapter: http
routes:
"""


def write(tmp_path: Path, routes: str) -> Path:
    path = tmp_path / "erp.yaml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(routes), "  "), encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(TargetConfigError) as caught:
        load_target(path)
    return str(caught.value)


def route_of(path: Path, operation: str = "update") -> HttpRoute:
    route = load_target(path).route("isthmus.canonical.Account", operation)
    assert isinstance(route, HttpRoute)
    return route


def test_an_etag_precondition_loads_with_its_defaults_and_shows_in_the_plan(tmp_path: Path) -> None:
    route = route_of(write(tmp_path, """\
        - payload_type: Account
          operation: update
          method: PATCH
          path: /accounts/{account_id}
          body: {name: name}
          precondition:
            read: {header: ETag}
            send: {header: If-Match}
        """))
    assert route.precondition == Precondition(read=VersionPlace(header="ETag"), send=VersionPlace(header="If-Match"),
                                              source="path", stale=(412,), retries=3, line=9)
    assert route.plan() == ("PATCH /accounts/{account_id} with header If-Match from header ETag of "
                            "GET /accounts/{account_id}")


def test_a_body_version_read_from_a_lookup_conflicting_as_409_loads(tmp_path: Path) -> None:
    route = route_of(write(tmp_path, """\
        - payload_type: Account
          operation: update
          method: PUT
          path: /accounts/{account_id}
          lookups:
            account_id: {path: "/accounts?code={account_code}", take: items.*.id, match: {code: account_code}}
          body: {name: name}
          precondition:
            read: {field: meta.version}
            from: {lookup: account_id}
            send: {field: version}
            stale: [409, 412]
            retries: 0
        """))
    assert route.precondition == Precondition(read=VersionPlace(field="meta.version"),
                                              send=VersionPlace(field="version"), source="lookup",
                                              lookup="account_id", stale=(409, 412), retries=0, line=11)


def test_an_external_id_route_guards_its_update_with_the_found_records_version(tmp_path: Path) -> None:
    route = route_of(write(tmp_path, """\
        - payload_type: Account
          operation: update
          method: POST
          path: /accounts
          body: {code: account_code, name: name}
          external_id:
            field: account_code
            search: {path: "/accounts?code={account_code}", found_id: items.*.id, match: code}
            update: {method: PATCH, path: "/accounts/{$id}", body: {name: name}}
          precondition: {read: {field: version}, from: search, send: {header: If-Match}}
        """))
    assert route.precondition is not None and route.precondition.source == "search"
    assert route.plan().endswith("else PATCH /accounts/{$id} with header If-Match from field version of the record "
                                 "the search found")


def test_every_problem_of_a_precondition_is_refused_with_its_line_and_fix(tmp_path: Path) -> None:
    message = refused(write(tmp_path, """\
        - payload_type: Account
          operation: update
          method: PATCH
          path: /accounts/{account_id}
          body: {name: name}
          precondition:
            read: {header: ETag, field: version}
            send: {header: Content-Type}
            from: elsewhere
            stale: [404]
            retries: -1
            when: always
        """))
    assert "(6 problems)" in message
    assert ("erp.yaml:10: routes[0].precondition.read: read names header and field; it takes one of them; fix: "
            "give where the record's version is in the answer of the read: read: {header: ETag}") in message
    assert ("erp.yaml:11: routes[0].precondition.send.header: Content-Type is set by the sink itself; fix: send the "
            "version in the header the API names for it, e.g. If-Match") in message
    assert ("erp.yaml:12: routes[0].precondition.from: 'elsewhere' is not where a version is read from; fix: write "
            "from: path") in message
    assert ("erp.yaml:13: routes[0].precondition.stale: [404] is not a status a stale version is answered with; "
            "fix: write 412") in message
    assert "erp.yaml:14: routes[0].precondition.retries: retries must be a whole number of at least 0" in message
    assert "erp.yaml:15: routes[0].precondition.when: 'when' is not a key of precondition" in message


def test_a_missing_place_names_both_forms(tmp_path: Path) -> None:
    message = refused(write(tmp_path, """\
        - payload_type: Account
          operation: update
          method: PATCH
          path: /accounts/{account_id}
          precondition: {read: {header: ETag}}
        """))
    assert ("erp.yaml:8: routes[0].precondition.send: send is missing; fix: give where the write carries the "
            "version: send: {header: If-Match}, or send: {field: version}") in message


def test_a_precondition_that_does_not_fit_its_route_is_refused(tmp_path: Path) -> None:
    message = refused(write(tmp_path, """\
        - payload_type: Account
          operation: create
          method: POST
          path: /accounts
          body: {name: name}
          precondition: {read: {header: ETag}, send: {header: If-Match}}
        - payload_type: Account
          operation: update
          method: PATCH
          path: /accounts/{account_id}
          precondition: {read: {header: ETag}, send: {field: version}}
        - payload_type: Account
          operation: upsert
          method: PUT
          path: /accounts/{account_id}
          body: {name: name, version: account_code}
          precondition: {read: {field: version}, send: {field: version}, from: search}
        - payload_type: Account
          operation: deactivate
          method: PATCH
          path: /accounts/{account_id}
          lookups:
            account_id: {path: "/accounts?code={account_code}", take: items.*.id, match: {code: account_code}}
          body: {active: {value: false}}
          batch: {method: PATCH, path: /accounts/batch}
          precondition: {read: {header: ETag}, from: {lookup: account_id}, send: {header: If-Match}}
        """))
    assert ("erp.yaml:9: routes[0].precondition: a create makes the record, so there is no version of it to send "
            "(route Account create); fix: remove precondition") in message
    assert ("erp.yaml:14: routes[1].precondition.send.field: the route sends no body to carry field version; fix: "
            "give it a body, or send the version in a header: send: {header: If-Match}") in message
    assert ("erp.yaml:20: routes[2].precondition.from: from: search reads the record the route's external_id search "
            "found, and the route has no external_id") in message
    assert ("erp.yaml:20: routes[2].precondition.send.field: the body maps version already, and the precondition "
            "sets it to the version read; fix: remove version from the body") in message
    assert ("erp.yaml:28: routes[3].batch: a batch call carries many commands under one set of headers, so it "
            "cannot carry each record's version; fix: remove batch, or precondition") in message
    assert ("erp.yaml:29: routes[3].precondition.read.header: lookup account_id searches a list of records, so the "
            "headers of its answer are the list's, not the record's version; fix: read the version from a field of "
            "the item it matches") in message


def test_a_precondition_naming_no_lookup_of_its_route_is_refused(tmp_path: Path) -> None:
    message = refused(write(tmp_path, """\
        - payload_type: Account
          operation: update
          method: PATCH
          path: /accounts/{account_id}
          body: {name: name}
          precondition: {read: {field: version}, from: {lookup: acount_id}, send: {header: If-Match}}
        """))
    assert ("erp.yaml:9: routes[0].precondition.from.lookup: the route has no lookup 'acount_id'; fix: name one of "
            "its lookups (none), or write from: path") in message
