"""The ASGI app object for uvicorn (rebuilt from the command line so that ``--workers N`` works)."""

from __future__ import annotations

import os

from .__main__ import parse_args
from .app import create_app

_argv = os.environ.get("WALLET_SETTINGS_ARGV", "")
app = create_app(parse_args(_argv.split("\x1f") if _argv else None)[1])
