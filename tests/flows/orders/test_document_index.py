"""The document flow's index pages (streams.flows.orders.index) over in-memory stores: bounded pages, a document
listed once, sweeps that keep the pages full enough, and lists kept whole by an older version."""

from __future__ import annotations

from typing import Any

import pytest

from streams.flows.engine.stores import MemoryStore
from streams.flows.orders.index import INDEXED_UNDER, PAGE, DocumentIndex, page_key

pytestmark = pytest.mark.unit

KEY = "party=C-1"


def listed(count: int) -> tuple[DocumentIndex, MemoryStore, MemoryStore, list[str]]:
    """An index listing ``count`` documents under KEY, each with its entry, as the flow writes them."""
    index, documents = MemoryStore("index"), MemoryStore("documents")
    pages = DocumentIndex(index, documents)
    numbers = [f"SO-{n:06d}" for n in range(count)]
    for number in numbers:
        document: dict[str, Any] = {"crm": {}}
        pages.add(KEY, number, document)
        documents.put(number, document)
    return pages, index, documents, numbers


def sizes(index: MemoryStore) -> list[int]:
    head = index.get(KEY) or {}
    return [len((index.get(page_key(KEY, page)) or {})["documents"]) for page in head.get("pages", ())]


def test_documents_go_in_pages_in_the_order_added_and_once() -> None:
    pages, index, documents, numbers = listed(2 * PAGE + 1)
    assert index.get(KEY) == {"pages": [0, 1, 2]} and sizes(index) == [PAGE, PAGE, 1]
    assert pages.documents(KEY) == numbers
    document = documents.get(numbers[7]) or {}
    assert document[INDEXED_UNDER] == [KEY]
    index.take_changes()
    pages.add(KEY, numbers[7], document)
    assert index.take_changes() == {}  # listed already: its entry says so, and no page is read or written


def test_a_sweep_drops_what_no_longer_waits_and_merges_pages_that_fit_in_one() -> None:
    pages, index, documents, numbers = listed(2 * PAGE + 101)
    index.take_changes()
    pages.sweep(KEY, lambda number: True)
    assert index.take_changes() == {}  # all kept: nothing written
    pages.sweep(KEY, lambda number: numbers.index(number) % 2 == 1)
    kept = numbers[1::2]
    assert pages.documents(KEY) == kept
    assert index.get(KEY) == {"pages": [0, 2]} and sizes(index) == [PAGE, 50]
    assert index.get(page_key(KEY, 1)) is None
    assert (documents.get(numbers[0]) or {})[INDEXED_UNDER] == []  # no longer listed there
    pages.sweep(KEY, lambda number: False)
    assert len(index) == 0


def test_take_empties_the_key_and_the_documents_no_longer_say_they_are_listed() -> None:
    pages, index, documents, numbers = listed(PAGE + 3)
    assert pages.take(KEY) == numbers
    assert len(index) == 0 and pages.take(KEY) == []
    assert all((documents.get(number) or {})[INDEXED_UNDER] == [] for number in numbers)
    document = documents.get(numbers[0]) or {}
    pages.add(KEY, numbers[0], document)  # listed again, under the key made anew
    assert pages.documents(KEY) == [numbers[0]] and document[INDEXED_UNDER] == [KEY]


def test_a_list_kept_whole_by_an_older_version_is_read_and_paged_when_written() -> None:
    index, documents = MemoryStore("index"), MemoryStore("documents")
    pages = DocumentIndex(index, documents)
    numbers = [f"SO-{n:06d}" for n in range(3 * PAGE + 7)]
    index.put(KEY, {"documents": numbers})
    assert pages.documents(KEY) == numbers
    index.take_changes()
    pages.sweep(KEY, lambda number: True)
    assert index.take_changes() == {}  # read, not written
    document: dict[str, Any] = {}
    pages.add(KEY, numbers[3], document)
    assert index.get(KEY) == {"pages": [0, 1, 2, 3]} and sizes(index) == [PAGE, PAGE, PAGE, 7]
    assert document[INDEXED_UNDER] == [KEY]

    pages.add(KEY, "SO-new", {})
    assert sizes(index) == [PAGE, PAGE, PAGE, 8]
    assert pages.documents(KEY) == [*numbers, "SO-new"]
    pages.add(KEY, numbers[0], {})  # its entry, written before, names no key: listed once more, read once
    assert pages.documents(KEY) == [*numbers, "SO-new"]
    pages.sweep(KEY, lambda number: True)  # and a sweep drops the copy
    assert sizes(index) == [PAGE, PAGE, PAGE, 8]


def test_a_sweep_pages_a_list_kept_whole_by_an_older_version() -> None:
    index, documents = MemoryStore("index"), MemoryStore("documents")
    pages = DocumentIndex(index, documents)
    numbers = [f"SO-{n:06d}" for n in range(2 * PAGE + 7)]
    index.put(KEY, {"documents": numbers})
    pages.sweep(KEY, lambda number: number != numbers[0])
    assert index.get(KEY) == {"pages": [0, 1, 2]} and sizes(index) == [PAGE, PAGE, 6]
    assert pages.documents(KEY) == numbers[1:]
    assert pages.take(KEY) == numbers[1:] and len(index) == 0
