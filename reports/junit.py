"""junit.xml: one testcase per invariant, evidence check, recovery bound and SLO; failures carry evidence."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from walletchaos import judge
from walletchaos.store import StoredRun


def render(run: StoredRun, verdict: judge.Verdict) -> str:
    results = verdict.results
    suite = ET.Element(
        "testsuite",
        name=f"walletchaos.{run.scenario.name}",
        tests=str(len(results)),
        failures=str(sum(r.valid is False for r in results)),
        skipped=str(sum(r.valid is None for r in results)),
        errors="0",
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("seed", run.meta.get("seed")),
        ("runtime", run.meta.get("runtime")),
        ("rerun", run.meta.get("rerun")),
    ):
        ET.SubElement(props, "property", name=name, value=str(value))
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"walletchaos.{run.scenario.name}.{r.kind}",
            name=r.name,
            time=f"{r.seconds:.3f}",
        )
        evidence = json.dumps(
            {"count": r.count, "first": r.first, "worst": r.worst, "last": r.last, "details": r.details},
            indent=2,
            default=str,
        )
        if r.valid is False:
            ET.SubElement(case, "failure", message=r.summary, type=r.kind).text = evidence
        elif r.valid is None:
            ET.SubElement(case, "skipped", message=f"{r.word}: {r.summary}").text = evidence
        ET.SubElement(case, "system-out").text = r.summary
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
