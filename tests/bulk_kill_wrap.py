"""Run ``segbridge`` and SIGKILL itself at one point of the push's bulk path.

    python tests/bulk_kill_wrap.py POINT N -- --config FILE -q push

POINT names where, N which occurrence (1 = the first request's):

- ``detect-after``: the module was detected, nothing planned yet;
- ``sent-before`` / ``sent-uncommitted`` / ``sent-after``: around marking a request's
  steps ``sent`` (uncommitted: its statements ran, the commit never happened);
- ``persist-before`` / ``persist-uncommitted`` / ``persist-after``: around recording a
  request's answer (before: the answer arrived, nothing recorded);
- ``close-before`` / ``close-after``: around closing the batch.

The kill is the real SIGKILL of this process; nothing in segbridge knows about it. (The
kills before and after a request reaches the shop are made by the test's HTTP proxy.)
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

POINTS = ("detect-after", "sent-before", "sent-uncommitted", "sent-after", "persist-before",
          "persist-uncommitted", "persist-after", "close-before", "close-after")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    point, nth = sys.argv[1], int(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1:]
    if point not in POINTS:
        raise SystemExit(f"unknown point {point!r}")
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from bridge.push import apply, bulk, service

    armed = {"commit": False}

    def on_commit(session: Any) -> None:
        if armed["commit"]:
            die()

    event.listen(Session, "before_commit", on_commit)
    where, _, when = point.partition("-")
    seen = {"n": 0}

    def wrap(owner: Any, name: str) -> None:
        real = getattr(owner, name)

        def wrapped(*args: Any, **kw: Any) -> Any:
            seen["n"] += 1
            hit = seen["n"] == nth
            if hit and when == "before":
                die()
            armed["commit"] = hit and when == "uncommitted"
            try:
                out = real(*args, **kw)
            finally:
                armed["commit"] = False
            if hit and when == "after":
                die()
            return out

        setattr(owner, name, wrapped)

    target = {"detect": (service, "choose_module"), "sent": (bulk, "mark_sent"),
              "persist": (apply, "persist_outcomes"), "close": (apply, "close_batch")}[where]
    wrap(*target)
    from bridge.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    raise SystemExit(main())
