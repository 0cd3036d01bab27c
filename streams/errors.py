"""The root of every error Isthmus raises on purpose; each package subclasses it in its own exceptions module."""


class IsthmusError(Exception):
    """Something Isthmus detected and can explain: the message says what, where, and what to do."""


def exception_text(exc: BaseException) -> str:
    """What ``exc`` says, for a message: its text, or, where it has none (httpx's ``ReadError`` of a connection
    reset, a full listen backlog), its type and what the first cause in its chain says (``ReadError
    (ConnectionResetError: [Errno 104] Connection reset by peer)``), or the types alone."""
    text = str(exc).strip()
    if text:
        return text
    names = [type(exc).__name__]
    seen = {id(exc)}
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        said = str(cause).strip()
        if said:
            return f"{names[0]} ({type(cause).__name__}: {said})"
        names.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return f"{' from '.join(names)}, with no message"
