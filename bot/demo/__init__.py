"""`baton demo`: a self-contained sandbox of git remotes, a codemod and a `baton.yml`."""

from __future__ import annotations

from bot.demo.sandbox import NEW_PATH, OLD_PATH, REQUEST, Sandbox, create_sandbox

__all__ = ["NEW_PATH", "OLD_PATH", "REQUEST", "Sandbox", "create_sandbox"]
