"""report.html: one self-contained page (plotly.js inlined, no external URL) that shows where each fault
was, what broke and how long recovery took, without reading logs."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, select_autoescape
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from walletchaos import fault as registry
from walletchaos import judge
from walletchaos.judge.model import validity_word
from walletchaos.store import StoredRun

from . import series, verdict_json

CONFIG = {"displaylogo": False, "responsive": True}  # no link out of the offline page
COLORS = {"ok": "#59a14f", "fail": "#edc948", "info": "#e15759"}


def _fault_color(name: str) -> str:
    try:
        return registry.resolve(name)[0].color
    except KeyError:
        return "#999999"


def _op_times(run: StoredRun) -> dict[int, float]:
    return {int(r["index"]): r["time"] / 1e9 for r in run.history if r["type"] == "invoke"}


def timeline(
    run: StoredRun, verdict: judge.Verdict, faults: list[dict[str, Any]], s: series.Series
) -> go.Figure:
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        row_heights=[0.6, 0.4],
        subplot_titles=("throughput (ops/s) by outcome", "latency from intended start (ms)"),
    )
    for kind in ("ok", "fail", "info"):
        fig.add_trace(
            go.Bar(
                x=s.t,
                y=getattr(s, kind),
                name=kind,
                marker_color=COLORS[kind],
                hovertemplate=f"{kind}: %{{y:.0f}}/s at %{{x:.1f}}s<extra></extra>",
            ),
            row=1,
            col=1,
        )
    for name, values, dash in (("p50", s.p50_ms, "dot"), ("p99", s.p99_ms, "solid")):
        fig.add_trace(
            go.Scatter(
                x=s.t,
                y=values,
                name=name,
                mode="lines",
                line={"dash": dash, "color": "#4e79a7"},
                connectgaps=False,
            ),
            row=2,
            col=1,
        )
    for f in faults:
        fig.add_vrect(
            x0=f["invoked_s"],
            x1=f["healed_s"],
            fillcolor=_fault_color(f["name"]),
            opacity=0.18,
            line_width=0,
            annotation_text=f"{f['name']} @ {f['target']}",
            annotation_position="top left",
            annotation_font_size=10,
        )
    times = _op_times(run)
    end = max(s.t, default=0.0)
    marks_x, marks_y, marks_text = [], [], []
    for r in verdict.violated():
        for label in ("first", "worst", "last"):
            op = getattr(r, label)
            if op is None:
                continue
            at = times.get(op.get("index")) if op.get("index") is not None else end
            if at is not None:
                marks_x.append(at)
                marks_y.append(0)
                marks_text.append(f"{r.name} ({label}): {json.dumps(op, default=str)[:160]}")
    if marks_x:
        fig.add_trace(
            go.Scatter(
                x=marks_x,
                y=marks_y,
                mode="markers",
                name="violations",
                marker={"symbol": "x", "size": 12, "color": "#b00020"},
                text=marks_text,
                hovertemplate="%{text}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    fig.update_layout(
        barmode="stack",
        bargap=0,
        height=560,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.08},
        template="plotly_white",
    )
    fig.update_xaxes(title_text="seconds since start", row=2, col=1)
    return fig


def error_classes(s: series.Series) -> go.Figure:
    errors = s.errors.most_common(15)
    fig = go.Figure(
        go.Bar(x=[n for _, n in errors], y=[k for k, _ in errors], orientation="h", marker_color="#e15759")
    )
    fig.update_layout(
        height=max(200, 28 * len(errors) + 80),
        margin={"l": 260, "r": 20, "t": 30, "b": 30},
        title="error classes (op, status, error)",
        template="plotly_white",
        yaxis={"autorange": "reversed"},
    )
    return fig


TEMPLATE = resources.files("reports").joinpath("templates/report.html.j2")


def render(run: StoredRun, verdict: judge.Verdict) -> str:
    data = verdict_json.render(run, verdict)
    env = Environment(autoescape=select_autoescape(default=True))
    env.filters["word"] = validity_word
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=1, default=str)
    page = env.from_string(TEMPLATE.read_text())
    points = series.build(run)
    figures = {
        "timeline": timeline(run, verdict, data["faults"], points).to_html(
            full_html=False, include_plotlyjs=False, div_id="timeline", config=CONFIG
        ),
        "errors": error_classes(points).to_html(
            full_html=False, include_plotlyjs=False, div_id="errors", config=CONFIG
        ),
    }
    return page.render(run=run, verdict=verdict, data=data, figures=figures, plotlyjs=get_plotlyjs())
