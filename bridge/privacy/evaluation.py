"""The evaluation's two privacy hooks (bridge.segments.evaluate calls them)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Engine

from bridge.privacy.keep import refused_segments
from bridge.privacy.optout import drop_opted_out
from bridge.segments.model import Segment

log = logging.getLogger("bridge.privacy")

__all__ = ["drop_opted_out", "refuse_unkept"]


def refuse_unkept(engine: Engine, segments: Sequence[Segment], wanted: Sequence[Segment]
                  ) -> dict[str, str]:
    """The wanted segments that read a field the store does not hold yet, each logged in
    one line that says to run ``segbridge sync``; they are not evaluated and keep their
    members until then."""
    with engine.connect() as conn:
        refused = refused_segments(conn, segments, wanted)
    for line in refused.values():
        log.warning("%s", line)
    return refused
