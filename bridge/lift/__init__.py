"""Holdouts and measured lift: keep a stable share of a segment's members out of its push,
and compare what the treated and the held-out members bought.

``holdout`` is the hash rule deciding who is held out, ``stats`` the intervals and tests
(pure Python), ``compute`` reads a store and returns a typed :class:`compute.Lift`,
``command`` is ``segbridge lift``. Nothing is imported here: the segment loader reads
``holdout`` and must not pull the store's models (and SQLAlchemy) in with it.
"""
