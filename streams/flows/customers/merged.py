"""Two live rows of one source on one record key: the refusal (``MergedRows``) and what it says.

Two rows that map to one key would be written as one record, so the decision is refused with both rows named
(:meth:`~streams.flows.customers.state.CustomerState.merged_rows`). Usually the mapping's key is not unique per row
(a composite key cut by ``right``) or the rows are parts of one record (its e-mails); the refusal says how to fix
either.

One case is of Isthmus's own making (a new user's trial: organisations keyed by a VAT number each mapping
normalises). An entity born in one system gets ``create`` in another while that other system's own row of it,
committed earlier, is not read yet (its transaction read later: another connector, a bulk load). The create's upsert
by the business key finds nothing when that system stores the key un-normalised ('de 100 000 402' beside the
mapping's 'DE100000402'), so it makes a second row; the row read meanwhile was linked, and the echo of the create,
a new row reporting the values Isthmus sent, is refused as a second row on the key. Nothing of the user's mapping is
wrong there: :func:`note_made_beside` notes such an echo while folding it (its values settle commands in flight, as
:mod:`~streams.flows.customers.mirror` tells), and the refusal names the row Isthmus made, what it was made from
and when, the other row as the same entity, and the way out: end the row Isthmus made, so the flow keeps the
other, linked already (ending that one instead is that row's end to the flow: its ``on_delete`` ends the entity
everywhere), and how to keep it from happening again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from streams.flows.customers.state import CustomerState
from streams.mapping import MappedChange
from streams.mapping.reconcile import Stamp


@dataclass(frozen=True, slots=True)
class MadeBeside:
    """A new row of ``source`` (its name in ``EntityConfig.row_claims``) whose first change reported the values of
    commands in flight (the echo of Isthmus's create) while another row of the source was the entity's: ``made``
    committed it; ``made_from`` is the latest stamp of another system among the values it echoed (the change
    the create carried them from); ``other`` the stamp of the link the other row gave, when that row's system
    gave it."""

    source: str
    system: str
    row: str
    made: dt.datetime
    made_from: Stamp | None
    other: Stamp | None


def note_made_beside(state: CustomerState, change: MappedChange, echoes: set[str]) -> None:
    """Note on ``state`` (not stored: the decision of the same batch reads it) that ``change``, a new row's first
    change whose fields ``echoes`` settled commands in flight, made a second live row of its source: the row the
    create Isthmus sent made beside the entity's row. Called before the change's link is folded, so the link still
    holds the other row's stamp."""
    claim = state.config.row_claims.get(change.source.name)
    live = state.rows.get(claim, ()) if claim is not None else ()
    if claim is None or len(live) < 2:
        return
    system = change.system
    given = [s for n in echoes if (s := state.provenance.get(n)) is not None and s.system != system]
    role = state.config.written.get(system)
    linked = state.xref_provenance.get(role.id) if role is not None and role.id is not None else None
    state.made_beside = MadeBeside(
        source=claim, system=system, row=live[-1], made=change.commit_time,
        made_from=max(given, key=lambda s: s.commit_time) if given else None,
        other=linked if linked is not None and linked.system == system else None)


def merged_reason(state: CustomerState, source: str, rows: list[str]) -> str:
    """Why the decision on ``state`` is refused: ``rows`` of ``source`` all map to its key."""
    config = state.config
    record = config.record.target.rpartition(".")[2]
    both = f"rows {' and '.join(rows)} of {source} both map to {config.key} {state.customer_number!r}"
    made = state.made_beside
    if made is not None and made.source == source and made.row in rows:
        return f"{both}, {_made_beside(state, made, [r for r in rows if r != made.row], record)}"
    return (f"{both}, so they would be written as one {record}; if they are two of them, make the mapping's key "
            "unique per row (a key of several columns: `lpad` pads and never cuts, where `right` and `left` cut, so "
            f"1001 and 1 can become one); if they are rows of one {record} (its e-mails, its addresses), find it "
            "through a look-up of the link instead, so that the row changed last fills the fields "
            "(mappings/README.md, \"Several rows filling one field\"); or end one of the rows. The row that stays "
            "is used with its next change; replay this dead letter only if its row has not changed since, since a "
            "replay sends the change as it was")


def _made_beside(state: CustomerState, made: MadeBeside, others: list[str], record: str) -> str:
    system = made.system
    other = " and ".join(others)
    origin = "" if made.made_from is None else (
        f", made from {made.made_from.system}'s change committed {_at(made.made_from.commit_time)}")
    committed = "" if made.other is None else f"committed in {system} {_at(made.other.commit_time)}" + (
        ", before that change, " if made.made_from is not None and made.other.commit_time < made.made_from.commit_time
        else ", ")
    return (
        f"and {made.row} is the row Isthmus made: its insert, committed {_at(made.made)}, reported the values of "
        f"the create Isthmus sent {system} for this {record}{origin}. {other} is the same {record}, {committed}"
        f"but not read yet when the create was decided (read, it would have been linked, not created again); "
        f"{system}'s create did not find it. Merge them in {system}: end {made.row}, the row Isthmus made, and the "
        f"flow keeps {other}, linked already (ending {other} instead is that row's end to the flow: its source's "
        f"on_delete applies, and one that sets active false ends the {record} everywhere until {made.row} changes). "
        f"To avoid it, {system}'s create must find the row already there by {state.config.key}: a SQL target's "
        "create that upserts by a business key its table stores un-normalised (as entered) cannot find the row "
        "whose key the mapping normalises; store the key in that column as the mapping makes it, or make the "
        "create an upsert on a normalised column (a generated column with a unique index). This dead letter needs "
        "no replay: the row it names is the one to end")


def _at(when: dt.datetime) -> str:
    """A commit time as the refusal shows it: to the second, or to the millisecond when it has a fraction."""
    return when.isoformat(sep=" ", timespec="milliseconds" if when.microsecond else "seconds")
