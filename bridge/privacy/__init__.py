"""Privacy by design (docs/privacy.md): keep only the fields segments read
(``keep``), honour objection (``optout``) and erasure (``erase``, ``sweep``,
``segbridge forget``), answer access requests (``subject``), purge old history
(``retention``)."""
