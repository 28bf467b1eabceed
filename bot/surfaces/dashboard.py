"""The read-only web pages `baton serve` shows: the runs table at `/` and one page per run at
`/runs/<id>` (steps with agent, duration, tokens and cost; PRs; approvals; the event log) — the
page Slack cards, GitHub comments and Linear sessions link to."""

from __future__ import annotations

from jinja2 import Environment, select_autoescape

from bot.domain import RunEvent, RunView
from bot.surfaces.render import (
    event_data_text,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    requester,
    short_sha,
    state_label,
    step_icon,
    summary_line,
)

_STYLE = """<style>body{font-family:system-ui,sans-serif;margin:2rem}td,th{padding:.3rem .6rem;text-align:left;
vertical-align:top}tr:nth-child(even){background:#f4f4f4}.s{font-weight:600}</style>"""

_RUNS = (
    """<!doctype html>
<html><head><meta charset="utf-8"><title>Baton runs</title>
<meta http-equiv="refresh" content="5">"""
    + _STYLE
    + """</head>
<body><h1>Baton runs</h1>
{% if not views %}<p>No runs yet.</p>{% else %}
<table><tr><th>run</th><th>state</th><th>request</th><th>repos</th><th>PRs</th><th>cost</th>
<th>summary</th></tr>
{% for v in views %}<tr><td><a href="runs/{{ v.run.run_id }}"><code>{{ v.run.run_id }}</code></a></td>
<td class="s">{{ label(v.run.state) }}</td><td>{{ v.run.spec.trigger.request[:120] }}</td>
<td>{{ v.run.spec.repos | join(", ") }}</td>
<td>{% for c in v.changes %}{{ c.repo }}#{{ c.number }} ({{ c.state.value }},
checks {{ c.checks.value }})<br>{% endfor %}</td>
<td>{{ cost(v.run.usage.cost_usd) }}</td><td>{{ summary(v) }}</td></tr>{% endfor %}
</table>{% endif %}</body></html>
"""
)

_RUN = (
    """<!doctype html>
<html><head><meta charset="utf-8"><title>Baton run {{ v.run.run_id }}</title>
{% if not v.run.state.terminal %}<meta http-equiv="refresh" content="5">{% endif %}"""
    + _STYLE
    + """</head>
<body><p><a href="../">all runs</a></p>
<h1>Run <code>{{ v.run.run_id }}</code>: {{ label(v.run.state) }}</h1>
<p>{{ v.run.spec.trigger.request }}</p>
<p>Requested by {{ who }} via {{ v.run.spec.trigger.source.value }} · repos {{ v.run.spec.repos | join(", ") }}
· playbook {{ v.run.spec.playbook }}{% if v.run.error %} · <b>{{ v.run.error }}</b>{% endif %}</p>
<p>{{ summary(v) }}</p>
<h2>Steps</h2>
<table><tr><th></th><th>step</th><th>repo</th><th>agent</th><th>duration</th><th>tokens</th><th>cost</th>
<th>detail</th></tr>
{% for s in v.steps %}<tr><td>{{ icon(s.state) }}</td><td>{{ s.name }}</td><td>{{ s.repo or "" }}</td>
<td>{{ s.agent or "" }}</td><td>{{ duration(s.duration_s) }}</td><td>{{ tokens(s.usage.tokens) }}</td>
<td>{{ cost(s.usage.cost_usd) }}</td><td>{{ s.detail[:200] }}</td></tr>{% endfor %}</table>
<h2>Pull requests</h2>
<table><tr><th>order</th><th>repo</th><th>PR</th><th>head</th><th>checks</th><th>state</th></tr>
{% for c in v.changes %}<tr><td>{{ c.order }}</td><td>{{ c.repo }}</td>
<td><a href="{{ c.url }}">#{{ c.number }}</a></td><td><code>{{ sha(c.head_sha) }}</code></td>
<td>{{ c.checks.value }}</td><td>{{ c.state.value }}{% if c.merge_error %} ({{ c.merge_error }}){% endif %}</td>
</tr>{% endfor %}</table>
<h2>Approvals</h2>
<ul>{% for a in v.approvals %}<li>{{ a.decision.value }} by {{ a.actor.display or a.actor.key }}
at {{ a.at.strftime("%Y-%m-%d %H:%M:%S") }} UTC{% if not a.valid %} (void: a PR changed since){% endif %}</li>
{% else %}<li>none yet</li>{% endfor %}</ul>
<h2>Events</h2>
<table>{% for e in events %}<tr><td>{{ e.seq }}</td><td>{{ e.at.strftime("%H:%M:%S") }}</td><td>{{ e.kind }}</td>
<td>{{ data(e.data) }}</td></tr>{% endfor %}</table>
</body></html>
"""
)


def _env() -> Environment:
    return Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def render_dashboard(views: list[RunView]) -> str:
    template = _env().from_string(_RUNS)
    return template.render(views=views, label=state_label, cost=fmt_cost, summary=summary_line)


def render_run_page(view: RunView, events: list[RunEvent]) -> str:
    template = _env().from_string(_RUN)
    return template.render(
        v=view,
        events=events,
        who=requester(view),
        label=state_label,
        cost=fmt_cost,
        summary=summary_line,
        icon=step_icon,
        duration=fmt_duration,
        tokens=fmt_tokens,
        sha=short_sha,
        data=event_data_text,
    )


def run_page_url(public_url: str, run_id: str) -> str:
    """Where people (and Linear's agent session, and the cards) find a run's page."""
    return f"{public_url.rstrip('/')}/runs/{run_id}"
