"""Field types shared by both APIs: exact money and quantities, and times that must carry an offset.

Money and quantities are accepted as JSON numbers or strings and always answered as strings with a fixed
number of places ("12.50"), so no client ever sees a float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, Field, PlainSerializer

MoneyIn = Annotated[Decimal, Field(max_digits=14, decimal_places=2, ge=0,
                                   description="exact amount, as a number or string, at most 2 decimals")]
SignedMoneyIn = Annotated[Decimal, Field(max_digits=14, decimal_places=2,
                                         description="exact amount, number or string, at most 2 decimals")]
PriceIn = Annotated[Decimal, Field(max_digits=12, decimal_places=2, ge=0,
                                   description="exact price, as a number or string, at most 2 decimals")]
QuantityIn = Annotated[Decimal, Field(max_digits=14, decimal_places=3, gt=0,
                                      description="quantity above zero, at most 3 decimals")]
StockIn = Annotated[Decimal, Field(max_digits=14, decimal_places=3, ge=0,
                                   description="quantity, zero or more, at most 3 decimals")]
TimeIn = Annotated[AwareDatetime, Field(description="ISO 8601 time with an offset")]


def money_text(value: Decimal) -> str:
    return f"{value:.2f}"


def quantity_text(value: Decimal) -> str:
    return f"{value:.3f}"


Money = Annotated[Decimal, PlainSerializer(money_text, return_type=str, when_used="json"),
                  Field(examples=["12.50"])]
Quantity = Annotated[Decimal, PlainSerializer(quantity_text, return_type=str, when_used="json"),
                     Field(examples=["5.000"])]
Time = Annotated[datetime, Field(description="ISO 8601 time with an offset")]
