"""Holdouts and measured lift: keep a stable share of a segment's members out of its push,
and compare what the treated and the held-out members bought.

``holdout`` is the hash rule deciding who is held out, ``stats`` the intervals and tests
(pure Python), ``compute`` reads a store and returns a typed :class:`compute.Lift`.
"""

from bridge.lift.compute import Lift, compute_lift
from bridge.lift.holdout import held_out, is_held_out

__all__ = ["Lift", "compute_lift", "held_out", "is_held_out"]
