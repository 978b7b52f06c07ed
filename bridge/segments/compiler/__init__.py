"""Compile segments into SQL that runs inside the store database (SQLite, PostgreSQL, MariaDB).

The plan, for any number of segments:

1. One grouped pass per source table fills a temporary table of per-customer
   aggregates: every distinct (period, status, website) combination that any sales
   condition of any segment uses becomes columns of ONE ``GROUP BY`` over orders;
   product and address conditions become 0/1 flag columns of one pass over items or
   addresses; the active cart is picked once per website scope.
2. One ``SELECT`` over customers LEFT JOINs those tables and computes every segment's
   membership as a boolean column (``membership``).

The modules, each importing only those above it:

- ``sql``: tables, dialect-specific expressions, exact units, balanced AND/OR, temp tables;
- ``compare``: one operator and value against a column, never NULL;
- ``state``: Lookups, Step, CompiledPlan, and State (one compilation's registries);
- the passes: ``orders`` (sales.*), ``items`` (product.ordered), ``addresses``
  (sales.order_address.*, address.*), ``cart`` (cart.*, product.in_cart),
  ``activity`` (product.in_wishlist, product.viewed: the storefront module's data); and
  ``customers`` (customer.*: columns of the membership SELECT, no pass);
- ``membership``: hands each condition to its pass, collects the passes' steps, builds
  the membership SELECT.

Adding a condition: its leaf and its temp-table step go in a pass module (a new table,
e.g. wishlist or product views: a new module beside ``items``, its registry in
``State``); dispatch it in ``membership.leaf`` and add its steps in
``membership.pass_steps``. Which customers the SELECT considers (deleted ones are left
out; an opt-out would be too) is decided in ``membership.membership_select``'s WHERE.
"""

from bridge.segments.compiler.membership import compile_segments
from bridge.segments.compiler.sql import fill_statements, fill_table
from bridge.segments.compiler.state import CompiledPlan, Lookups, Step

__all__ = [
    "CompiledPlan",
    "Lookups",
    "Step",
    "compile_segments",
    "fill_statements",
    "fill_table",
]
