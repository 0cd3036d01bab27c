"""Errors of the runtime settings (streams/config)."""

from __future__ import annotations

from streams.errors import IsthmusError


class RuntimeConfigError(IsthmusError):
    """A runtime setting (environment, ``--config`` file or the stack's offer) is invalid or unreadable."""


class TlsFilesUnusable(RuntimeConfigError):
    """The TLS files of the Kafka settings (CA, client certificate, key and its password) do not make a TLS context:
    checked each time a client is built, so a flow retries (files replaced meanwhile are read again)."""
