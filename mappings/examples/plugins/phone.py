"""Example plugin transform: phone numbers to E.164 (``+8613800138000``).

Used by ``customer_phone_e164.yaml`` through its ``plugins:`` section; nothing in Isthmus had to change.
"""

from __future__ import annotations

import re


def normalize_phone(value: object, *, country_code: str = "86") -> str | None:
    """Keep the digits; a number without a leading + or 00 gets ``country_code`` (a national trunk 0 is dropped)."""
    if value is None:
        return None
    text = str(value).strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return f"+{country_code}{digits.lstrip('0')}"


#: Lets the mapping loader check that the result fits a text field.
normalize_phone.output_kind = "string"  # type: ignore[attr-defined]
