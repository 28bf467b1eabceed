"""The read-only runs dashboard served at `/`: one table of runs with steps, PRs and cost."""

from __future__ import annotations

from jinja2 import Environment, select_autoescape

from bot.domain import RunView
from bot.surfaces.render import fmt_cost, state_label, summary_line

_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Baton runs</title>
<meta http-equiv="refresh" content="5">
<style>body{font-family:system-ui,sans-serif;margin:2rem}td,th{padding:.3rem .6rem;text-align:left;
vertical-align:top}tr:nth-child(even){background:#f4f4f4}.s{font-weight:600}</style></head>
<body><h1>Baton runs</h1>
{% if not views %}<p>No runs yet.</p>{% else %}
<table><tr><th>run</th><th>state</th><th>request</th><th>repos</th><th>PRs</th><th>cost</th>
<th>summary</th></tr>
{% for v in views %}<tr><td><code>{{ v.run.run_id }}</code></td>
<td class="s">{{ label(v.run.state) }}</td><td>{{ v.run.spec.trigger.request[:120] }}</td>
<td>{{ v.run.spec.repos | join(", ") }}</td>
<td>{% for c in v.changes %}{{ c.repo }}#{{ c.number }} ({{ c.state.value }},
checks {{ c.checks.value }})<br>{% endfor %}</td>
<td>{{ cost(v.run.usage.cost_usd) }}</td><td>{{ summary(v) }}</td></tr>{% endfor %}
</table>{% endif %}</body></html>
"""


def render_dashboard(views: list[RunView]) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.from_string(_TEMPLATE)
    return template.render(views=views, label=state_label, cost=fmt_cost, summary=summary_line)
