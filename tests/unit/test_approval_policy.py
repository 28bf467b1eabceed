"""The approval gate as a pure policy: who may approve, SHA binding, green checks, expiry."""

from __future__ import annotations

from datetime import timedelta

from bot.config.models import ApprovalPolicy
from bot.domain.models import Actor, ChangeSet, ChecksState, Decision, Person, Source, utcnow
from bot.domain.people import People
from bot.domain.records import Approval
from bot.engine.approvals import evaluate, may_approve

ALICE = Actor(source=Source.slack, id="U1", display="alice")
BOB = Actor(source=Source.slack, id="U2", display="bob")


def _change(repo: str, sha: str, checks: ChecksState = ChecksState.passed) -> ChangeSet:
    return ChangeSet(run_id="r", repo=repo, branch="b", base="main", number=1, url="u", head_sha=sha, checks=checks)


def _approval(actor: Actor, shas: dict[str, str]) -> Approval:
    return Approval(run_id="r", actor=actor, decision=Decision.approve, head_shas=shas)


def test_the_requester_may_not_approve_their_own_run() -> None:
    assert may_approve(ApprovalPolicy(), ALICE, ALICE) == "the requester may not approve their own run"


def test_self_approval_is_allowed_from_an_exempt_source() -> None:
    me = Actor(source=Source.cli, id="ops")
    assert may_approve(ApprovalPolicy(), me, me) is None


def test_only_listed_approvers_may_approve() -> None:
    policy = ApprovalPolicy(approvers=["slack:U2"])
    assert may_approve(policy, ALICE, BOB) is not None
    assert may_approve(policy, BOB, ALICE) is None


def test_an_approval_bound_to_the_current_heads_opens_the_gate() -> None:
    changes = [_change("api", "a1"), _change("web", "w1")]
    verdict = evaluate(ApprovalPolicy(), changes, [_approval(BOB, {"api": "a1", "web": "w1"})], utcnow(), utcnow())
    assert verdict.ok and verdict.head_shas == {"api": "a1", "web": "w1"}


def test_an_approval_of_older_heads_does_not_count() -> None:
    changes = [_change("api", "a2"), _change("web", "w1")]
    verdict = evaluate(ApprovalPolicy(), changes, [_approval(BOB, {"api": "a1", "web": "w1"})], utcnow(), utcnow())
    assert not verdict.ok and "has 0" in verdict.reason


def test_two_approvals_are_needed_when_the_policy_says_so() -> None:
    changes = [_change("api", "a1")]
    approvals = [_approval(BOB, {"api": "a1"}), _approval(BOB, {"api": "a1"})]
    verdict = evaluate(ApprovalPolicy(min_approvals=2), changes, approvals, utcnow(), utcnow())
    assert not verdict.ok, "the same person twice is one approval"


def test_red_checks_keep_the_gate_shut() -> None:
    changes = [_change("api", "a1", ChecksState.failed)]
    verdict = evaluate(ApprovalPolicy(), changes, [_approval(BOB, {"api": "a1"})], utcnow(), utcnow())
    assert not verdict.ok and "checks are not green on api" in verdict.reason


def test_an_expired_run_cannot_merge() -> None:
    created = utcnow() - timedelta(hours=73)
    verdict = evaluate(ApprovalPolicy(), [_change("api", "a1")], [_approval(BOB, {"api": "a1"})], created, utcnow())
    assert not verdict.ok and "expired" in verdict.reason


PEOPLE = People([Person(name="Bob", slack="U2", github="bob")])
BOB_ON_GITHUB = Actor(source=Source.github, id="Bob", display="bob")


def test_a_person_may_not_approve_from_github_what_they_asked_for_in_slack() -> None:
    assert may_approve(ApprovalPolicy(), BOB_ON_GITHUB, BOB, PEOPLE) == "the requester may not approve their own run"


def test_one_persons_slack_and_github_approvals_are_one_approval() -> None:
    changes = [_change("api", "a1")]
    approvals = [_approval(BOB, {"api": "a1"}), _approval(BOB_ON_GITHUB, {"api": "a1"})]
    verdict = evaluate(ApprovalPolicy(min_approvals=2), changes, approvals, utcnow(), utcnow(), PEOPLE)
    assert not verdict.ok and "has 1" in verdict.reason


def test_a_pattern_naming_any_identity_of_a_person_admits_them_from_every_surface() -> None:
    for policy in (ApprovalPolicy(approvers=["github:bob"]), ApprovalPolicy(approvers=["person:Bob"])):
        assert may_approve(policy, BOB, ALICE, PEOPLE) is None


def test_an_approval_of_another_base_does_not_count() -> None:
    changes = [_change("api", "a1")]
    approval = Approval(run_id="r", actor=BOB, decision=Decision.approve, head_shas={"api": "a1"}, bases={"api": "dev"})
    verdict = evaluate(ApprovalPolicy(), changes, [approval], utcnow(), utcnow())
    assert not verdict.ok and "has 0" in verdict.reason
