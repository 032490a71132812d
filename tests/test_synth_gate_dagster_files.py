"""Every environment's rendered Dagster files pass Dagster's own schemas at synth, each check refuses
what Dagster would refuse with one line naming file and field, and an unchanged file is not
checked twice. (The CLI-level proof, `cdk synth` exiting 1 on such a file, is in test_synth_gate.py.)"""

from __future__ import annotations

import copy
import sys

import pytest
import yaml

from constructs_lib import dagster_files
from constructs_lib.dagster_files import DagsterFileError, check_files, validate_files
from tests.support import CONFIG_DIR

ENVIRONMENTS = sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))
CHECKED = {"dagster.yaml", "dagster_cloud.yaml", "deployment_settings.yaml", "alert_policies.yaml"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_rendered_file_of_every_environment_passes(synthesized, environment):
    artifacts = synthesized.stages[environment].artifacts
    assert CHECKED <= set(artifacts)
    assert check_files({f"cdk.out/dagster/{environment}": artifacts}) == []


def broken(synthesized, name: str, change) -> dict[str, dict[str, str]]:
    document = copy.deepcopy(yaml.safe_load(synthesized.stages["prod"].artifacts[name]))
    change(document)
    return {"cdk.out/dagster/prod": {name: yaml.safe_dump(document)}}


def first_location_ecs(document):
    return document["locations"][0]["container_context"]["ecs"]


@pytest.mark.parametrize(
    "name, change, expected",
    [
        ("dagster_cloud.yaml", lambda d: d["locations"][0].pop("location_name"),
         "cdk.out/dagster/prod/dagster_cloud.yaml: locations.0.location_name: Field required"),
        ("dagster_cloud.yaml", lambda d: first_location_ecs(d).update(run_resourcez={"cpu": "256"}),
         "cdk.out/dagster/prod/dagster_cloud.yaml: locations[analytics].container_context.ecs: "
         'Received unexpected config entry "run_resourcez" at the root.'),
        ("dagster_cloud.yaml", lambda d: first_location_ecs(d).update(run_resources={"cpu": 256}),
         "cdk.out/dagster/prod/dagster_cloud.yaml: locations[analytics].container_context.ecs: "
         'Invalid scalar at path root:run_resources:cpu. Value "256" of type "<class \'int\'>" is not valid for expected type "String".'),
        ("deployment_settings.yaml", lambda d: d["concurrency"].update(run={"max_concurrent_runs": 1}),
         'cdk.out/dagster/prod/deployment_settings.yaml: concurrency: Received unexpected config entry "run" at the root.'),
        ("deployment_settings.yaml", lambda d: d["run_retries"].update(max_retries="two"),
         "cdk.out/dagster/prod/deployment_settings.yaml: run_retries: Invalid scalar at path root:max_retries."),
        ("deployment_settings.yaml", lambda d: d.update(run_queue={"max_concurrent_runs": 1}),
         "cdk.out/dagster/prod/deployment_settings.yaml: run_queue: no Dagster schema to check this section against"),
        ("alert_policies.yaml", lambda d: d["alert_policies"][0].pop("event_types"),
         "cdk.out/dagster/prod/alert_policies.yaml: alert_policies[0].event_types: missing"),
        ("alert_policies.yaml", lambda d: d["alert_policies"].append(copy.deepcopy(d["alert_policies"][0])),
         "cdk.out/dagster/prod/alert_policies.yaml: alert_policies: name 'prod-agent-unavailable' is used more than once"),
    ],
    ids=["cloud-yaml-model", "container-context-key", "container-context-type", "concurrency", "run-retries",
         "unknown-section", "alert-shape", "alert-duplicate"],
)
def test_each_check_refuses_what_dagster_would_with_one_line(synthesized, name, change, expected):
    problems = check_files(broken(synthesized, name, change))
    assert any(line.startswith(expected) for line in problems), problems
    assert all("\n" not in line for line in problems)
    with pytest.raises(DagsterFileError) as raised:
        validate_files(broken(synthesized, name, change))
    assert raised.value.lines == problems


def test_a_file_that_is_not_yaml_is_one_line():
    problems = check_files({"x": {"dagster_cloud.yaml": "locations: [\n"}})
    assert len(problems) == 1 and problems[0].startswith("x/dagster_cloud.yaml: not valid YAML (")


def test_passed_files_are_remembered_by_content_and_a_changed_file_is_checked_again(synthesized, tmp_path, monkeypatch):
    files = {"cdk.out/dagster/dev": synthesized.stages["dev"].artifacts}
    assert check_files(files, outdir=tmp_path) == []
    assert (tmp_path / ".platform-checks" / "dagster-files.json").is_file()

    calls = []
    monkeypatch.setattr(dagster_files, "CHECKS", {name: (lambda text, name=name: calls.append(name) or [])
                                                   for name in dagster_files.CHECKS})
    assert check_files(files, outdir=tmp_path) == [] and calls == []
    changed = dict(files["cdk.out/dagster/dev"], **{"dagster.yaml": files["cdk.out/dagster/dev"]["dagster.yaml"] + "\n"})
    check_files({"cdk.out/dagster/dev": changed}, outdir=tmp_path)
    assert calls == ["dagster.yaml"]


def test_a_failed_file_is_not_remembered(synthesized, tmp_path):
    files = broken(synthesized, "alert_policies.yaml", lambda d: d["alert_policies"][0].pop("name"))
    assert check_files(files, outdir=tmp_path)
    assert check_files(files, outdir=tmp_path)  # still refused on the next synth


def test_a_warm_check_does_not_import_dagster(synthesized, tmp_path):
    import subprocess

    files = {"cdk.out/dagster/dev": synthesized.stages["dev"].artifacts}
    assert check_files(files, outdir=tmp_path) == []
    probe = (
        "import json, sys; from constructs_lib.dagster_files import check_files; "
        f"files = json.loads(sys.argv[1]); assert check_files(files, outdir={str(tmp_path)!r}) == []; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_cloud', 'dagster_aws', 'dagster_cloud_cli')))"
    )
    import json

    from tests.support import ROOT

    result = subprocess.run([sys.executable, "-c", probe, json.dumps(files)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
