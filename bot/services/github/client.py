"""Talking to GitHub's REST API through PyGithub: credentials (a token, or a GitHub App whose
installation tokens PyGithub refreshes before they expire), the base URL (`GITHUB_API_URL`: GitHub
Enterprise, or the tests' local server) and the one retry policy every call goes through.

Retries live here, not in urllib3: a request that may have taken effect before its answer was lost
(creating a PR or a comment) must look for what it created before it tries again, so callers pass a
`recover` function. 5xx and connection errors back off exponentially; rate limits wait as GitHub
says (`Retry-After`, else `x-ratelimit-reset` when the quota is spent, else the secondary-limit
pause), never longer than `max_rate_limit_wait_s`; attempts are bounded by `api_retries`.
How fast requests go at all is each client's `Pacer` (`pacing.py`: writes in turn per token, the
pauses GitHub's answers ask for), not a flat spacing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests
import structlog
from github import Auth, Github, GithubException, GithubIntegration
from github.GithubObject import CompletableGithubObject
from github.Repository import Repository
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config.github import GitHubConfig
from bot.domain.ports import ForgeError
from bot.observability.tracing import Tracer
from bot.services.github.pacing import Pacer, paced
from bot.services.github.tracing import traced

log = structlog.get_logger(__name__)
T = TypeVar("T")
# Answers that mean GitHub failed us (credentials, limits), unlike the 404/409/422 callers expect.
_FAILURES = (401, 403, 429)


class GitHubCredentials(BaseSettings):
    """How Baton authenticates to GitHub, from the environment (design §2 names)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("GITHUB_TOKEN"))
    app_id: str | None = Field(default=None, validation_alias=AliasChoices("GITHUB_APP_ID"))
    app_private_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("GITHUB_APP_PRIVATE_KEY"))
    """The App's PEM private key itself, or the path of a file holding it."""
    app_installation_id: int | None = Field(default=None, validation_alias=AliasChoices("GITHUB_APP_INSTALLATION_ID"))
    api_url: str = Field(default="https://api.github.com", validation_alias=AliasChoices("GITHUB_API_URL"))

    @property
    def configured(self) -> bool:
        return self.token is not None or (self.app_id is not None and self.app_private_key is not None)

    def private_key(self) -> str:
        assert self.app_private_key is not None
        text = self.app_private_key.get_secret_value()
        if "-----BEGIN" not in text and Path(text).is_file():
            return Path(text).read_text(encoding="utf-8")
        return text


def graphql_url(api_url: str) -> str:
    """Where GitHub's GraphQL API is for the REST API at `api_url` (`GITHUB_API_URL`), as PyGithub
    derives it: `https://api.github.com/graphql`; on Enterprise Server `https://HOST/api/v3` →
    `https://HOST/api/graphql`. Baton calls it only to mark a draft PR ready for review."""
    return api_url.rstrip("/").removesuffix("/v3") + "/graphql"


class GitHubApi:
    """PyGithub clients per repo (one per App installation) and `call`, the retry policy."""

    def __init__(
        self,
        credentials: GitHubCredentials,
        config: GitHubConfig,
        sleep: Callable[[float], None] = time.sleep,
        on_error: Callable[[], None] = lambda: None,
        throttle: Callable[[], None] = lambda: None,
        tracer: Tracer | None = None,
    ) -> None:
        """`on_error` is told of each failed attempt (the outbound-errors metric); `throttle` waits
        for the shared rate limit (`rate_limits.github`) before each attempt."""
        if not credentials.configured:
            raise ForgeError("GitHub is not configured: set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY")
        self.credentials = credentials
        self.config = config
        self._sleep = sleep
        self._on_error = on_error
        self._throttle = throttle
        self._tracer = tracer or Tracer.disabled()
        self._clients: dict[int | None, Github] = {}
        self._installations: dict[str, int] = {}
        self._login: str | None = None

    @property
    def graphql_url(self) -> str:
        return graphql_url(self.credentials.api_url)

    # -- clients ----------------------------------------------------------------------------------
    def _kwargs(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "base_url": self.credentials.api_url.rstrip("/"),
            "timeout": int(max(1, cfg.timeout_s)),
            "retry": None,  # `call` retries, knowing which requests are safe to repeat
            # The pace is the Pacer's (per token, from GitHub's answers); PyGithub's own is off.
            "seconds_between_requests": None,
            "seconds_between_writes": None,
            "lazy": True,
        }

    def _paced(self, client: Github) -> Github:
        """`client` traced, and paced by a Pacer of its own (one client per token)."""
        cfg = self.config
        pacer = Pacer(
            write_gap_s=cfg.seconds_between_writes,
            request_gap_s=cfg.seconds_between_requests,
            secondary_wait_s=cfg.secondary_rate_wait_s,
            max_wait_s=cfg.max_rate_limit_wait_s,
            sleep=self._sleep,
        )
        return paced(traced(client, self._tracer), pacer)

    def _app_auth(self) -> Auth.AppAuth:
        assert self.credentials.app_id is not None
        return Auth.AppAuth(self.credentials.app_id, self.credentials.private_key())

    def _installation(self, full_name: str) -> int:
        if self.credentials.app_installation_id is not None:
            return self.credentials.app_installation_id
        key = full_name.lower()
        if key not in self._installations:
            owner, name = full_name.split("/", 1)
            integration = GithubIntegration(
                auth=self._app_auth(), **{k: v for k, v in self._kwargs().items() if k != "lazy"}
            )
            found = self.call(
                f"find the App installation for {full_name}", lambda: integration.get_repo_installation(owner, name).id
            )
            self._installations[key] = found
        return self._installations[key]

    def client(self, full_name: str | None = None) -> Github:
        """The client that may act on `full_name` (with a token: the same one for every repo)."""
        if self.credentials.token is not None:
            key: int | None = None
            if key not in self._clients:
                token = self.credentials.token.get_secret_value()
                self._clients[key] = self._paced(Github(auth=Auth.Token(token), **self._kwargs()))
            return self._clients[key]
        if full_name is None:
            raise ForgeError("a GitHub App acts per installation: name the repo")
        installation = self._installation(full_name)
        if installation not in self._clients:
            auth = self._app_auth().get_installation_auth(installation)
            self._clients[installation] = self._paced(Github(auth=auth, **self._kwargs()))
        return self._clients[installation]

    def git_token(self, full_name: str) -> str | None:
        """The token git pushes to `full_name` with: GITHUB_TOKEN, or the App installation's
        current token (refreshed by PyGithub before it expires)."""
        if self.credentials.token is not None:
            return self.credentials.token.get_secret_value()
        auth = self._app_auth().get_installation_auth(self._installation(full_name))
        token: str = auth.token
        return token

    def repo(self, full_name: str) -> Repository:
        return self.client(full_name).get_repo(full_name)  # lazy: no request until a field is read

    def bot_login(self) -> str | None:
        """The account Baton comments as (token auth); an App comments as a Bot, recognised by type."""
        if self.config.bot_login:
            return self.config.bot_login
        if self.credentials.token is None:
            return None
        if self._login is None:
            client = self.client()
            self._login = self.call("read the bot's own account", lambda: client.get_user().login)
        return self._login

    # -- the retry policy -------------------------------------------------------------------------------
    def call(self, what: str, fn: Callable[[], T], recover: Callable[[], T | None] | None = None) -> T:
        """`fn()`, retried on 5xx, connection errors and rate limits; before each retry `recover()`
        may find what a lost-answer attempt already did. Raises GithubException for other refusals
        (callers map 404/405/409/422) and ForgeError when retries run out."""
        cfg = self.config
        attempt = 0
        while True:
            try:
                self._throttle()
                return fn()
            except GithubException as err:
                if err.status in _FAILURES or err.status >= 500:
                    self._on_error()
                wait = self._wait_for(err, attempt)
                if wait is None:
                    raise
                reason = f"GitHub answered {err.status}"
            except (requests.ConnectionError, requests.Timeout) as err:
                self._on_error()
                wait = cfg.retry_backoff_s * 2**attempt
                reason = f"no answer from GitHub ({type(err).__name__})"
            if attempt >= cfg.api_retries:
                raise ForgeError(f"could not {what}: {reason}, still after {attempt + 1} attempts")
            if wait > cfg.max_rate_limit_wait_s:
                raise ForgeError(f"could not {what}: GitHub asks to wait {wait:.0f}s, more than the configured limit")
            attempt += 1
            log.warning("github.retry", what=what, reason=reason, wait_s=round(wait, 2), attempt=attempt)
            self._sleep(wait)
            if recover is not None:
                found = recover()
                if found is not None:
                    return found

    def _wait_for(self, err: GithubException, attempt: int) -> float | None:
        """Seconds to wait before retrying `err`, or None when it is not worth retrying."""
        headers = {k.lower(): str(v) for k, v in (err.headers or {}).items()}
        message = str((err.data or {}).get("message", "") if isinstance(err.data, dict) else "").lower()
        if err.status in (403, 429):
            if headers.get("retry-after", "").isdigit():
                return float(headers["retry-after"])
            if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
                return max(0.0, int(headers["x-ratelimit-reset"]) - time.time()) + 1.0
            if "secondary rate limit" in message or err.status == 429:
                return self.config.secondary_rate_wait_s
            return None
        if err.status >= 500:
            return float(self.config.retry_backoff_s * 2**attempt)
        return None


G = TypeVar("G", bound=CompletableGithubObject)


def loaded(obj: G) -> G:
    """A lazy PyGithub object fetched now (inside `call`'s retries, not at first attribute read)."""
    _ = obj.raw_data
    return obj


@contextmanager
def refusals(what: str) -> Iterator[None]:
    """Turn any refusal from GitHub left unhandled inside into a ForgeError people can read."""
    try:
        yield
    except GithubException as err:
        raise ForgeError(f"could not {what}: GitHub answered {describe(err)}") from None


def describe(err: GithubException) -> str:
    """GitHub's own words for a refusal, safe to show (no request headers, no tokens)."""
    data = err.data if isinstance(err.data, dict) else {}
    message = str(data.get("message") or "no message")
    details = [str(e.get("message") or e.get("code") or "") for e in data.get("errors", []) if isinstance(e, dict)]
    extra = "; ".join(d for d in details if d)
    return f"{err.status} {message}" + (f" ({extra})" if extra else "")
