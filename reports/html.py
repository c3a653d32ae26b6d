"""report.html: the page that shows where each fault was, what broke and how long recovery took, without
reading logs. It opens offline with no external URL: the chart library (plotly.js's basic bundle, 1.2 MB,
vendored in ``reports/assets``: the full 4.6 MB bundle took 0.9 s to parse) is written once beside the
runs, ``<scenario dir>/assets/``, and every report of that scenario loads it by a relative path
(``../assets/``, or ``../<scenario dir>/assets/`` through the ``runs/latest`` link); a report is
~0.1-0.5 MB. ``single_file=True`` (``walletchaos report --single-file``) inlines it instead (~1.3-1.7 MB),
for a report mailed or uploaded on its own."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, select_autoescape
from plotly.offline import get_plotlyjs_version
from plotly.subplots import make_subplots

from walletchaos import fault as registry
from walletchaos import judge
from walletchaos.judge.model import validity_word
from walletchaos.plan import make_plan
from walletchaos.scrape import read as read_metrics
from walletchaos.store import StoredRun

from . import evidence, series, summary, verdict_json, wallet_metrics

CONFIG = {"displaylogo": False, "responsive": True}  # no link out of the offline page
OUTCOMES = {  # outcome -> (what people read, colour): unknown is not painted as a failure
    "ok": ("ok", "#59a14f"),
    "fail": ("failed (definite)", "#e15759"),
    "info": ("unknown (outcome not known at the time)", "#9d9da6"),
}
PHASE_FILL = ("#dde6f0", "#c4d3e3")
RECOVERY_FILL = "#59a14f"


def _fault_color(name: str) -> str:
    try:
        return registry.resolve(name)[0].color
    except KeyError:
        return "#999999"


def _op_times(run: StoredRun, wanted: set[Any]) -> dict[int, float]:
    """The invoke times (s) of the ops ``wanted`` (by index): one pass over the history holding only those."""
    if not wanted:
        return {}
    return {
        int(r["index"]): r["time"] / 1e9
        for r in run.history
        if r["type"] == "invoke" and int(r["index"]) in wanted
    }


def _label(text: str | None, where: str) -> dict[str, Any]:
    """Annotation arguments for a band, or none (plotly writes "new text" for an annotation without text)."""
    return (
        {}
        if text is None
        else {"annotation_text": text, "annotation_position": where, "annotation_font_size": 10}
    )


def phases(run: StoredRun) -> list[tuple[str, float, float]]:
    """The load's phases as (name, start s, end s) on the run's clock (0 = the load's start)."""
    return list(make_plan(run.scenario, run.meta.get("seed")).phases)


SHADES = {  # per status class, one shade per code: 200 and 201 are both success, yet two lines
    "2": ("#2e7d32", "#59a14f", "#8cd17d"),
    "4": ("#f28e2b", "#ffbe7d", "#b07aa1", "#d4a6c8", "#9c755f"),
    "5": ("#e15759", "#b00020", "#ff9d9a"),
}


def _status_color(status: str, nth: int) -> str:
    shades = SHADES.get(status[:1], ("#9d9da6",))
    return shades[nth % len(shades)]


def _wallet_rows(fig: go.Figure, w: wallet_metrics.WalletSeries) -> None:
    """Rows 4 and 5: what the replicas said about themselves (their /metrics), on the same clock."""

    def line(row: int, x: list[float], y: list[Any], name: str, **style: Any) -> None:
        fig.add_trace(
            go.Scatter(x=x, y=y, name=name, mode="lines", line=style, connectgaps=False), row=row, col=1
        )

    seen: dict[str, int] = {}
    for status, values in w.requests.items():
        nth = seen[status[:1]] = seen.get(status[:1], -1) + 1
        line(4, w.bins, values, f"wallet: HTTP {status}/s", color=_status_color(status, nth), shape="hv")
    for replica, values in sorted(w.per_replica.items()):
        line(4, w.bins, values, f"wallet[{replica}]: requests/s", dash="dot", width=1, shape="hv")
    for replica, (t, v) in sorted(w.pool_in_use.items()):
        line(5, t, v, f"wallet[{replica}]: pool in use", width=1)
    for kind, values in w.db_errors.items():
        line(5, w.bins, values, f"wallet: db errors/s ({kind})", dash="dot", color="#b00020", shape="hv")


def timeline(
    run: StoredRun,
    verdict: judge.Verdict,
    faults: list[dict[str, Any]],
    s: series.Series,
    w: wallet_metrics.WalletSeries | None = None,
) -> go.Figure:
    """Rows sharing one clock (0 = the load's start): the load phases as a strip, throughput by outcome,
    latency from the intended start and, when the replicas expose the reference wallet's metrics, their own
    requests by status, pool use and database errors. Fault windows (apply invoked -> heal done) are shaded
    in the fault's colour, each heal's invoke is a dashed line, and the recovery window (heal invoked ->
    recovered) a green band with a dotted edge, so overlaps between them stay visible."""
    wallet = w is not None and w.charted
    fig = make_subplots(
        rows=5 if wallet else 3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.035 if wallet else 0.05,
        row_heights=[0.04, 0.36, 0.24, 0.18, 0.18] if wallet else [0.06, 0.56, 0.38],
        subplot_titles=(
            "",
            "throughput (ops/s) by outcome",
            "latency from intended start, every outcome (ms)",
            *(
                (
                    "wallet side (its /metrics): requests/s by status (all replicas) and per replica",
                    "wallet side: database pool connections in use per replica; database errors/s",
                )
                if wallet
                else ()
            ),
        ),
    )
    if wallet:
        assert w is not None
        _wallet_rows(fig, w)
    rows = range(2, 6 if wallet else 4)
    for kind, (label, color) in OUTCOMES.items():
        fig.add_trace(
            go.Bar(
                x=s.t,
                y=getattr(s, kind),
                name=label,
                marker_color=color,
                hovertemplate=f"{label}: %{{y:.0f}}/s at %{{x:.1f}}s<extra></extra>",
            ),
            row=2,
            col=1,
        )
    lines = [("p50, all", s.p50_ms, "dot", "#4e79a7"), ("p99, all", s.p99_ms, "solid", "#4e79a7")]
    lines += [
        (f"p99, {OUTCOMES[k][0].split(' ')[0]}", v, "dash", OUTCOMES[k][1])
        for k, v in s.p99_by_outcome.items()
    ]
    for name, values, dash, color in lines:
        if not any(v is not None for v in values):
            continue
        fig.add_trace(
            go.Scatter(
                x=s.t,
                y=values,
                name=name,
                mode="lines",
                line={"dash": dash, "color": color},
                connectgaps=False,
            ),
            row=3,
            col=1,
        )
    for i, (name, start, end) in enumerate(phases(run)):
        fig.add_vrect(
            x0=start,
            x1=end,
            row=1,
            col=1,
            fillcolor=PHASE_FILL[i % 2],
            opacity=1,
            exclude_empty_subplots=False,  # the strip has no trace of its own
            line_width=0,
            annotation_text=f"phase {name}",
            annotation_position="inside left",
            annotation_font_size=10,
        )
    for f in faults:
        label = f"{f['name']} @ {f['target']}"
        for row in rows:
            fig.add_vrect(
                x0=f["invoked_s"],
                x1=f["healed_s"],
                row=row,
                col=1,
                fillcolor=_fault_color(f["name"]),
                opacity=0.18,
                line_width=0,
                **_label(label if row == 2 else None, "top left"),
            )
            heal = f.get("heal_invoked_s", f["healed_s"])
            fig.add_vline(x=heal, row=row, col=1, line_dash="dash", line_width=1, line_color="#555")
            if f.get("recovery_s"):
                fig.add_vrect(
                    x0=heal,
                    x1=heal + f["recovery_s"],
                    row=row,
                    col=1,
                    fillcolor=RECOVERY_FILL,
                    opacity=0.10,
                    line_width=1,
                    line_dash="dot",
                    line_color=RECOVERY_FILL,
                    **_label(f"recovered +{f['recovery_s']:.1f}s" if row == 2 else None, "bottom right"),
                )
    marked = [
        (r.name, label, op)
        for r in verdict.violated()
        for label in ("first", "worst", "last")
        if (op := getattr(r, label)) is not None
    ]
    times = _op_times(run, {op.get("index") for _, _, op in marked} - {None})
    end = max(s.t, default=0.0)
    marks_x, marks_y, marks_text = [], [], []
    for name, label, op in marked:
        at = times.get(op.get("index")) if op.get("index") is not None else end
        if at is not None:
            marks_x.append(at)
            marks_y.append(0)
            marks_text.append(f"{name} ({label}): {json.dumps(op, default=str)[:160]}")
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
            row=2,
            col=1,
        )
    fig.update_layout(
        barmode="stack",
        bargap=0,
        height=900 if wallet else 620,
        margin={"l": 50, "r": 20, "t": 30, "b": 40},
        legend={"orientation": "h", "y": -0.08},
        template="plotly_white",
    )
    fig.update_yaxes(visible=False, fixedrange=True, row=1, col=1)
    fig.update_xaxes(title_text="seconds since the load started", row=rows[-1], col=1)
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


BUNDLE = f"plotly-basic-{get_plotlyjs_version()}.min.js"
"""The vendored bundle of the plotly.js version this plotly package generates figures for."""


def plotlyjs() -> str:
    return resources.files("reports").joinpath("assets", BUNDLE).read_text()


def shared_plotlyjs(run_dir: Path) -> list[str]:
    """Write the chart library once beside the runs (atomically; kept when it already has the right size)
    and return the relative paths a report in ``run_dir`` tries, in order."""
    run_dir = run_dir.resolve()
    name = BUNDLE
    assets = run_dir.parent / "assets"
    path = assets / name
    code = plotlyjs().encode()
    if not path.is_file() or path.stat().st_size != len(code):
        assets.mkdir(exist_ok=True)
        tmp = path.with_name(f".{name}.{os.getpid()}")
        tmp.write_bytes(code)
        os.replace(tmp, path)
    return [f"../assets/{name}", f"../{run_dir.parent.name}/assets/{name}"]


def render(run: StoredRun, verdict: judge.Verdict, single_file: bool = False) -> str:
    data = verdict_json.render(run, verdict)
    env = Environment(autoescape=select_autoescape(default=True))
    env.filters["word"] = validity_word
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, default=str)  # one line per op (pre-wrap wraps it)
    page = env.from_string(TEMPLATE.read_text())
    points = series.build(run)
    scraped = read_metrics(run.path / "metrics.jsonl")  # read once: the wallet-side series, the blast radius
    wallet = wallet_metrics.series(scraped)
    figures = {
        "timeline": timeline(run, verdict, data["faults"], points, wallet).to_html(
            full_html=False, include_plotlyjs=False, div_id="timeline", config=CONFIG
        ),
        "errors": error_classes(points).to_html(
            full_html=False, include_plotlyjs=False, div_id="errors", config=CONFIG
        ),
    }
    return page.render(
        run=run,
        verdict=verdict,
        data=data,
        figures=figures,
        plotlyjs=plotlyjs() if single_file else None,
        plotly_srcs=None if single_file else shared_plotlyjs(run.path),
        tables=summary.TABLES,
        header=summary.HEADER,
        cells=summary.cells,
        wallet=wallet,
        evidence=evidence.of,
        blasts=[
            (f, evidence.blast_radius(scraped, f)) for f in data["faults"] if f["name"].startswith("deploy")
        ],
    )
