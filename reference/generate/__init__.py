"""Sample data for the reference CRM and ERP: deterministic for a seed, bulk-loaded into both databases.

``generate(spec, crm=..., erp=...)`` is the importable entry; ``python -m reference.generate`` the command.
"""

from reference.generate.data import GenerationSpec
from reference.generate.load import GenerationSummary, generate

__all__ = ["GenerationSpec", "GenerationSummary", "generate"]
