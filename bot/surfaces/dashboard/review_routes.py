"""The review routes, behind the dashboard's own guard (its token, or loopback clients only):

- `GET /runs/{run_id}/diff`: the review page (bot/surfaces/review/page.py);
- `GET /runs/{run_id}/diff.patch`: every PR's diff as one plain unified diff, paths prefixed by the
  repo (`a/<repo>/<path>`); `?repo=<name>` gives one repo's part, which `git apply -p2` applies in
  that repo.

Diffs are read from the forges on each request (git on the local forge's remotes, GitHub's API),
never from run facts, and pass the store's redactor.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.config.settings import Settings
from bot.domain.ports import Forge
from bot.store.store import Store
from bot.surfaces.dashboard.routes import refusal, token_visit
from bot.surfaces.review.collect import read_diffs, read_patch_diffs
from bot.surfaces.review.page import render_review_page
from bot.surfaces.review.patch import run_patch


def review_routes(store: Store, settings: Settings, forge: Forge) -> list[BaseRoute]:
    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None

    # Plain functions: Starlette runs them in its thread pool (git and GitHub calls block).
    def page(request: Request) -> Response:
        denied = token_visit(request, token) or refusal(request, token)
        if denied is not None:
            return denied
        run_id = request.path_params["run_id"]
        view = store.view(run_id)
        if view is None:
            return PlainTextResponse(f"no run {run_id}", status_code=404)
        diffs = read_diffs(forge, view.changes, store.redact)
        return HTMLResponse(render_review_page(view, store.events(run_id), diffs, store.redact))

    def patch(request: Request) -> Response:
        denied = token_visit(request, token) or refusal(request, token)
        if denied is not None:
            return denied
        run_id = request.path_params["run_id"]
        view = store.view(run_id)
        if view is None:
            return PlainTextResponse(f"no run {run_id}", status_code=404)
        changes = view.changes
        only = request.query_params.get("repo")
        if only is not None:
            changes = [c for c in changes if c.repo == only]
            if not changes:
                return PlainTextResponse(f"run {run_id} has no pull request in {only}", status_code=404)
        diffs = read_patch_diffs(forge, changes, store.redact)
        text = run_patch([d.diff for d in diffs if d.diff], {d.change.repo: d.problem for d in diffs if d.problem})
        name = f"baton-{run_id}{'-' + only if only else ''}.patch"
        # Agent-written text: a browser must show it as text, never sniff it into a page.
        headers = {"Content-Disposition": f'inline; filename="{name}"', "X-Content-Type-Options": "nosniff"}
        return PlainTextResponse(text, headers=headers)

    return [Route("/runs/{run_id}/diff", page), Route("/runs/{run_id}/diff.patch", patch)]
