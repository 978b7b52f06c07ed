#!/usr/bin/env python3
"""Health check for a segbridge daemon: exit 0 when the newest finished run ended well and
recently, else 1 with one line saying why. Reads `segbridge --json status`, nothing else.

    python3 deploy/healthcheck.py --config /etc/segbridge/segbridge.toml --max-age 45

Healthy: the newest run that has ended (any kind: run, resync, sync, evaluate, push) has
status ok or partial (partial: some records were quarantined, `segbridge status` lists
them), and it ended at most --max-age minutes ago. See docs/operations.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime


def verdict(status: dict, now: datetime, max_age_min: float) -> tuple[bool, str]:
    """(healthy, one line) for the parsed `status --json` document."""
    ended = [r for r in status.get("runs", []) if r.get("ended_at")]
    if not ended:
        return False, "no finished run yet"
    last = ended[0]
    at = datetime.fromisoformat(str(last["ended_at"])).replace(tzinfo=UTC)
    age = (now - at).total_seconds() / 60
    what = f"run {last['id']} ({last['kind']}) ended {age:.0f} min ago: {last['status']}"
    if last["status"] not in ("ok", "partial"):
        return False, what + (f" ({last['message']})" if last.get("message") else "")
    if age > max_age_min:
        return False, what + f"; nothing has finished for more than {max_age_min:g} min"
    open_q = status.get("quarantine", {}).get("open", 0)
    return True, what + (f"; {open_q} quarantined record(s)" if open_q else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="segbridge.toml")
    p.add_argument("--max-age", type=float, default=45.0, metavar="MINUTES")
    p.add_argument("--segbridge", default=None, help="the segbridge command (default: on PATH)")
    args = p.parse_args(argv)
    found = args.segbridge or shutil.which("segbridge")
    command = [found] if found else [sys.executable, "-m", "bridge"]
    try:
        done = subprocess.run([*command, "--config", args.config, "--json", "status"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"unhealthy: cannot run segbridge status: {exc}")
        return 1
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [""])[-1]
        print(f"unhealthy: segbridge status exited {done.returncode}: {last}")
        return 1
    try:
        status = json.loads(done.stdout)
    except ValueError:
        print("unhealthy: segbridge status did not answer JSON")
        return 1
    ok, line = verdict(status, datetime.now(UTC), args.max_age)
    print(("healthy: " if ok else "unhealthy: ") + line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
