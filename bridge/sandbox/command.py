"""``segbridge sandbox``: serve the sandbox in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any


def cmd_sandbox(ctx: Any, args: argparse.Namespace) -> int:
    """Generate the shop, print how to point segbridge at it, serve until interrupted."""
    from bridge.sandbox.server import SandboxServer, serve_in_this_process

    serve_in_this_process()

    # SIGTERM stops the server from the moment it could be sent (a caller that read the
    # first line may send it while the rest is still being printed)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    old = signal.signal(signal.SIGTERM, on_signal)
    host = getattr(args, "host", "127.0.0.1") or "127.0.0.1"
    t0 = time.perf_counter()
    module = getattr(args, "module", True)  # False: `segbridge sandbox --no-module`
    # `--simulate-days N`: the shop starts N days back, for POST /__sandbox/simulate to
    # play; `--uplift GROUP=SHARE` (repeatable): the uplift it plays (bridge.sandbox.simulate)
    days = getattr(args, "simulate_days", 0) or 0
    uplift = dict(getattr(args, "uplift", None) or [])
    server = SandboxServer(customers=args.customers, seed=args.seed, port=args.port, host=host,
                           module=module, simulate_days=days, uplift=uplift)
    took = time.perf_counter() - t0
    shop = server.shop
    info = {
        "base_url": server.base_url,
        "rest_url": server.rest_url("all"),
        "customers": len(shop.customers),
        "orders": len(shop.orders),
        "carts": len(shop.carts),
        "seed": args.seed,
        "module": module,
        "simulate_days": days,
        "uplift": uplift,
        "token_env": {"MAGENTO_TOKEN": server.token},
        "admin": {"username": server.admin_username},
    }
    if getattr(ctx, "json", False):
        ctx.emit_json(info)
    else:
        print(f"segbridge sandbox: {server.base_url}  ({info['customers']} customers, "
              f"{info['orders']} orders, {info['carts']} carts, seed {args.seed}; "
              f"generated in {took:.1f}s)")
        if module:
            print("It serves segbridge's storefront module routes too (/V1/segbridge/...); "
                  "--no-module serves a store without them.")
        else:
            print("Without segbridge's storefront module: /V1/segbridge/... answers 404.")
        print("Point segbridge at it with, in segbridge.toml:")
        print(f'  [magento]\n  base_url = "{server.base_url}"\n  store_code = "all"')
        print('  [magento.auth]\n  method = "token"\n  token_env = "MAGENTO_TOKEN"')
        print("and in the shell (a sandbox-only token, not a secret):")
        print(f"  export MAGENTO_TOKEN={server.token}")
        print("OAuth 1.0a and admin credentials: the defaults of "
              "bridge.sandbox.server.OAuthCredentials / SandboxServer")
        print(f"Control routes: {server.base_url}/__sandbox/info, /__sandbox/stats, "
              "/__sandbox/faults, /__sandbox/touch, /__sandbox/clock, /__sandbox/simulate")
        if days:
            pushed = ", ".join(f"group {code} {share * 100:+.0f} %"
                               for code, share in uplift.items())
            print(f"The shop's clock runs {days} day(s) behind: POST /__sandbox/simulate "
                  "plays them (" + (f"orders a day: {pushed} against the other groups"
                                    if pushed else "every group ordering alike") + ").")
        print("Ctrl-C stops it.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
        server.close()
    return 0
