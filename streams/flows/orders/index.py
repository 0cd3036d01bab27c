"""The document flow's lists of documents under a key (store ``index``), in pages of a bounded size.

A key (``party=<party key>``, ``wait=<look-up>``, ``no_account``, ``waiting_for``) once held all its documents in
one list value: a customer with 100,000 orders over the years, or the million orders of an initial sync that come
before their customers' accounts, outgrew a Kafka record (the flow's transaction failed with
MessageSizeTooLargeError when the changelog record was produced), and every step of every document read the
whole list to see whether its number was on it. So each key is kept in pages:

- ``<key>`` -> ``{"pages": [n, ...]}``: the key's pages, in order; page ``<n>#<key>`` -> ``{"documents": [...]}``,
  at most :data:`PAGE` numbers in the order they were added. The page number comes first, so a page's key is
  never another key's head, whatever text a party key or look-up holds. The head grows by a few bytes per page:
  a key would need tens of millions of documents to outgrow a record.
- each document's own entry (store ``documents``) names the keys that list it (:data:`INDEXED_UNDER`), so adding
  a document already listed costs nothing but the document, which its step reads anyway.

A key written by an older version (``{"documents": [...]}``, of any size) is read as it is, and paged the first
time a step lists a document under it or a sweep drops one. The entries of the documents it listed name no key:
each is listed once more the first time a step lists it after that (a party's first change after the upgrade
lists them all), then never again. Finding it in the older list instead would read the whole list for each of
them, the cost this layout removes. A copy is read once (:meth:`DocumentIndex.documents` keeps a number's first
place); a sweep (the waits' keys) drops it, a party's key keeps it: one per document at most.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from streams.flows.engine.api import Store

#: Numbers a page lists at most: ~7.5 KiB of JSON with numbers of a dozen characters.
PAGE = 500
#: A document entry's field naming the index keys that list the document.
INDEXED_UNDER = "indexed_under"


def page_key(key: str, page: int) -> str:
    return f"{page}#{key}"


@dataclass
class _Page:
    """A page of a sweep: its number (None: not written yet), its numbers, whether they differ from those stored."""

    number: int | None
    documents: list[str]
    changed: bool


class DocumentIndex:
    """Documents listed under keys of ``index``; ``documents`` is the store of the documents' own entries."""

    def __init__(self, index: Store, documents: Store) -> None:
        self.index = index
        self.entries = documents

    def documents(self, key: str) -> list[str]:
        """The documents under ``key``, in the order they were added, each once."""
        return list(dict.fromkeys(number for _, numbers in self._pages(key) for number in numbers))

    def add(self, key: str, number: str, document: MutableMapping[str, Any]) -> None:
        """List document ``number`` under ``key`` unless ``document``, its entry, says it is listed there; the entry
        then says so (the caller writes it)."""
        listed = list(document.get(INDEXED_UNDER) or ())
        if key in listed:
            return
        document[INDEXED_UNDER] = [*listed, key]
        head = self.index.get(key) or {}
        if "documents" in head:  # kept whole by an older version: paged now
            kept = list(dict.fromkeys(head["documents"]))
            self._rewrite(key, None, [_Page(None, kept if number in kept else [*kept, number], True)])
            return
        pages: list[int] = list(head.get("pages") or ())
        last = (self.index.get(page_key(key, pages[-1])) or {}).get("documents") if pages else None
        if last is None or len(last) >= PAGE:
            pages.append(pages[-1] + 1 if pages else 0)
            self.index.put(key, {"pages": pages})
            last = []
        self.index.put(page_key(key, pages[-1]), {"documents": [*last, number]})

    def take(self, key: str) -> list[str]:
        """The documents under ``key`` (as :meth:`documents`), no longer listed there (nor their entries say so)."""
        stored = self._pages(key)
        found = list(dict.fromkeys(number for _, numbers in stored for number in numbers))
        if not stored:
            return found
        for page, _ in stored:
            if page is not None:
                self.index.put(page_key(key, page), None)
        self.index.put(key, None)
        for number in found:
            self._unlist(key, number)
        return found

    def sweep(self, key: str, keep: Callable[[str], bool]) -> None:
        """Keep under ``key`` the documents ``keep`` says (asked once each, in order): the pages whose documents
        changed are written again, those left empty dropped, and a page merged into the one before when both fit
        in one, so the pages stay at least half full on average. Nothing is written when ``keep`` keeps all."""
        stored = self._pages(key)
        seen: set[str] = set()
        swept = []
        for page, numbers in stored:
            still = []
            for number in numbers:
                if number in seen:
                    continue  # listed again after its key was paged (see the module's note)
                seen.add(number)
                if keep(number):
                    still.append(number)
                else:
                    self._unlist(key, number)
            swept.append(_Page(page, still, still != numbers))
        if any(page.changed for page in swept):
            paged = [page for page, _ in stored if page is not None]
            self._rewrite(key, None if len(paged) < len(stored) else paged, swept)

    def _pages(self, key: str) -> list[tuple[int | None, list[str]]]:
        """The numbers of each page of ``key`` (a key kept whole before: one page numbered None)."""
        head = self.index.get(key) or {}
        if "documents" in head:
            return [(None, list(head["documents"]))]
        return [(page, list((self.index.get(page_key(key, page)) or {}).get("documents") or ()))
                for page in head.get("pages") or ()]

    def _rewrite(self, key: str, stored: list[int] | None, swept: list[_Page]) -> None:
        """Write ``swept`` (what is left of the pages numbered ``stored``; None: of a key kept whole before) as the
        pages of ``key``: each at most :data:`PAGE` numbers, merged into the page before when both fit."""
        pages: list[_Page] = []
        for page in swept:
            for start in range(0, len(page.documents), PAGE):
                part = _Page(page.number if start == 0 else None, page.documents[start:start + PAGE], page.changed)
                if pages and len(pages[-1].documents) + len(part.documents) <= PAGE:
                    pages[-1] = _Page(pages[-1].number, pages[-1].documents + part.documents, True)
                else:
                    pages.append(part)
        before = stored or []
        following = max(before, default=-1) + 1
        numbers = []
        for page in pages:
            number = page.number
            if number is None:
                number, following = following, following + 1
            if page.changed or page.number is None:
                self.index.put(page_key(key, number), {"documents": page.documents})
            numbers.append(number)
        for gone in sorted(set(before) - set(numbers)):
            self.index.put(page_key(key, gone), None)
        if numbers != stored:
            self.index.put(key, {"pages": numbers} if numbers else None)

    def _unlist(self, key: str, number: str) -> None:
        """Document ``number``'s entry no longer names ``key`` (written only when it did)."""
        entry = self.entries.get(number)
        listed = (entry or {}).get(INDEXED_UNDER) or ()
        if entry is not None and key in listed:
            self.entries.put(number, {**entry, INDEXED_UNDER: [k for k in listed if k != key]})
