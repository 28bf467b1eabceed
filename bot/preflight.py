"""Refusing a request before it becomes a run: what it names must exist, and what the run will
start must be there — the repos (configured, their URL readable), the agents (configured, their
program on PATH, every `${VAR}` their environment takes from Baton's set), the repos' checks
program. A mistake is answered in one sentence that names the nearest valid name ("Did you mean
`billing`?") and no failed run is left behind.

`baton run` and every chat source ask `refusal` after building the RunSpec; `baton doctor` asks
`config_problems` for the whole configuration. The engine still validates what it is handed
(bot/engine/planning.py): a run submitted another way fails with the same facts.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.agents.registry import AgentRegistry
from bot.config.agents import AgentConfig
from bot.config.models import BatonFile, RepoConfig
from bot.config.playbooks import ROUTED_AGENT, Node, agents_in
from bot.domain.models import RunSpec
from bot.domain.ports import UnknownAgent
from bot.engine.intake import discovers
from bot.observability.redaction import strip_url_credentials as redact
from bot.scm.git import git_result

READABLE_FOR_S = 300.0
"""A repo URL that answered `git ls-remote` is not asked again for this long (chat stays quick)."""
LS_REMOTE_TIMEOUT_S = 10.0
"""Chat sources answer their webhooks after this check: GitHub wants an answer within 10 s."""
NAME_REPOS = "Add `repo=a,b` to the request."
"""How a chat request names its repos; `baton run` says `--repo` instead."""

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# The first word of a checks command that is the shell's own, or shell syntax: nothing to look up.
_SHELL_WORDS = frozenset(
    {
        *("!", ".", ":", "[", "[[", "{", "(", "cd", "export", "set", "unset", "test", "true", "false"),
        *("exec", "eval", "source", "command", "builtin", "echo", "printf", "exit", "umask", "ulimit"),
        *("time", "if", "for", "while", "until", "case", "trap"),
    }
)
_SHELL_SYNTAX = re.compile(r"[$`;&|<>(){}*?]")

Probe = Callable[[str], str | None]
"""A URL → None when it is readable, else what git said."""


def suggestion(name: str, known: Iterable[str]) -> str | None:
    """The known name nearest to `name` (a typo's intent), if any is near enough."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(names: Iterable[str], known: Iterable[str]) -> str:
    """ " Did you mean `x`?" for the first of `names` that has a near known name; "" otherwise."""
    listed = list(known)
    for name in names:
        near = suggestion(name, listed)
        if near is not None:
            return f" Did you mean `{near}`?"
    return ""


def _ticked(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


# -- what exists where -----------------------------------------------------------------------------
class _Readable:
    """`git ls-remote` of repo URLs, successes remembered for READABLE_FOR_S."""

    def __init__(self) -> None:
        self._ok: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str) -> str | None:
        with self._lock:
            if time.monotonic() - self._ok.get(url, -READABLE_FOR_S) < READABLE_FOR_S:
                return None
        try:
            scratch = Path(tempfile.gettempdir())
            proc = git_result(["ls-remote", "--heads", "--", url], scratch, timeout=LS_REMOTE_TIMEOUT_S)
        except Exception as err:  # a timeout (GitError) or git missing: the URL is not readable from here
            return redact(str(err))[:300]
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("hint:")]
            return redact(lines[0] if lines else f"git ls-remote exited {proc.returncode}")[:300]
        with self._lock:
            self._ok[url] = time.monotonic()
        return None


readable: Probe = _Readable()


def program_problem(agent: AgentConfig) -> str | None:
    """Why the agent's program cannot be started from here, or None."""
    argv = agent.argv_prefix
    program = argv[0] if argv else ""
    if not program:
        return f"agent `{agent.name}` has an empty command"
    if "/" in program:
        # A relative path is resolved in the repo's checkout, which does not exist yet: nothing to check.
        missing = os.path.isabs(program) and not os.access(program, os.X_OK)
    else:
        missing = shutil.which(program) is None
    return f"agent `{agent.name}` runs `{program}`, which is not found on this machine's PATH" if missing else None


def env_problem(agent: AgentConfig, environ: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """The first `${VAR}` the agent's environment (or an MCP server's) takes from Baton's that is not set."""
    values = [*agent.env.items()]
    for server in agent.mcp_servers.values():
        values += server.env.items()
    for key, value in values:
        for name in _VAR.findall(value):
            if name not in environ:
                return f"agent `{agent.name}` needs ${{{name}}} (for {key}), which is not set in Baton's environment"
    return None


def checks_program(command: str) -> str | None:
    """The program a checks command starts (its first word after `VAR=value` assignments), when it
    is one PATH decides; None for shell words, syntax and paths inside the repo."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    words = [w for w in words if not _ASSIGNMENT.match(w)] or [""]
    first = words[0]
    if not first or first in _SHELL_WORDS or "/" in first or _SHELL_SYNTAX.search(first):
        return None
    return first


def checks_problem(repo: RepoConfig) -> str | None:
    program = checks_program(repo.checks or "")
    if program is None or shutil.which(program) is not None:
        return None
    return f"the checks of `{repo.name}` run `{program}`, which is not found on this machine's PATH"


def url_problems(repos: list[RepoConfig], probe: Probe) -> list[str]:
    """One line per repo whose URL `git ls-remote` cannot read, asked concurrently."""
    if not repos:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(repos))) as pool:
        answers = list(pool.map(lambda r: probe(r.url), repos))
    return [
        f"cannot read repo `{r.name}` at {redact(r.url)}: {answer}"
        for r, answer in zip(repos, answers, strict=True)
        if answer is not None
    ]


# -- a request ---------------------------------------------------------------------------------------
def _names_problem(config: BatonFile, spec: RunSpec, name_repos: str) -> str | None:
    """Unknown or missing names, in the words every chat source has used since the start."""
    known = [r.name for r in config.repos]
    if not known:
        return (
            "No repos are configured yet: add them under `repos:` in baton.yml (`baton doctor` lists what is missing)."
        )
    unknown = [r for r in spec.repos if r not in known]
    if unknown:
        return f"Unknown repo {_ticked(unknown)}.{did_you_mean(unknown, known)} Valid repos: {', '.join(known)}."
    if not spec.repos and not discovers(spec, config):
        return f"Which repos? {name_repos} Valid repos: {', '.join(known)}."
    agents = [a.name for a in config.agents]
    if spec.agent and spec.agent not in agents:
        hint = did_you_mean([spec.agent], agents)
        return f"Unknown agent `{spec.agent}`.{hint} Valid agents: {', '.join(agents) or 'none configured'}."
    books = sorted({"default", *config.playbooks})
    if spec.playbook not in books:
        hint = did_you_mean([spec.playbook], books)
        return f"Unknown playbook `{spec.playbook}`.{hint} Valid playbooks: {', '.join(books)}."
    return None


def _first_agents(node: Node) -> set[str]:
    """The agents a playbook node starts in any case: a fallback's first, a handoff's start, every
    other pattern's all (the rest start only when those fail or hand off)."""
    if node.fallback:
        return {node.fallback[0]}
    if node.handoff:
        return {node.handoff.start}
    if node.verify:
        return _first_agents(node.verify.do)
    found: set[str] = set()
    for child in node.sequential or []:
        found |= _first_agents(child)
    return found | (agents_in(node) if not node.sequential else set())


def agents_used(config: BatonFile, spec: RunSpec) -> list[str]:
    """The agents the run starts first: the planner, the playbook's named agents and the routed one
    per repo (fallbacks only run when these fail). Raises UnknownAgent when none can be chosen."""
    registry = AgentRegistry(config, {})
    book = config.playbook(spec.playbook)
    names: list[str] = [book.planner] if book.planner else []
    trigger = spec.trigger
    for name in sorted(_first_agents(book.per_repo)):
        if name != ROUTED_AGENT:
            names.append(name)
            continue
        names += [registry.route(repo, trigger.labels, trigger.reply_to.channel, spec.agent) for repo in spec.repos]
    return list(dict.fromkeys(names))


def refusal(config: BatonFile, spec: RunSpec, *, name_repos: str = NAME_REPOS, probe: Probe = readable) -> str | None:
    """Why this request must not become a run (one sentence for the requester), or None."""
    problem = _names_problem(config, spec, name_repos)
    if problem:
        return problem
    try:
        agents = [config.agent(name) for name in agents_used(config, spec)]
    except UnknownAgent as err:
        return f"{str(err)[:1].upper()}{str(err)[1:]}."
    repos = [config.repo(name) for name in spec.repos]
    problems = [p for a in agents for p in (program_problem(a), env_problem(a)) if p]
    problems += [p for p in (checks_problem(r) for r in repos) if p]
    problems = problems or url_problems(repos, probe)
    if not problems:
        return None
    first = problems[0]
    more = f" (and {len(problems) - 1} more; `baton doctor` lists them)" if len(problems) > 1 else ""
    return f"{first[:1].upper()}{first[1:]}{more}."


# -- the whole configuration (baton doctor) ------------------------------------------------------------
def config_problems(config: BatonFile, probe: Probe = readable) -> list[str]:
    """Doctor's lines for what would refuse a run: unreadable repo URLs, checks programs and
    `${VAR}`s that are missing (agents' programs are doctor's own `agents` lines)."""
    lines = [f"  ✗ {p}" for p in url_problems(config.repos, probe)]
    lines += [f"  ✗ {p}" for p in (checks_problem(r) for r in config.repos) if p]
    lines += [f"  ✗ {p}" for p in (env_problem(a) for a in config.agents) if p]
    return lines
