"""The store keeps secrets out of what people read: a run's error, its events' data, a step's
detail and a PR's merge error are stored with every secret value and URL credential hidden."""

from __future__ import annotations

from pathlib import Path

from bot.config.models import parse_baton_file
from bot.domain.models import ChangeSet, RunState
from bot.domain.records import Step
from bot.engine.intake import build_spec
from bot.observability.logging import Redactor
from bot.store.store import Store, make_engine, migrate
from handlers.cli import cli_trigger

SECRET = "ghp_storedsecret0123456789"


def _store(tmp_path: Path) -> tuple[Store, str]:
    engine = make_engine(f"sqlite:///{tmp_path / 'baton.db'}")
    migrate(engine)
    store = Store(engine, Redactor([SECRET]))
    config = parse_baton_file({"repos": [{"name": "api", "url": str(tmp_path / "api.git")}]})
    spec = build_spec(cli_trigger("rename"), config, repos=["api"])
    store.create_run(spec)
    return store, spec.run_id


def test_a_runs_error_and_its_state_event_hide_the_secret(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    store.set_state(run_id, RunState.failed, error=f"GitHub answered 422: token {SECRET}")
    run = store.get_run(run_id)
    assert run is not None and run.error == "GitHub answered 422: token [REDACTED]"
    assert store.events(run_id)[-1].data["error"] == "GitHub answered 422: token [REDACTED]"


def test_event_data_hides_secrets_and_url_credentials_at_any_depth(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    store.append_event(run_id, "pushed", {"remote": {"url": f"https://x:{SECRET}@github.com/a/b"}, "lines": [SECRET]})
    data = store.events(run_id)[-1].data
    assert data == {"remote": {"url": "https://github.com/a/b"}, "lines": ["[REDACTED]"]}


def test_a_steps_detail_and_a_prs_merge_error_hide_the_secret(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    store.save_step(Step(run_id=run_id, key="api/01", name="coder", detail=f"printed {SECRET}"))
    store.save_change(
        ChangeSet(
            run_id=run_id,
            repo="api",
            branch="b",
            base="main",
            number=1,
            url="u",
            head_sha="s",
            merge_error=f"refused for {SECRET}",
        )
    )
    assert store.steps(run_id)[0].detail == "printed [REDACTED]"
    assert store.changes(run_id)[0].merge_error == "refused for [REDACTED]"
