"""Column types from the real system: a database's catalog, read live (``live``: PostgreSQL, MariaDB, MySQL)
and recorded in a checked-in columns file (``systems/<name>.columns.yaml``) that mapping files are checked
against. ``isthmus mappings discover <system>`` writes it; ``--check`` reports drift."""

from streams.catalog.columns_file import path_for, read, read_all, render, write
from streams.catalog.exceptions import CatalogError, ColumnsFileError
from streams.catalog.model import Catalog, Column, Table, differences

__all__ = ["Catalog", "CatalogError", "Column", "ColumnsFileError", "Table", "differences", "path_for", "read",
           "read_all", "render", "write"]
