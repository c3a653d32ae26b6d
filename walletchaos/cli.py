"""The ``walletchaos`` command line. Exit codes: 0 valid, 1 an invariant or bound violated, 2 unknown
(unresolved evidence, failed heal, interrupted), 254 bad input, 255 harness error."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .errors import EXIT_BAD_INPUT, EXIT_HARNESS, EXIT_INVALID, EXIT_UNKNOWN, ScenarioError, WalletchaosError
from .teardown import interruptible

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` (one machine-readable document on stdout, the human output on stderr) and ``--quiet``."""
    fn = click.option("--quiet", is_flag=True, help="No human output on stdout (errors still on stderr).")(fn)
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document to stdout (human output: stderr)."
    )(fn)


def emit(doc: dict[str, Any]) -> None:
    """The ``--json`` document: the only thing a command writes to stdout in that mode."""
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _guard(fn: Callable[..., int]) -> Callable[..., None]:
    """Map the exception tree onto exit codes, in one place (and, with --json, onto a JSON document)."""

    def wrapper(*args: Any, **kwargs: Any) -> None:
        global console
        interruptible()  # SIGTERM ends a command like Ctrl-C, never abruptly; only the first signal does
        as_json, quiet = kwargs.pop("as_json", False), kwargs.pop("quiet", False)
        if quiet:
            console = Console(file=open(os.devnull, "w"), highlight=False)  # noqa: SIM115
        elif as_json:
            console = Console(stderr=True, highlight=False, soft_wrap=True)
        if as_json:
            kwargs["as_json"] = True
        try:
            code = fn(*args, **kwargs)
        except ScenarioError as exc:
            for problem in exc.problems:
                err_console.print(Text.assemble(("error", "red"), ": ", problem), soft_wrap=True)
            code = EXIT_BAD_INPUT
            if as_json:
                emit({"schema": "walletchaos.problems/v1", "exit_code": code, "problems": exc.problems})
        except WalletchaosError as exc:
            err_console.print(Text.assemble(("harness error", "red"), ": ", str(exc)), soft_wrap=True)
            code = exc.exit_code
            if as_json:
                emit({"schema": "walletchaos.problems/v1", "exit_code": code, "problems": [str(exc)]})
        except KeyboardInterrupt:
            err_console.print(Text("interrupted", style="yellow"))
            code = EXIT_UNKNOWN
        except Exception:
            err_console.print(Text.assemble(("harness error", "red"), ":\n", traceback.format_exc()))
            code = EXIT_HARNESS
        sys.exit(code)

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


class Cli(click.Group):
    """Usage errors (a bad flag, a missing argument) exit 254 like any bad input; 2 means unknown."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_BAD_INPUT)
        except click.Abort:
            err_console.print("aborted")
            sys.exit(EXIT_UNKNOWN)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="walletchaos")
def main() -> None:
    """Chaos and load-testing harness for digital wallets.

    \b
    Examples:
      walletchaos run scenarios/smoke.yaml              # the demo: load + light faults, judged
      walletchaos run scenarios/bad_deploy.yaml --seed 7
      walletchaos run scenarios/singles_day.yaml --workers 2   # the load on two Locust workers
      walletchaos init my_promo                         # a commented starting scenario
      walletchaos validate scenarios/*.yaml
      walletchaos analyze runs/latest                   # re-judge a stored run, no services
      walletchaos report runs/latest                    # re-render every report file
      walletchaos compare runs/smoke/<old> runs/latest  # gate a release on regressions
      walletchaos conform http://127.0.0.1:8080 --admin-token-env WALLET_ADMIN
      walletchaos list-faults
    """


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--seed", type=int, help="Override the scenario's seed (every random choice derives from it).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Where run directories go.",
)
@click.option("--runtime", type=click.Choice(["local", "docker"]), help="Override the scenario's runtime.")
@click.option(
    "--repeat",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="Run it N times (same seed, each on a fresh stack): a baseline whose spread `compare` uses.",
)
@click.option("--web", is_flag=True, help="Serve Locust's web UI on 127.0.0.1 while the load runs.")
@click.option("--web-port", type=click.IntRange(1, 65535), default=8089, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Locust worker processes on this machine (0: the load runs in one process).",
)
@click.option(
    "--remote-workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Also wait for this many workers joining with `walletchaos worker --master HOST:PORT`.",
)
@click.option(
    "--workers-wait",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Seconds the master waits for every worker to join (Locust's --expect-workers-max-wait); short of "
    "workers then, the run makes no load and its verdict is unknown.",
)
@click.option(
    "--master-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="The Locust master's port for workers [default: 5557 with --remote-workers, else any free one].",
)
@click.option(
    "--master-bind",
    default="127.0.0.1",
    show_default=True,
    help="The address the Locust master listens on for --remote-workers.",
)
@output_options
@_guard
def run(
    scenario: Path,
    seed: int | None,
    out: Path,
    runtime: str | None,
    repeat: int = 1,
    web: bool = False,
    web_port: int = 8089,
    workers: int = 0,
    remote_workers: int = 0,
    master_port: int | None = None,
    master_bind: str = "127.0.0.1",
    workers_wait: float = 60.0,
    as_json: bool = False,
) -> int:
    """Run SCENARIO: start the stack, drive load, inject faults, judge. Exit 0/1/2 = valid/invalid/unknown
    (with --repeat: 1 if any run was invalid, else the worst other code).

    With --workers/--remote-workers the load runs on Locust's distributed mode: this process's load
    process is the master, each worker ships its history records to it, and the run is judged on the one
    merged history (a worker that did not account for every record makes the verdict unknown)."""
    from reports import render_all

    from .loader import load_with_warnings
    from .orchestrator import RunOptions
    from .orchestrator import run as run_scenario

    model, warnings = load_with_warnings(scenario)
    show_warnings(warnings)
    if runtime and runtime != model.runtime and model.runtime_problems(runtime):
        raise ScenarioError(
            [
                f"{scenario}: --runtime {runtime}: {'.'.join(map(str, loc))}: {msg}"
                for loc, msg in model.runtime_problems(runtime)
            ]
        )
    if model.target is not None:
        from .stack.target import check_target

        check_target(model.target, model.wallet.start_timeout)
    if web:
        _check_port_free(web_port, "--web-port")
    if master_port is None:
        master_port = 5557 if remote_workers else 0
    if master_port:
        _check_port_free(master_port, "--master-port", master_bind)
    from .load.config import Workers

    distributed = (
        Workers(local=workers, remote=remote_workers, port=master_port, bind=master_bind, wait=workers_wait)
        if workers + remote_workers
        else None
    )
    docs, codes = [], []
    for i in range(repeat):
        if repeat > 1:
            console.print(Text(f"run {i + 1} of {repeat}", style="bold"))
        options = RunOptions(
            scenario, seed, out, runtime, console, render_all, web_port if web else None, distributed
        )
        outcome = run_scenario(model, options)
        try:
            _show_outcome(outcome, model.name, model.seed if seed is None else seed)
        except KeyboardInterrupt:  # the run is judged and stored; an interrupt while printing changes nothing
            err_console.print(Text("interrupted while printing; the run directory holds the verdict"))
        stored = Path(outcome.run_dir) / "verdict.json"
        doc = json.loads(stored.read_text()) if stored.is_file() else {"exit_code": outcome.exit_code}
        docs.append({**doc, "run_dir": str(outcome.run_dir), "exit_code": outcome.exit_code})
        codes.append(outcome.exit_code)
        if outcome.verdict is None and outcome.exit_code != 0:  # interrupted or not judged: stop here
            break
    code = EXIT_INVALID if EXIT_INVALID in codes else max(codes)
    if repeat > 1:
        console.print(
            Text(f"{len(codes)} run(s) in {Path(docs[0]['run_dir']).parent}; exit codes {codes}"),
            soft_wrap=True,
        )
    if as_json:
        emit(docs[0] if repeat == 1 else {"schema": "walletchaos.runs/v1", "exit_code": code, "runs": docs})
    return code


def _check_port_free(port: int, option: str, host: str = "127.0.0.1") -> None:
    """Before anything starts: the port must be free (a taken one is a 254 naming the option)."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, port))
    except OSError as exc:
        raise ScenarioError([f"{option} {port}: {host}:{port} cannot be used ({exc.strerror})"]) from None


def _show_outcome(outcome: Any, name: str, seed: int) -> None:
    from reports import terminal

    if outcome.verdict is not None:
        stored = Path(outcome.run_dir) / "verdict.json"
        load = json.loads(stored.read_text()).get("load") if stored.is_file() else None
        terminal.show(console, outcome.verdict, f"{name} (seed {seed})", load)
    console.print(
        Text.assemble("run directory: ", (str(outcome.run_dir), "bold"), f"  (report: {outcome.report})"),
        soft_wrap=True,
    )
    if outcome.exit_code != 0:
        console.print(Text.assemble("re-run with: ", (outcome.rerun, "bold")), soft_wrap=True)


@main.command()
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), help="Where to write it (default: NAME.yaml here).")
@_guard
def init(name: str, out: Path | None) -> int:
    """Write a commented starting scenario NAME.yaml (closed and open load phases, a fault with an
    expectation, SLOs), validated before it is written; an existing file is never overwritten."""
    import re
    from importlib import resources

    from .loader import load_scenario

    if not re.fullmatch(r"[a-z0-9_][a-z0-9_-]*", name) or len(name) > 64:
        raise ScenarioError([f"init {name!r}: a name is [a-z0-9_-] (up to 64), not starting with '-'"])
    path = out or Path(f"{name}.yaml")
    if path.exists():
        raise ScenarioError([f"{path}: already exists; choose another name or --out"])
    template = resources.files("walletchaos").joinpath("templates/scenario.yaml").read_text()
    draft = path.with_name(f".{path.name}.draft")
    draft.write_text(template.format(name=name))
    try:
        load_scenario(draft)  # the scaffold is a valid scenario, or nothing is written
        draft.rename(path)
    finally:
        draft.unlink(missing_ok=True)
    console.print(Text.assemble(("wrote", "green"), f" {path}: edit it, then `walletchaos run {path}`"))
    return 0


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
@output_options
@_guard
def validate(scenarios: tuple[Path, ...], as_json: bool = False) -> int:
    """Check scenario files; report every problem at once as file:line:col: field: message (and warnings,
    which do not fail the check)."""
    from .loader import load_with_warnings

    problems: list[str] = []
    ok: list[str] = []
    warnings: list[str] = []
    for path in scenarios:
        try:
            _, said = load_with_warnings(path)
            ok.append(str(path))
            console.print(Text.assemble(("ok", "green"), f" {path}"))
            warnings += said
            show_warnings(said)
        except ScenarioError as exc:
            problems += exc.problems
    if problems:
        raise ScenarioError(problems)  # with --json: the problems document
    if as_json:
        emit(
            {
                "schema": "walletchaos.validate/v1",
                "exit_code": 0,
                "ok": ok,
                "problems": [],
                "warnings": warnings,
            }
        )
    return 0


def show_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        err_console.print(Text.assemble(("warning", "yellow"), f": {warning}"), soft_wrap=True)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@output_options
@_guard
def analyze(run_dir: Path, as_json: bool = False) -> int:
    """Re-judge a stored run (history + audit) without any service; rewrites verdict.json."""
    from reports import terminal, verdict_json

    from . import judge, store

    with contextlib.closing(store.load_run(run_dir)) as stored:  # its history checked, not held
        verdict = judge.check(stored.scenario, stored.columns(), stored.audit)  # one read, for both
        doc = verdict_json.render(stored, verdict)
    store.write_json(stored.path / "verdict.json", doc)
    terminal.show(console, verdict, f"{stored.scenario.name} (analyzed {stored.path})", doc["load"])
    if as_json:
        emit(doc)
    return verdict.exit_code


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--single-file",
    is_flag=True,
    help="Inline the chart library (+4.6 MB) so report.html opens on its own, away from the runs folder.",
)
@_guard
def report(run_dir: Path, single_file: bool) -> int:
    """Re-render every report of a stored run (verdict.json, junit.xml, summary.md, report.html)."""
    from reports import write_all

    verdict = write_all(run_dir, single_file)
    console.print(f"wrote verdict.json, junit.xml, summary.md, report.html in {run_dir.resolve()}")
    return verdict.exit_code


@main.command()
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--recovery-slack", default="1s", show_default=True, help="Allowed slower recovery per fault.")
@click.option(
    "--error-slack",
    type=float,
    default=0.005,
    show_default=True,
    help="Allowed rise of the outside-fault error rate (0.005 = half a percentage point).",
)
@click.option(
    "--p99-slack", type=float, default=0.25, show_default=True, help="Allowed relative rise of p99."
)
@click.option("--other-seed", is_flag=True, help="Compare runs with different seeds (refused by default).")
@output_options
@_guard
def compare(
    baseline: Path,
    run_dir: Path,
    recovery_slack: str,
    error_slack: float,
    p99_slack: float,
    other_seed: bool,
    as_json: bool = False,
) -> int:
    """Deltas between stored runs of one scenario; exit 1 when RUN_DIR regressed (release gating).

    BASELINE and RUN_DIR are each a run directory or a folder of them (`run --repeat N --out DIR`): timings
    are judged against the baseline's range (its noise) plus the slack; the run side's median counts."""
    from rich.table import Table

    from reports.compare import Slack, run_dirs
    from reports.compare import compare as diff

    from .durations import parse_span

    try:
        slack = Slack(parse_span(recovery_slack), error_slack, p99_slack)
    except ValueError as exc:
        raise ScenarioError([f"--recovery-slack: {exc}"]) from None
    rows = diff(baseline, run_dir, slack, other_seed)
    counts = len(run_dirs(baseline)), len(run_dirs(run_dir))
    table = Table(
        "metric",
        f"baseline ({counts[0]} run{'s' * (counts[0] > 1)}{': range' * (counts[0] > 1)})",
        f"run ({counts[1]} run{'s' * (counts[1] > 1)}{': median' * (counts[1] > 1)})",
        "delta",
        "",
    )
    for row in rows:
        table.add_row(
            Text(row.metric),  # fault labels carry the scenario's targets (`ingress[1]`): text, not markup
            Text(str(row.base)),
            Text(str(row.run)),
            Text(row.delta),
            Text("REGRESSION", "bold red") if row.regression else Text("ok", "green"),
        )
    console.print(table)
    regressed = [r.metric for r in rows if r.regression]
    if as_json:
        emit(
            {
                "schema": "walletchaos.compare/v1",
                "exit_code": 1 if regressed else 0,
                "baseline": str(baseline),
                "run": str(run_dir),
                "baseline_runs": counts[0],
                "runs": counts[1],
                "rows": [vars(r) for r in rows],
                "regressed": regressed,
            }
        )
    if regressed:
        console.print(f"[bold red]regressed[/]: {', '.join(regressed)}")
        return 1
    console.print("[green]no regression[/]")
    return 0


@main.command()
@click.option("--master", required=True, metavar="HOST:PORT", help="The run's Locust master (see `run`).")
def worker(master: str) -> None:
    """Join a run started with `run --remote-workers N` as one Locust worker: this machine then sends part
    of the load, and ships its history records to the run (the wallet's addresses must be reachable from
    here). Ends when the run's load ends."""
    host, _, port = master.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        err_console.print(Text(f"--master {master}: expected HOST:PORT"))
        sys.exit(EXIT_BAD_INPUT)
    # its own process: Locust patches the standard library with gevent on import
    os.execv(sys.executable, [sys.executable, "-m", "walletchaos.load", "--worker", master])


@main.command()
@_guard
def clean() -> int:
    """Remove what killed runs left behind (processes, cluster directories, load configs, containers); lists
    each thing removed. Runs still in progress are never touched."""
    from .leftovers import sweep

    removed = sweep(containers=True)
    for line in removed:
        console.print(Text(f"removed {line}"), soft_wrap=True)
    console.print(f"{len(removed)} leftover(s) removed")
    return 0


@main.group()
def images() -> None:
    """Container images for the docker runtime."""


@images.command(name="build")
@click.option(
    "--offline-base",
    is_flag=True,
    help="Bootstrap a Debian base locally (debootstrap + docker import) for machines without a registry.",
)
@_guard
def images_build(offline_base: bool) -> int:
    """Build walletchaos/wallet, walletchaos/postgres and walletchaos/toxiproxy."""
    from .images import build

    for tag, image_id in build(offline_base, log=lambda m: console.print(f"[dim]{m}[/]")).items():
        console.print(f"[green]built[/] {tag} {image_id}")
    return 0


@main.command()
@click.argument("url")
@click.option(
    "--admin-token-env",
    required=True,
    metavar="NAME",
    help="The environment variable that holds the wallet's admin token.",
)
@click.option("--quick", is_flag=True, help="Only the clauses `run` checks before its load.")
@_guard
def conform(url: str, admin_token_env: str, quick: bool) -> int:
    """Probe the wallet running at URL for wallet contract v1, clause by clause. Exit 0 when every clause
    holds, 1 otherwise. It creates three accounts of its own (usernames conform-<tag>-a/b/m)."""
    from pydantic import ValidationError

    from .conform import conform as probe
    from .scenario import Target
    from .stack.target import admin_token

    try:
        target = Target(url=url, admin_token_env=admin_token_env)
    except ValidationError as exc:
        raise ScenarioError(
            [f"{e['loc'][0]}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        ) from None
    clauses = probe(target.url, admin_token(target), quick=quick)
    for c in clauses:
        mark = ("PASS", "green") if c.ok else ("FAIL", "bold red")
        console.print(Text.assemble(mark, " ", c.name), soft_wrap=True)
        if c.detail:
            console.print(Text("     " + c.detail, style="dim"), soft_wrap=True)
    failed = sum(not c.ok for c in clauses)
    console.print(Text(f"{len(clauses) - failed} of {len(clauses)} clause(s) hold", style="bold"))
    return 1 if failed else 0


@main.command(name="list-faults")
@_guard
def list_faults() -> int:
    """Every fault family and kind, with its targets."""
    from rich.table import Table

    from . import fault as registry
    from .targets import SINGLE

    table = Table("fault", "targets", "what it does")
    for family, cls in sorted(registry.families().items()):
        targets = ", ".join(t if t in SINGLE else f"{t}, {t}[i]" for t in cls.targets)
        for kind, doc in cls.kinds.items():
            table.add_row(Text(family if kind == family else f"{family}.{kind}"), Text(targets), Text(doc))
    console.print(table)
    return 0


if __name__ == "__main__":
    main()
