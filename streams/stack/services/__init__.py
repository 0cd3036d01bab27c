"""One module per service of the local stack; ``all_services`` lists them in start order.

``SERVICE_TYPES`` are the stack a plain ``isthmus up`` starts; ``OPTIONAL_SERVICE_TYPES`` start only when named
(``isthmus up tryton``) and are listed by ``isthmus status`` only while they run.
"""

from __future__ import annotations

from streams.stack.services.base import Service, ServiceContext
from streams.stack.services.connect import KafkaConnect
from streams.stack.services.crm_db import CrmDatabase
from streams.stack.services.erp_db import ErpDatabase
from streams.stack.services.kafka import KafkaBroker
from streams.stack.services.reference_apps import CrmApi, ErpApi
from streams.stack.services.tryton import TrytonServer

SERVICE_TYPES: tuple[type[Service], ...] = (CrmDatabase, ErpDatabase, KafkaBroker, KafkaConnect, CrmApi, ErpApi)
OPTIONAL_SERVICE_TYPES: tuple[type[Service], ...] = (TrytonServer,)


def all_services(ctx: ServiceContext) -> list[Service]:
    """The default stack's services, in start order."""
    return [service_type(ctx) for service_type in SERVICE_TYPES]


def every_service(ctx: ServiceContext) -> list[Service]:
    """The default services, then the optional ones."""
    return [service_type(ctx) for service_type in (*SERVICE_TYPES, *OPTIONAL_SERVICE_TYPES)]


__all__ = ["OPTIONAL_SERVICE_TYPES", "SERVICE_TYPES", "Service", "ServiceContext", "all_services", "every_service"]
