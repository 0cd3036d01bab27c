"""One module per service of the local stack; ``all_services`` lists them in start order."""

from __future__ import annotations

from streams.stack.services.base import Service, ServiceContext
from streams.stack.services.connect import KafkaConnect
from streams.stack.services.crm_db import CrmDatabase
from streams.stack.services.erp_db import ErpDatabase
from streams.stack.services.kafka import KafkaBroker
from streams.stack.services.reference_apps import CrmApi, ErpApi

SERVICE_TYPES: tuple[type[Service], ...] = (CrmDatabase, ErpDatabase, KafkaBroker, KafkaConnect, CrmApi, ErpApi)


def all_services(ctx: ServiceContext) -> list[Service]:
    return [service_type(ctx) for service_type in SERVICE_TYPES]


__all__ = ["SERVICE_TYPES", "Service", "ServiceContext", "all_services"]
