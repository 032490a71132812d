"""Make synth fail on every unacknowledged validation finding, whoever runs the app.

CDK writes the findings of its validation plugins (cdk-nag, cfn-lint, error annotations) to
``<outdir>/validation-report.json``. Whether synth then fails is decided by the context key
``@aws-cdk/core:failSynthOnValidationErrors``, and the CDK CLI (2.1148) passes ``false``: it
means to read the report itself, but it only reads the findings of the stacks it selected, and
``cdk synth`` without arguments selects no stack of an app whose stacks all sit in Stages. So
``cdk synth`` printed "Successfully synthesized" over a failed report.

:func:`install` wraps ``app.synth()``: after CDK synthesizes, the report is read, and if any plugin
concluded "failure", synth raises :class:`SynthChecksFailed` (a ``SystemExit``): the app process
exits 1 with one line per finding, no traceback, and the CLI (``cdk synth``, ``cdk deploy``) stops
before touching AWS. Inside tests, where CDK itself raises on a failed report, the same error is
raised with the same lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORT_FILE = "validation-report.json"
#: Severities that do not fail synth on their own.
NON_FAILING = {"warning", "info", "informational"}
HINT = (
    "fix each, or acknowledge it with a reason on the narrowest construct: "
    "constructs_lib.nag.acknowledge(construct, rule, reason) (cfn-lint rules as \"cfn-lint::E3024\")"
)


@dataclass(frozen=True)
class ReportFinding:
    plugin: str
    rule: str
    severity: str
    construct_path: str
    description: str

    def line(self) -> str:
        description = " ".join(self.description.split())
        return f"{self.construct_path}: {self.rule} ({self.plugin}, {self.severity}): {description}"


def failing_findings(report: Any) -> list[ReportFinding]:
    """The findings that fail synth in a parsed ``validation-report.json``, in a stable order."""
    found: list[ReportFinding] = []
    for plugin in report.get("pluginReports") or []:
        if plugin.get("conclusion") != "failure":
            continue
        name = str(plugin.get("pluginName", "plugin"))
        before = len(found)
        for violation in plugin.get("violations") or []:
            severity = str(violation.get("severity") or "error")
            if severity.lower() in NON_FAILING:
                continue
            constructs = violation.get("violatingConstructs") or [{}]
            for construct in constructs:
                path = construct.get("constructPath") or construct.get("templatePath") or "(template)"
                location = construct.get("locations") or []
                if not construct.get("constructPath") and location:
                    path = f"{path} {location[0]}"
                found.append(ReportFinding(name, str(violation.get("ruleName", "?")), severity, str(path),
                                           str(violation.get("description", ""))))
        if len(found) == before:
            found.append(ReportFinding(name, "-", "failure", "(report)", "the plugin concluded failure"))
    return sorted(set(found), key=lambda f: (f.construct_path, f.rule, f.plugin, f.description))


def read_failures(outdir: str | Path) -> list[ReportFinding]:
    path = Path(outdir) / REPORT_FILE
    if not path.is_file():
        return []
    return failing_findings(json.loads(path.read_text()))


class SynthChecksFailed(SystemExit):
    """Synth found unacknowledged findings. Exits the app with status 1 and one line per finding."""

    def __init__(self, findings: list[ReportFinding], report: Path) -> None:
        self.findings = findings
        self.report = report
        noun = "finding" if len(findings) == 1 else "findings"
        lines = [f"synth failed: {len(findings)} unacknowledged {noun} (full report: {report})"]
        lines += [finding.line() for finding in findings]
        lines.append(HINT)
        self.message = "\n".join(lines)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def install(app: Any) -> None:
    """Wrap ``app.synth`` so that a failed validation report fails synth (idempotent)."""
    if getattr(app, "_platform_synth_gate", False):
        return
    original = app.synth

    def synth(*args: Any, **kwargs: Any) -> Any:
        report = Path(app.outdir) / REPORT_FILE
        report.unlink(missing_ok=True)  # never judge this synth by an earlier one's report
        try:
            assembly = original(*args, **kwargs)
        except Exception as error:
            # CDK raises itself when it handles the report (outside the CLI); say it the same way.
            findings = read_failures(report.parent) if "ValidationFailed" in str(error) else []
            if not findings:
                raise
            raise SynthChecksFailed(findings, report) from None
        findings = read_failures(assembly.directory)
        if findings:
            raise SynthChecksFailed(findings, Path(assembly.directory) / REPORT_FILE)
        return assembly

    app.synth = synth
    app._platform_synth_gate = True
