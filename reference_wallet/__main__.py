"""Entry point.

``python -m reference_wallet --host 127.0.0.1 --port P --database-url DSN [--defects a,b] [--workers N]``
with the admin token in ``--admin-token`` or, better (not visible in ps), ``WALLET_ADMIN_TOKEN``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import fields, replace

import uvicorn

from . import defects as catalog
from .config import Settings


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Settings]:
    p = argparse.ArgumentParser(prog="python -m reference_wallet", description="walletchaos reference wallet")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--database-url", default=os.environ.get("WALLET_DATABASE_URL"))
    p.add_argument(
        "--admin-token",
        default=os.environ.get("WALLET_ADMIN_TOKEN"),
        help="admin bearer token (or env WALLET_ADMIN_TOKEN); there is no default",
    )
    p.add_argument("--defects", default="", help=f"comma list from: {', '.join(sorted(catalog.CATALOG))}")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a setting, e.g. --set lockout_window_s=5 (see reference_wallet/config.py)",
    )
    args = p.parse_args(argv)
    if not args.database_url or not args.admin_token:
        p.error("--database-url and --admin-token (or WALLET_DATABASE_URL / WALLET_ADMIN_TOKEN) are required")
    try:
        chosen = catalog.parse(args.defects)
    except ValueError as exc:
        p.error(str(exc))
    kinds = {f.name: f.type for f in fields(Settings)}
    overrides: dict[str, object] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in kinds or name in ("database_url", "admin_token", "defects", "extra"):
            p.error(f"--set {item}: unknown setting '{name}'")
        caster = {"int": int, "float": float, "str": str}.get(str(kinds[name]), str)
        try:
            overrides[name] = caster(value)
        except ValueError:
            p.error(f"--set {item}: expected {kinds[name]}")
    base = Settings(database_url=args.database_url, admin_token=args.admin_token, defects=chosen)
    settings = replace(base, **overrides)  # type: ignore[arg-type]
    return args, settings


def main(argv: list[str] | None = None) -> None:
    args, settings = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if settings.has("crash_on_start"):
        logging.getLogger("reference_wallet").error("defect crash_on_start: exiting during start-up")
        sys.exit(3)
    os.environ["WALLET_SETTINGS_ARGV"] = "\x1f".join(sys.argv[1:] if argv is None else argv)
    uvicorn.run(
        "reference_wallet.server:app",
        factory=False,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
