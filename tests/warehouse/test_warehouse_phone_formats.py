"""The phone cleaning rule takes what the CRM and the ERP take (international formats, non-ASCII digits) and
names itself when it refuses a value."""

from __future__ import annotations

import pytest

from streams.warehouse import cleaning
from streams.warehouse.exceptions import RowRejected

PHONE = cleaning.CLEANERS["phone"]


@pytest.mark.parametrize(("raw", "clean"), [
    ("+4930123456", "+4930123456"),                      # E.164 as it is
    ("+44 20 7946 0958", "+442079460958"),
    ("0044 20 7946 0958", "+442079460958"),              # 00 is the international prefix
    ("+49 (0)30 1234567", "+49301234567"),               # the national trunk 0 has no place in E.164
    ("+49 (0) 30-1234567", "+49301234567"),
    ("tel:+1-555-010-0100", "+15550100100"),             # RFC 3966
    ("+1 555 010 0100 ext. 12", "+15550100100;ext=12"),
    ("+1 555 010 0100 x7", "+15550100100;ext=7"),
    ("+1-555-010-0100;ext=345", "+15550100100;ext=345"),
    ("+1\u00a0555\u2011010\u20130100", "+15550100100"),  # no-break space, non-breaking hyphen, en dash
    ("\u0660\u0665\u0660 \u0661\u0662\u0663 \u0664\u0665\u0666\u0667", "0501234567"),  # Arabic-Indic digits
    ("+\u0669\u0667\u0661 \u0665\u0660 \u0661\u0662\u0663 \u0664\u0665\u0666\u0667", "+971501234567"),
    ("\u06f0\u06f9\u06f1\u06f2 \u06f3\u06f4\u06f5 \u06f6\u06f7\u06f8\u06f9", "09123456789"),  # Persian digits
    ("\uff0b\uff18\uff16 \uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", "+8613800138000"),
    ("\uff08\uff10\uff12\uff11\uff09\uff16\uff18\uff18\uff18\uff11\uff12\uff13\uff14", "02168881234"),
])
def test_international_formats_and_any_decimal_digits_are_accepted(raw: str, clean: str) -> None:
    assert PHONE(raw, "phone", None) == clean


@pytest.mark.parametrize(("raw", "reason"), [
    ("555-CALL-NOW", "is not a phone number"),
    ("1+234567", "is not a phone number"),
    ("12-3", "fewer than 5 digits"),
    ("+1234567890123456", "more than 15 digits"),
    ("\u0661\u0662-\u0663", "fewer than 5 digits"),
])
def test_a_refusal_names_the_rule(raw: str, reason: str) -> None:
    with pytest.raises(RowRejected, match=reason) as caught:
        PHONE(raw, "phone", None)
    assert caught.value.rule == "phone"
    assert str(caught.value).endswith("(rule `clean: phone`)")


def test_every_rule_names_itself() -> None:
    with pytest.raises(RowRejected, match=r"^email 'x' is not an e-mail address .*\(rule `clean: email`\)$"):
        cleaning.CLEANERS["email"]("x", "email", None)
    with pytest.raises(RowRejected, match=r"\(rule `clean: text`\)$") as caught:
        cleaning.CLEANERS["text"]("  ", "sku", True)
    assert caught.value.rule == "text"
