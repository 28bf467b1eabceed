"""Aider: `aider --message <prompt> --yes-always`, whose only output is text for people.

Baton commits, so aider's own commits are off (`--no-auto-commits --no-dirty-commits`), it must
not touch `.gitignore` (`--no-gitignore`) nor the repo's config (the `.git` of a confined agent is
read-only: a git identity reaches it through GIT_CONFIG_* instead), and its history files live in
the per-run HOME; its
`.aider*` caches are kept out of the diff through the clone's `info/exclude`. The text is read
line by line: `Tokens: 1.2k sent, 20 received.` (plus `Cost: $… session.` when aider knows the
model's price; otherwise tokens are priced with `usd_per_million_tokens`), `Applied edit to X`,
`Retrying in N seconds...` after an API error. Aider retries a failing endpoint for about a
minute with no setting to shorten it, so the adapter stops it after `max_retries` retries.
A run that never got a reply from the model (no `Tokens:` line) has failed, whatever the exit code.
`--restore-chat-history` resumes the per-run chat when a follow-up builds on aider's own commit.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.agents.cli import CliAgent, Invocation, positional, task_prompt
from bot.agents.stream import StreamParser
from bot.domain.models import AgentTask
from bot.domain.ports import ProgressSink

_TOKENS = re.compile(r"^Tokens: ([\d.]+k?) sent,.*?([\d.]+k?) received\.")
_COST = re.compile(r"Cost: \$[\d.]+ message, \$([\d.]+) session\.")
_APPLIED = re.compile(r"^Applied edit to (.+)$")
_RETRY = re.compile(r"^Retrying in ([\d.]+) seconds")
_ERROR = re.compile(r"^(litellm\.\w+|openai\.\w+|\w+Error)\b.*")
_META = (
    "Aider v",
    "Model:",
    "Main model:",
    "Weak model:",
    "Editor model:",
    "Git repo:",
    "Repo-map:",
    "Added ",
    "Analytics",
    "Tokens:",
    "Cost:",
    "Applied edit",
    "Commit",
    "HTTPSConnectionPool",
    "Retrying in",
    "https://",
    "Warning",
    "Creating empty file",
    "Allow edits",
    "Add file",
    "Add URL",
    "Run shell command",
    "Scanning repo",
    "Initial repo scan",
    "The API provider",
    "Did not apply",
    "Only ",
    "Update git",
)


def _count(text: str) -> int:
    return round(float(text[:-1]) * 1000) if text.endswith("k") else int(float(text))


class AiderStream(StreamParser):
    """Aider's text: the model's reply, token reports, applied edits, retries and errors.

    Each reply is followed by its `Tokens:` line; the summary is the first line of the last reply.
    """

    def __init__(self, sink: ProgressSink, root: Path | None = None) -> None:
        super().__init__(sink, root)
        self._root = root
        self._reply_start: str | None = None

    def _names_a_file(self, text: str) -> bool:
        """Aider echoes bare file names (files it adds to the chat, edit targets): not a reply."""
        return " " not in text and self._root is not None and (self._root / text).exists()

    def feed(self, line: str) -> None:
        text = line.strip()
        state = self.state
        if not text:
            return
        tokens = _TOKENS.match(text)
        if tokens:
            cost = _COST.search(text)
            self.progress.tokens(_count(tokens.group(1)), _count(tokens.group(2)))
            if cost:
                self.progress.set_totals(state.tokens_in, state.tokens_out, float(cost.group(1)))
            state.finished = True
            if self._reply_start:
                state.final_text, self._reply_start = self._reply_start, None
            return
        if text.startswith("Cost:"):  # printed on its own line when cache figures precede it
            cost = _COST.search(text)
            if cost:
                self.progress.set_totals(state.tokens_in, state.tokens_out, float(cost.group(1)))
            return
        applied = _APPLIED.match(text)
        if applied:
            self.progress.tool("edit", applied.group(1))
            self.progress.file(applied.group(1))
            return
        retry = _RETRY.match(text)
        if retry:
            self.progress.retry(state.retries + 1, state.error or text)
            return
        if _ERROR.match(text):
            state.error = text
            return
        if text.startswith(_META) or text.startswith("```") or text.endswith("to the chat."):
            return
        if self._names_a_file(text):
            return
        if self._reply_start is None:
            self._reply_start = text  # the first line of a reply says what the model did
        self.progress.text(text)


class AiderAgent(CliAgent):
    kind = "aider"
    stream = AiderStream
    excludes = [".aider*"]
    enforces_retries = True

    def parser(self, sink: ProgressSink, workdir: Path) -> StreamParser:
        parser = super().parser(sink, workdir)
        parser.state.session_id = "chat-history"  # aider has no session ids: its chat file is the session
        return parser

    def invocation(self, task: AgentTask, workdir: Path, home: Path, resume: str | None) -> Invocation:
        config = self.config
        argv = [*config.argv_prefix, "--message", positional(task_prompt(task)), "--yes-always"]
        argv += ["--no-auto-commits", "--no-dirty-commits", "--no-gitignore", "--no-pretty", "--no-fancy-input"]
        argv += ["--no-stream", "--analytics-disable", "--no-check-update", "--no-show-release-notes"]
        argv += ["--no-show-model-warnings"]
        argv += ["--chat-history-file", str(home / "aider.chat.history.md")]
        argv += ["--input-history-file", str(home / "aider.input.history")]
        if config.model:
            argv += ["--model", config.model]
        url = self.base_url()
        if url:
            argv += ["--openai-api-base", url]
        if resume:
            argv.append("--restore-chat-history")
        # Aider writes a placeholder git identity into the repo's config when it finds none; the
        # clone's .git is read-only to a confined agent (and Baton commits), so it gets one here.
        identity = {
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "user.name",
            "GIT_CONFIG_VALUE_0": "aider (via Baton)",
            "GIT_CONFIG_KEY_1": "user.email",
            "GIT_CONFIG_VALUE_1": "aider@baton.invalid",
        }
        # A local price map: aider would otherwise try to download one at every start.
        return Invocation(argv=argv, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", **identity})
