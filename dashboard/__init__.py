"""The fleet web dashboard: static files (no build step) that the hub serves at `/`.

It is a client of the hub's public API and live stream like any other; nothing here imports
the hub.
"""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""index.html (the login page and app shell) and assets/ (JS modules, CSS)."""
