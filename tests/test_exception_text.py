"""An exception without text (httpx's ReadError of a reset connection) is named by its type and the first cause
that says something, so a reason never ends in an empty cause."""

from __future__ import annotations

from streams.errors import exception_text


def _chained(outer: Exception, *causes: Exception) -> Exception:
    current: BaseException | None = None
    for cause in reversed(causes):
        cause.__cause__ = current
        current = cause
    outer.__cause__ = current
    return outer


def test_text_is_kept_and_an_empty_one_takes_the_type_and_the_first_cause_that_says_something() -> None:
    assert exception_text(OSError("connection refused")) == "connection refused"
    assert exception_text(_chained(OSError(""), RuntimeError(""), ConnectionResetError(104, "reset by peer"))) == (
        "OSError (ConnectionResetError: [Errno 104] reset by peer)")
    assert exception_text(_chained(OSError(" "), RuntimeError(""))) == "OSError from RuntimeError, with no message"
    assert exception_text(ValueError()) == "ValueError, with no message"
