"""The two systems the customer flow bridges, by their names in ``systems/``.

The flow still knows which side is the CRM (customers, contacts, addresses) and which the ERP (accounts):
these names are the one place it says so, until the flow is generic over mapping roles."""

from __future__ import annotations

CRM, ERP = "crm", "erp"
