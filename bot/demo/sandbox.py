"""The `baton demo` sandbox: the pitch "rename an API endpoint its client services depend on", made
real, deterministic and offline.

`create_sandbox(root)` lays out, under `root`:

    remotes/inventory-api.git   a stdlib HTTP API serving GET /v1/items, with its own unittest tests
    remotes/<client>.git        six client services calling that path (storefront, billing, checkout,
                                search, warehouse, mobile-bff; more are client-7, ...), tested
                                against a fake provider built from a vendored contract
    tools/rename_endpoint.py    the codemod the `script` agent runs in each working tree
    baton.yml                   repos (clients depend on the API), agent `renamer`, policy, playbook

Each remote is a real bare git repository whose `main` holds one commit with a fixed author and
date, so the same sandbox has the same SHAs on every machine. The repos' sources are package data
under `bot/demo/templates/` (`.tmpl` files, so linters and type checkers leave them alone).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

API_REPO = "inventory-api"
OLD_PATH = "/v1/items"
NEW_PATH = "/v1/products"
REQUEST = f"Rename the {OLD_PATH} endpoint to {NEW_PATH} in {API_REPO} and every client"
AGENT = "renamer"
CODEMOD = "tools/rename_endpoint.py"
CLIENT_NAMES = ("storefront", "billing", "checkout", "search", "warehouse", "mobile-bff")
"""Names of the first clients (the pitch's six); later ones are client-7, client-8, ..."""
DEFAULT_CLIENTS = len(CLIENT_NAMES)
MAX_CLIENTS = 16

_AUTHOR = "Demo <demo@localhost>"
_DATE = "1700000000 +0000"  # fixed, so every sandbox has the same SHAs
_COMMIT_MESSAGE = "Initial commit\n"
_TEMPLATE_SUFFIX = ".tmpl"


class Sandbox(BaseModel):
    """Where a created demo lives; `remotes` lists the API first, then its clients."""

    model_config = ConfigDict(frozen=True)

    root: Path
    remotes: dict[str, Path]
    config_path: Path
    codemod: Path
    request: str = REQUEST
    old_path: str = OLD_PATH
    new_path: str = NEW_PATH

    @property
    def api(self) -> str:
        return API_REPO

    @property
    def clients(self) -> list[str]:
        return [name for name in self.remotes if name != API_REPO]


def client_names(clients: int) -> list[str]:
    """The client repos' names for a sandbox with `clients` clients."""
    if not 0 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be between 0 and {MAX_CLIENTS}, got {clients}")
    return [CLIENT_NAMES[i] if i < len(CLIENT_NAMES) else f"client-{i + 1}" for i in range(clients)]


def checks_command() -> str:
    """The repos' check: their unittest suites, run by this interpreter, writing no bytecode."""
    return f"{shlex.quote(sys.executable)} -B -m unittest discover -q"


def create_sandbox(root: Path, clients: int = DEFAULT_CLIENTS) -> Sandbox:
    """Create (or reset) the demo under `root`: bare remotes, the codemod and `baton.yml`."""
    names = client_names(clients)
    root = root.resolve()
    (root / "remotes").mkdir(parents=True, exist_ok=True)
    remotes = {API_REPO: root / "remotes" / f"{API_REPO}.git"}
    remotes |= {name: root / "remotes" / f"{name}.git" for name in names}

    templates = resources.files(__package__ or "bot.demo").joinpath("templates")
    common = _read_tree(templates / "common")
    for name, remote in remotes.items():
        if name == API_REPO:
            files = _read_tree(templates / API_REPO)
            values = {"items_path": OLD_PATH}
        else:
            files = _read_tree(templates / "client")
            values = {"items_path": OLD_PATH, "service": name, "package": _package(name)}
        _publish(remote, _render(common | files, values))

    codemod = root / CODEMOD
    codemod.parent.mkdir(parents=True, exist_ok=True)
    codemod.write_text(templates.joinpath(CODEMOD + _TEMPLATE_SUFFIX).read_text("utf-8"), "utf-8")
    codemod.chmod(0o755)

    config_path = root / "baton.yml"
    header = f"# baton demo sandbox: {REQUEST}\n"
    body = yaml.safe_dump(_config(remotes, codemod), sort_keys=False, default_flow_style=False)
    config_path.write_text(header + body, encoding="utf-8")
    return Sandbox(root=root, remotes=remotes, config_path=config_path, codemod=codemod)


def _config(remotes: dict[str, Path], codemod: Path) -> dict[str, Any]:
    """The `baton.yml` mapping for these remotes (validated by `bot.config.models` when loaded)."""
    repos: list[dict[str, Any]] = []
    for name, remote in remotes.items():
        repo: dict[str, Any] = {
            "name": name,
            "url": str(remote),
            "default_branch": "main",
            "checks": checks_command(),
        }
        if name != API_REPO:
            repo["depends_on"] = [API_REPO]
        repos.append(repo)
    return {
        "repos": repos,
        "agents": [
            {
                "name": AGENT,
                "kind": "script",
                "command": [sys.executable, str(codemod), OLD_PATH, NEW_PATH],
                "timeout_s": 60,
            }
        ],
        "routing": {"default_agent": AGENT},
        "playbooks": {
            "default": {
                "description": "Run the codemod in each repo; retry once if its checks fail.",
                "per_repo": {"verify": {"do": {"agent": AGENT}, "max_attempts": 2}},
            }
        },
        "approval": {"approvers": ["cli:*"], "require_green_checks": True},
        # Every client at once: the pitch is one request changing them all concurrently.
        "concurrency": {"per_run": max(1, len(remotes) - 1), "global": max(8, len(remotes))},
    }


def _package(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")


def _read_tree(folder: Traversable, prefix: str = "") -> dict[str, str]:
    """Every template under `folder`, by its path relative to it (suffix still on)."""
    found: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found |= _read_tree(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(_TEMPLATE_SUFFIX):
            found[prefix + entry.name] = entry.read_text("utf-8")
    return found


def _render(files: dict[str, str], values: dict[str, str]) -> dict[str, bytes]:
    """Fill `{{key}}` placeholders; `package/` becomes the package, `gitignore` `.gitignore`."""
    rendered: dict[str, bytes] = {}
    for template_path, text in files.items():
        parts = template_path.removesuffix(_TEMPLATE_SUFFIX).split("/")
        if parts[0] == "package":
            parts[0] = values["package"]
        if parts[-1] == "gitignore":
            parts[-1] = ".gitignore"
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        if "{{" in text:
            raise ValueError(f"unfilled placeholder in template {template_path}")
        rendered["/".join(parts)] = text.encode("utf-8")
    return rendered


def _git_env() -> dict[str, str]:
    """Git that ignores the user's configuration and commits as the demo's author."""
    name, email = _AUTHOR.removesuffix(">").split(" <")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": _DATE,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_COMMITTER_DATE": _DATE,
    }
    return env


def _publish(remote: Path, files: dict[str, bytes]) -> None:
    """A fresh bare repo at `remote` whose `main` is one commit holding `files`.

    One `git fast-import` writes the whole commit: no work tree, no index, two processes per repo.
    """
    if remote.exists():
        shutil.rmtree(remote)
    _git(["init", "--quiet", "--bare", "--initial-branch=main", str(remote)])
    message = _COMMIT_MESSAGE.encode("utf-8")
    stream = [
        b"commit refs/heads/main\n",
        f"author {_AUTHOR} {_DATE}\ncommitter {_AUTHOR} {_DATE}\n".encode(),
        b"data %d\n%s\n" % (len(message), message),
    ]
    for path, data in sorted(files.items()):
        stream.append(b"M 100644 inline %s\n" % path.encode("utf-8"))
        stream.append(b"data %d\n%s\n" % (len(data), data))
    _git([f"--git-dir={remote}", "fast-import", "--quiet"], stdin=b"".join(stream))


def _git(args: list[str], stdin: bytes | None = None) -> None:
    done = subprocess.run(["git", *args], input=stdin, env=_git_env(), capture_output=True)
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"git {args[0]} failed ({done.returncode}): {error}")
