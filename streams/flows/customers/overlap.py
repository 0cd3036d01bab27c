"""An entity that each of several origins held already: the system's own row met by Isthmus's ``create``.

With ``origin: [a, b]`` the usual first deployment starts with the same customers in both systems. The flow reads
one system's row first (``a``'s) and sends ``create`` to ``b``; ``b``'s own row, read next, links the entity and
settles that creation. That row is ``b``'s own, made there before the create: it shows what ``b`` holds. It was
taken for the create's echo (its values as the ``create`` carried them, still in flight): ``b``'s ``owner_wins``
fields kept ``a``'s values, as ``a``'s, no conflict was audited, ``a`` never got ``b``'s values, and ``b`` never got
``a``'s. The create met the row in ``b``: refused (a unique key: a 409 dead letter), found and written over (a
target with an external id), or made beside it (:mod:`~streams.flows.customers.merged`). A replay of that dead
letter then sent ``b`` the record's values, ``a``'s, over the fields ``b`` owns.

:func:`own_row` tells such a row from the create's echo; :func:`met_create` leaves ``b``'s mirror holding what the
row showed: where the record took the row's value (``b`` owns the field, or wins it by policy) the create's value
is kept as *carried* (:attr:`~streams.flows.customers.mirror.Mirror.carried`: written over the row by a target that
finds it, its echo is no edit of ``b``'s and the row's value is written back), and where the record kept another
value (``b`` lost the field, audited as any conflict) that value is sent to ``b`` at once. Then ``a`` gets an
``update`` of the fields ``b`` won, and ``b`` of the fields ``a`` won, where they differ; one ``create`` in all.
A refused create that the link settled is forgotten then, and its dead letter settled
(:mod:`~streams.flows.customers.refused`). :func:`owner_holds_other` names a field the record holds
another system's value of while its owner reported its own (a state built before this): neither a replay nor a
refused create sends it there.
"""

from __future__ import annotations

import datetime as dt

from streams.codecs.debezium.envelope import Op
from streams.flows.customers.mirror import MISSING, Mirror
from streams.flows.customers.state import CustomerState
from streams.mapping import MappedChange
from streams.mapping.reconcile import truncated
from streams.mapping.spec import Policy


def own_row(state: CustomerState, change: MappedChange, mirror: Mirror, op: Op) -> bool:
    """Is ``change`` its system's own row of the entity, made there before the ``create`` Isthmus has in flight
    to it (called before the change is observed)? The create's echo is the first row of the entity there too. A
    snapshot read is the system's own (a row a create made comes first as its insert, which the snapshot's
    later read follows); an insert is when it committed before every value of another system the create carried
    (compared at the coarser precision of the two clocks): what it shows was there before the create was made.
    An insert committed later is taken for the echo, as before (a row made there at nearly the same time)."""
    system = change.system
    if system not in state.creating or mirror.present or change.deleted or op not in (Op.CREATE, Op.READ):
        return False
    if op is Op.READ:
        return True
    carried = [stamp for name in mirror.pending
               if (stamp := state.provenance.get(name)) is not None and stamp.system != system]
    if not carried:
        return False
    first = min(carried, key=lambda stamp: stamp.commit_time)
    clocks = state.config.clocks
    step = max(clocks.get(system, _EXACT), clocks.get(first.system, _EXACT))
    return truncated(change.commit_time, step) < truncated(first.commit_time, step)


def met_create(state: CustomerState, mirror: Mirror) -> None:
    """The system's own row (:func:`own_row`), folded: each value the create carried that the row did not show
    leaves what is in flight there. Where the record now holds the row's value, it is kept as carried (its echo,
    should the target write the create over the row, is no edit of the system's); else the record's value differs
    from what the system holds, and :func:`~streams.flows.customers.sync.decide` sends it."""
    config = state.config
    for name, queue in list(mirror.pending.items()):
        held = mirror.reported.get(name, MISSING)
        wanted = state.record[name] if name in state.record else config.defaults.get(name, MISSING)
        if held is MISSING or wanted is MISSING:
            continue  # the row does not show it: the value sent stays in flight
        if held == mirror.view(name, wanted):
            mirror.carried[name] = queue[-1]
        del mirror.pending[name]


def owner_holds_other(state: CustomerState, system: str, name: str) -> bool:
    """Does ``system`` own ``name`` (``owner_wins``) and hold a value of its own that the record does not have,
    the record holding another system's? Its own row was read while a create to it was in flight and taken for
    that create's echo (a state built before :func:`own_row`): sending the record's value there would overwrite
    the owner's. A field the system's row holds as Isthmus's create left it (``unsent``) is not its own."""
    policy = state.config.record.policies.get(name)
    if policy is None or policy.owner != system or policy.policy is not Policy.OWNER_WINS:
        return False
    mirror = state.mirror(system)
    held = mirror.reported.get(name, MISSING)
    stamp = state.provenance.get(name)
    if held is MISSING or name in mirror.unsent or stamp is None or stamp.system == system:
        return False
    return bool(held != mirror.view(name, state.value(name)))


#: The precision of a system that keeps exact commit times.
_EXACT = dt.timedelta(0)
