"""``--key``, ``--header name=value`` and ``--where`` combined into one record filter (all must hold)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streams.inspect.decoding import Decoded
from streams.inspect.exceptions import BadFilter
from streams.inspect.expressions import Predicate, compile_where


@dataclass(frozen=True, kw_only=True)
class RecordFilter:
    keys: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    where: tuple[Predicate, ...] = ()

    def __call__(self, record: Decoded) -> bool:
        if self.keys and not self._key_matches(record):
            return False
        if any(record.header(name) != value for name, value in self.headers):
            return False
        document = record.document()
        return all(predicate(document) for predicate in self.where)

    def _key_matches(self, record: Decoded) -> bool:
        texts = {record.key_text}
        if isinstance(record.key, dict):
            texts |= {str(v) for v in record.key.values()}
        return any(key in texts for key in self.keys)


def header_filter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise BadFilter(f"--header {text!r} is not NAME=VALUE; write e.g. --header isthmus.stage=sink.erp")
    return name.strip(), value


def build(*, keys: Sequence[str] = (), headers: Sequence[str] = (), where: Sequence[str] = ()) -> Callable[
        [Decoded], bool]:
    return RecordFilter(keys=tuple(keys), headers=tuple(header_filter(h) for h in headers),
                        where=tuple(compile_where(w) for w in where))


__all__ = ["RecordFilter", "build", "header_filter"]
