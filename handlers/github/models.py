"""The parts of GitHub's webhook payloads Baton reads, as pydantic models (GitHub sends far more;
unknown fields are ignored). A payload missing a field we need is refused with a 400 naming it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class User(_Model):
    login: str
    type: str = "User"


class Repository(_Model):
    full_name: str


class Label(_Model):
    name: str


class Issue(_Model):
    number: int
    title: str = ""
    body: str | None = None
    user: User
    labels: list[Label] = Field(default_factory=list)
    pull_request: dict[str, Any] | None = None


class Comment(_Model):
    id: int
    body: str | None = None
    user: User
    created_at: str | None = None
    updated_at: str | None = None


class IssueCommentEvent(_Model):
    action: str
    issue: Issue
    comment: Comment
    repository: Repository
    sender: User


class IssuesEvent(_Model):
    action: str
    issue: Issue
    label: Label | None = None
    repository: Repository
    sender: User


class Ref(_Model):
    ref: str
    sha: str


class PullRequest(_Model):
    number: int
    state: str
    merged: bool | None = None
    merged_at: str | None = None
    closed_at: str | None = None
    head: Ref
    base: Ref
    body: str | None = None


class PullRequestEvent(_Model):
    action: str
    number: int
    pull_request: PullRequest
    repository: Repository
    sender: User


class Review(_Model):
    id: int
    state: str
    body: str | None = None
    user: User


class ReviewEvent(_Model):
    action: str
    review: Review
    pull_request: PullRequest
    repository: Repository
    sender: User


class PullNumber(_Model):
    number: int


class CheckSuite(_Model):
    head_branch: str | None = None
    head_sha: str
    status: str | None = None
    conclusion: str | None = None
    pull_requests: list[PullNumber] = Field(default_factory=list)


class CheckSuiteEvent(_Model):
    action: str
    check_suite: CheckSuite
    repository: Repository


class CheckRun(_Model):
    head_sha: str
    status: str
    check_suite: CheckSuite
    pull_requests: list[PullNumber] = Field(default_factory=list)


class CheckRunEvent(_Model):
    action: str
    check_run: CheckRun
    repository: Repository


class Branch(_Model):
    name: str


class StatusEvent(_Model):
    sha: str
    state: str
    context: str = ""
    branches: list[Branch] = Field(default_factory=list)
    repository: Repository
