"""The calls of an HTTP route's external-id upsert (``external_id:`` on the route; the protocol itself is
``streams.sinks.adapters.upsert``). None of them carries ``Idempotency-Key``: the external id is what makes the
route once-only, and one key across a create and a later update would be refused by a target that honours
keys (the same key for another request) while a target that ignores them gains nothing from it. A route's
``precondition`` guards its update: the version is read from the record the search found, or by a GET of the
update's path (see ``versions``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from streams.sinks.adapters.mapping import (
    MISSING,
    UnresolvedReference,
    changed_with_lookups,
    get_path,
    render_fields,
    render_path,
)
from streams.sinks.adapters.upsert import (
    Created,
    Decision,
    FoundIdPathError,
    FoundRecord,
    Searched,
    Upserted,
    created_without_id,
    decide_found,
    found_records,
)
from streams.sinks.adapters.versions import VersionRead
from streams.sinks.answers import any_holds, judge
from streams.sinks.config.external_id import RECORD_ID
from streams.sinks.config.model import AnswerRules, HttpCall, HttpExternalId, HttpRoute
from streams.sinks.outcomes import Applied, Attempt, Failed, answer_text, assigned_ids
from streams.sinks.records import SinkCommand

#: ``(method, path, body) -> outcome``: one call of the adapter, without an idempotency key.
Call = Callable[[str, str, Any], Awaitable[Attempt]]
#: ``(method, path, body, read) -> outcome``: the update's write, carrying the route's precondition when it has one,
#: its version read from ``read`` (the record the search found) or, when None, by a GET of the path.
Write = Callable[[str, str, Any, VersionRead | None], Awaitable[Attempt]]
#: Tries of a page after the first that fails transiently, and the waits between them (Retry-After when given).
PAGE_TRIES = 4
PAGE_RETRY_S = 0.5
PAGE_RETRY_MAX_S = 30.0
#: Where an answer says more pages exist (a truthy value), at its top or under one of ``_PAGING_HOLDERS``.
_PAGING_NAMES = ("next", "next_cursor", "nextCursor", "next_page", "nextPage", "next_page_token", "nextPageToken",
                 "next_url", "next_after", "has_more", "hasMore", "more")
_PAGING_HOLDERS = ("links", "_links", "meta", "pagination", "paging", "page_info", "pageInfo")


def paging_hint(answer: Any) -> str | None:
    """Where ``answer`` says more pages exist (``next: '2'``), or None."""
    if not isinstance(answer, Mapping):
        return None
    places = [("", answer), *((f"{name}.", answer[name]) for name in _PAGING_HOLDERS
                              if isinstance(answer.get(name), Mapping))]
    for prefix, holder in places:
        for name in _PAGING_NAMES:
            value = holder.get(name)
            if value not in (None, False, "", 0) and not (isinstance(value, (list, dict)) and not value):
                return f"{prefix}{name}: {answer_text(value, 80)}"
    return None


def with_query(path: str, name: str, value: str) -> str:
    """``path`` with query parameter ``name`` set to ``value`` (replacing it when it is there)."""
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return urlunsplit(parts._replace(query=urlencode([*query, (name, value)])))


class HttpUpsert:
    """One command's upsert calls over HTTP (an :class:`~streams.sinks.adapters.upsert.UpsertCalls`). The route's
    ``answers`` rules read the create's answer here already (an error under HTTP 200 can be the duplicate), and
    its error rule the search's, as a lookup's."""

    def __init__(self, *, route: HttpRoute, command: SinkCommand, path: str, body: Any, call: Call, write: Write,
                 system: str, base_url: str = "", target_file: str = "the target file",
                 looked_up: Mapping[str, Any] | None = None, unsure: MutableMapping[str, float] | None = None) -> None:
        assert route.external_id is not None
        self.base_url, self.target_file = base_url.rstrip("/"), target_file
        self.route, self.command, self.path, self.body = route, command, path, body
        #: What the route's lookups found, for the references of its search and update calls too.
        self.looked_up: Mapping[str, Any] = looked_up or {}
        self.spec: HttpExternalId = route.external_id
        self._call = call
        self._write = write
        #: The record the last search found to update, with the page that answered it (a precondition's version).
        self.found: VersionRead | None = None
        self.system = system
        self.status = 200
        #: The last call made, as made (``PATCH /accounts/7``): the one whose answer the command's is.
        self.last_call = ""
        #: When (monotonic) a create of each command may have made its record unseen by the search (no answer, a
        #: 5xx, a duplicate refusal): shared by the adapter's upserts, so the command's next attempt, in a later
        #: upsert, waits out the search's ``lag_s`` from then before it searches (else it creates a second record).
        self.unsure: MutableMapping[str, float] = {} if unsure is None else unsure

    def _rendered(self, call: HttpCall, record_id: Any = None, *,
                  include: frozenset[str] | None = None) -> tuple[str, Any] | Failed:
        given = dict(self.looked_up) if record_id is None else {**self.looked_up, RECORD_ID: record_id}
        try:
            path = render_path(call.path, self.command.payload, given)
        except UnresolvedReference as missing:
            return Failed(kind="permanent", error_type="UnresolvedReference",
                          reason=f"{call.method} {call.path} of external_id needs {missing.why()}")
        return path, None if call.body is None else render_fields(call.body, self.command.payload, given,
                                                                   include=include)

    async def search(self) -> Searched | Failed:
        """Every page of the search's answer (at most its ``max_pages``), then the records holding the command's
        external id exactly."""
        search = self.spec.search
        rendered = self._rendered(search)
        if isinstance(rendered, Failed):
            return rendered
        path, body = rendered
        since = self.unsure.get(self.command.command_id)
        if since is not None:
            await asyncio.sleep(max(0.0, since + search.lag_s - time.monotonic()))
        found: list[FoundRecord] = []
        reads: list[VersionRead] = []
        pages: list[Any] = []
        where: str | None = path
        while where is not None:
            if len(pages) == search.max_pages:
                return Failed(kind="permanent", error_type="SearchTooLong", answer=pages[-1],
                              reason=f"the external id's search ({search.method} {path}) still names a next page "
                                     f"after {search.max_pages} pages ({len(found)} records); make the search "
                                     "narrower (filter by the external id exactly), or raise max_pages (now "
                                     f"{search.max_pages}) in the external_id.search of route "
                                     f"{self.route.payload_type.rpartition('.')[2]} {self.route.operation} "
                                     f"({self.target_file}:{self.route.line}), then replay the dead letter")
            outcome = await (self._call(search.method, where, body) if not pages else
                             self._later_page(search.method, where, body))
            self.last_call = f"{search.method} {where}"
            if not pages and isinstance(outcome, Failed) and outcome.status in search.not_found:
                return Searched(decision=Decision(action="create"), answer=outcome.answer)
            answers = self.route.answers
            if answers is not None and answers.error is not None:
                outcome = judge(AnswerRules(error=answers.error), outcome, system=self.system,
                                call=f"the external id's search ({search.method} {where})")
            if isinstance(outcome, Failed):
                return outcome
            pages.append(outcome.body)
            try:
                records = found_records(outcome.body, search.found_id)
            except FoundIdPathError as exc:
                return Searched(decision=Decision(action="misread", reason=str(exc)), answer=outcome.body)
            found.extend(records)
            reads.extend(VersionRead(answer=outcome, call=f"{search.method} {where}", record=r.record) for r in records)
            following = self._next_page(outcome.body, path, f"{search.method} {where}")
            if isinstance(following, Failed):
                return following
            where = following
        decision = decide_found(found, match=search.match or self.spec.field,
                                value=get_path(self.command.payload, self.spec.field))
        self.found = next((read for record, read in zip(found, reads, strict=True)
                           if decision.action == "update" and record.record_id == decision.record_id), None)
        return Searched(decision=decision, answer=pages[0] if len(pages) == 1 else {"pages": pages})

    async def _later_page(self, method: str, path: str, body: Any) -> Attempt:
        """A page after the first, tried again in place after a transient failure (a 429 with its Retry-After)
        up to ``PAGE_TRIES`` times: a retry of the whole attempt would read every page again, and a target that
        throttles every Nth call could then never be read to the end."""
        for tries in range(1, PAGE_TRIES + 1):
            outcome = await self._call(method, path, body)
            if not isinstance(outcome, Failed) or outcome.kind != "transient" or tries == PAGE_TRIES:
                return outcome
            await asyncio.sleep(min(outcome.retry_after or PAGE_RETRY_S * 2 ** (tries - 1), PAGE_RETRY_MAX_S))
        raise AssertionError("unreachable")

    def _next_page(self, answer: Any, first: str, call: str) -> str | Failed | None:
        """The path of the search's next page, None after the last; a Failed when the answer says more pages
        exist and the route does not say how to reach them, or names a page on another host."""
        search = self.spec.search
        if search.next is None:
            hint = paging_hint(answer)
            if hint is None:
                return None
            return Failed(kind="permanent", error_type="SearchPaginated", answer=answer,
                          reason=f"the answer of the external id's search ({call}) says more pages exist ({hint}), "
                                 f"and route {self.route.payload_type.rpartition('.')[2]} {self.route.operation} "
                                 f"({self.target_file}:{self.route.line}) declares no paging, so records past the "
                                 "first page would go unseen; declare where the answer names the next page in its "
                                 "external_id.search: next: <its path in the answer, e.g. next> (and next_param: "
                                 "<the query parameter that takes it> when it is a cursor, not a path), then replay "
                                 "the dead letter")
        marker = get_path(answer, search.next)
        if marker is MISSING or marker is None or marker == "" or marker is False:
            return None
        if search.next_param is not None:
            return with_query(first, search.next_param, str(marker))
        text = str(marker)
        if text.startswith(self.base_url + "/"):
            text = text[len(self.base_url):]
        if text.startswith("/"):
            return text
        return Failed(kind="permanent", error_type="SearchPageElsewhere", answer=answer,
                      reason=f"the answer of the external id's search ({call}) names its next page {text!r} at "
                             f"{search.next}, which is not a path below {self.base_url}; Isthmus sends its "
                             "credentials only there. If it is a cursor, declare next_param: <the query parameter "
                             "that takes it> in the route's external_id.search")

    async def create(self) -> Created | Failed:
        outcome = await self._call(self.route.method, self.path, self.body)
        self.last_call = f"{self.route.method} {self.path}"
        outcome = judge(self.route.answers, outcome, system=self.system, call=f"{self.route.method} {self.path}")
        if isinstance(outcome, Failed):
            self._maybe_made(outcome)
            return outcome
        self.unsure.pop(self.command.command_id, None)
        self.status = outcome.status
        if self.spec.created_id is None:
            return Created(answer=outcome.body)
        created = get_path(outcome.body, self.spec.created_id)
        if created is MISSING or created is None or created == "":
            return created_without_id(system=self.system, status=outcome.status, call=self.last_call,
                                      created_id=self.spec.created_id, answer=outcome.body,
                                      where=f"route {self.route.payload_type.rpartition('.')[2]} "
                                            f"{self.route.operation}, {self.target_file}:{self.route.line}")
        return Created(answer=outcome.body, record_id=created)

    def _maybe_made(self, failed: Failed) -> None:
        """Note a create that may have made its record although it failed (no answer, a 5xx: the target may have
        written before it failed; a duplicate refusal: the record is there), when the search lags (``lag_s``);
        forget notes older than the lag (their commands' next searches see what was made)."""
        lag = self.spec.search.lag_s
        if lag <= 0 or not (failed.kind == "transient" or self.is_duplicate(failed)) or failed.unsent:
            return
        now = time.monotonic()
        for command_id in [c for c, at in self.unsure.items() if at + lag < now]:
            del self.unsure[command_id]
        self.unsure[self.command.command_id] = now

    async def update(self, record_id: Any) -> Any:
        update = self.spec.update
        assert update is not None
        rendered = self._rendered(update, record_id, include=self._changed())
        if isinstance(rendered, Failed):
            return rendered
        guard = self.route.precondition
        outcome = await self._write(update.method, *rendered,
                                    self.found if guard is not None and guard.source == "search" else None)
        self.last_call = f"{update.method} {rendered[0]}"
        answers = self.route.answers
        if answers is not None and answers.error is not None:  # named by its own call; success is read at the end
            outcome = judge(AnswerRules(error=answers.error), outcome, system=self.system,
                            call=f"{update.method} {rendered[0]}")
        if isinstance(outcome, Failed):
            return outcome
        self.status = outcome.status
        return outcome.body

    def _changed(self) -> frozenset[str] | None:
        """What the update sends of its body on an ``only_changed`` route: the fields read from the command's
        ``changed_fields`` (and the found record's ``$id``, and what a lookup fills by them), as a plain route's
        call; everything when the command
        lists none. A create always sends its whole body: the record it makes has nothing to keep."""
        changed = self.command.changed_fields
        if not self.route.only_changed or not changed:
            return None
        return changed_with_lookups(self.route.lookups, (*changed, RECORD_ID))

    def is_duplicate(self, failed: Failed) -> bool:
        rule = self.spec.duplicate
        if rule is None:
            return False
        if rule.statuses and failed.status not in rule.statuses:
            return False
        return not rule.when or any_holds(rule.when, failed.answer)

    def applied(self, done: Upserted) -> Applied:
        """The command's answer: that of its last write (the search's when a found record was left as it is),
        with ``$id`` (the record) and ``upsert`` (what was done) added, for ``ids`` and ``answers``."""
        answer = done.searched if done.answer is None and done.action != "created" else done.answer
        body: dict[str, Any] = (dict(answer) if isinstance(answer, Mapping)
                                else {} if answer is None else {"answer": answer})
        if done.record_id is not None:
            body[RECORD_ID] = done.record_id
        body["upsert"] = done.action
        return Applied(status=self.status, body=body, ids=assigned_ids(body, self.route.ids), call=self.last_call)
