"""The calls of an HTTP route's external-id upsert (``external_id:`` on the route; the protocol itself is
``streams.sinks.adapters.upsert``). None of them carries ``Idempotency-Key``: the external id is what makes the
route once-only, and one key across a create and a later update would be refused by a target that honours
keys (the same key for another request) while a target that ignores them gains nothing from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from streams.sinks.adapters.mapping import MISSING, UnresolvedReference, get_path, render_fields, render_path
from streams.sinks.adapters.upsert import Created, Decision, Searched, Upserted, decide
from streams.sinks.answers import any_holds, judge
from streams.sinks.config.external_id import RECORD_ID
from streams.sinks.config.model import AnswerRules, HttpCall, HttpExternalId, HttpRoute
from streams.sinks.outcomes import Applied, Attempt, Failed, assigned_ids
from streams.sinks.records import SinkCommand

#: ``(method, path, body) -> outcome``: one call of the adapter, without an idempotency key.
Call = Callable[[str, str, Any], Awaitable[Attempt]]


class HttpUpsert:
    """One command's upsert calls over HTTP (an :class:`~streams.sinks.adapters.upsert.UpsertCalls`). The route's
    ``answers`` rules read the create's answer here already (an error under HTTP 200 can be the duplicate), and
    its error rule the search's, as a lookup's."""

    def __init__(self, *, route: HttpRoute, command: SinkCommand, path: str, body: Any, call: Call,
                 system: str) -> None:
        assert route.external_id is not None
        self.route, self.command, self.path, self.body = route, command, path, body
        self.spec: HttpExternalId = route.external_id
        self._call = call
        self.system = system
        self.status = 200

    def _rendered(self, call: HttpCall, record_id: Any = None) -> tuple[str, Any] | Failed:
        given = {} if record_id is None else {RECORD_ID: record_id}
        try:
            path = render_path(call.path, self.command.payload, given)
        except UnresolvedReference as missing:
            return Failed(kind="permanent", error_type="UnresolvedReference",
                          reason=f"{call.method} {call.path} of external_id needs {missing.name}, which the payload "
                                 "does not have; send it in the payload")
        return path, None if call.body is None else render_fields(call.body, self.command.payload, given)

    async def search(self) -> Searched | Failed:
        search = self.spec.search
        rendered = self._rendered(search)
        if isinstance(rendered, Failed):
            return rendered
        path, body = rendered
        outcome = await self._call(search.method, path, body)
        if isinstance(outcome, Failed) and outcome.status in search.not_found:
            return Searched(decision=Decision(action="create"), answer=outcome.answer)
        answers = self.route.answers
        if answers is not None and answers.error is not None:
            outcome = judge(AnswerRules(error=answers.error), outcome, system=self.system,
                            call=f"the external id's search ({search.method} {path})")
        if isinstance(outcome, Failed):
            return outcome
        return Searched(decision=decide(outcome.body, search.found_id), answer=outcome.body)

    async def create(self) -> Created | Failed:
        outcome = await self._call(self.route.method, self.path, self.body)
        outcome = judge(self.route.answers, outcome, system=self.system, call=f"{self.route.method} {self.path}")
        if isinstance(outcome, Failed):
            return outcome
        self.status = outcome.status
        created = get_path(outcome.body, self.spec.created_id) if self.spec.created_id else None
        return Created(answer=outcome.body, record_id=None if created is MISSING else created)

    async def update(self, record_id: Any) -> Any:
        update = self.spec.update
        assert update is not None
        rendered = self._rendered(update, record_id)
        if isinstance(rendered, Failed):
            return rendered
        outcome = await self._call(update.method, *rendered)
        answers = self.route.answers
        if answers is not None and answers.error is not None:  # named by its own call; success is read at the end
            outcome = judge(AnswerRules(error=answers.error), outcome, system=self.system,
                            call=f"{update.method} {rendered[0]}")
        if isinstance(outcome, Failed):
            return outcome
        self.status = outcome.status
        return outcome.body

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
        return Applied(status=self.status, body=body, ids=assigned_ids(body, self.route.ids))
