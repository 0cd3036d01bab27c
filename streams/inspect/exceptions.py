"""Errors of topic inspection."""

from __future__ import annotations

from streams.errors import IsthmusError


class InspectError(IsthmusError):
    """Topic inspection failed."""


class BadExpression(InspectError):
    """A ``--where`` expression does not parse."""


class BadSeek(InspectError):
    """A ``--since``, ``--offset`` or ``--partition`` value is not usable."""


class BadFilter(InspectError):
    """A ``--header`` or ``--key`` filter is malformed."""


class UnknownTopic(InspectError):
    """The topic does not exist in the cluster."""


class BadTokens(InspectError):
    """The token configuration (``ISTHMUS_TOKENS`` or the tokens file) is malformed."""


class AccessDenied(InspectError):
    """The caller's role does not allow the action."""
