"""The two distributions, built as wheels and installed into fresh venvs outside the source tree
(see tests/packaging_support.py for how the venvs get exactly their declared dependencies)."""

from __future__ import annotations

import inspect
import json
import pydoc
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.packaging_support import (
    CODE_LOCATION,
    CONSTRUCTS,
    ROOT,
    built_wheels,
    installed_venv,
    requires_dist,
)

LAMBDAS = {"alert_relay", "alert_webhook"}


def wheel_names(distribution: str) -> set[str]:
    with zipfile.ZipFile(built_wheels()[distribution]) as archive:
        return set(archive.namelist())


def source_files(folder: Path) -> set[str]:
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_construct_wheel_holds_every_subpackage_and_the_lambda_code():
    names = wheel_names(CONSTRUCTS)
    for path in source_files(ROOT / "constructs_lib"):
        assert f"constructs_lib/{path}" in names
    for name in LAMBDAS:
        expected = {p for p in source_files(ROOT / "lambdas" / name) if p.endswith(".py")}
        assert expected and {f"constructs_lib/lambda_code/{name}/{p}" for p in expected} <= names
    assert not any(n.startswith(("dagster_platform/", "tests/", "stacks/", "config/")) for n in names)


def test_code_location_wheel_holds_dagster_platform_and_its_command():
    names = wheel_names(CODE_LOCATION)
    assert {f"dagster_platform/{p}" for p in source_files(ROOT / "dagster_platform") if p.endswith(".py")} <= names
    assert not any(n.startswith(("constructs_lib/", "lambdas/")) for n in names)
    with zipfile.ZipFile(built_wheels()[CODE_LOCATION]) as archive:
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "dagster-platform = dagster_platform.cli:main" in entry_points


@pytest.mark.parametrize("distribution", [CONSTRUCTS, CODE_LOCATION])
def test_every_dependency_is_declared_with_a_range(distribution):
    requirements = requires_dist(distribution)
    assert requirements
    for requirement in requirements:
        operators = {spec.operator for spec in requirement.specifier}
        assert operators == {"=="} or ({">=", "<"} <= operators), f"{distribution}: {requirement} needs a range"
    names = {r.name for r in requirements if r.marker is None}
    if distribution == CODE_LOCATION:
        assert names == {"dagster", "boto3"}
    else:
        assert {"aws-cdk-lib", "constructs", "jsii", "cdk-nag", "pydantic", "PyYAML", "cfn-lint", "botocore",
                CODE_LOCATION} == names


def test_code_location_package_installs_without_cdk_and_its_command_checks_a_location(tmp_path):
    venv = installed_venv(CODE_LOCATION)
    imports = venv.python_code(  # every module of the package imports with only its declared dependencies
        "import importlib, importlib.util, pkgutil, dagster_platform\n"
        "for module in pkgutil.iter_modules(dagster_platform.__path__):\n"
        "    if module.name != '__main__': importlib.import_module(f'dagster_platform.{module.name}')\n"
        "print(dagster_platform.checker.__file__)\n"
        "print(sorted(m for m in ('aws_cdk', 'jsii', 'constructs', 'constructs_lib') if importlib.util.find_spec(m)))"
    )
    assert imports.returncode == 0, imports.stderr
    module_file, present = imports.stdout.splitlines()
    assert module_file.startswith(str(venv.path)) and present == "[]"

    from constructs_lib.code_locations import render_run_policy_json
    from constructs_lib.config import load_environment

    policy = tmp_path / "run_policy.json"
    policy.write_text(render_run_policy_json(load_environment(ROOT / "config" / "prod.yaml")))
    sample = ROOT / "tests" / "dagster_platform" / "sample_location"
    for name in ("good_definitions.py", "bad_definitions.py"):
        shutil.copy(sample / name, tmp_path / name)
        arguments = ["check", "--policy", str(policy), "--location", "analytics", name]
        installed = venv.run(str(venv.path / "bin" / "dagster-platform"), *arguments, cwd=tmp_path)
        in_tree = subprocess.run(
            [sys.executable, "-m", "dagster_platform", *arguments], cwd=tmp_path, capture_output=True, text=True,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=300,
        )
        assert (installed.returncode, installed.stdout) == (in_tree.returncode, in_tree.stdout), installed.stderr
        assert installed.returncode == (0 if name.startswith("good") else 1), installed.stdout + installed.stderr


@pytest.fixture(scope="module")
def user_app(tmp_path_factory):
    """tests/packaging_user_app.py, run from its own folder with the construct venv's Python (-I)."""
    venv = installed_venv(CONSTRUCTS, CODE_LOCATION)
    folder = tmp_path_factory.mktemp("user-app")
    shutil.copy(ROOT / "tests" / "packaging_user_app.py", folder / "app.py")
    config = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    config["alerting"]["webhook"] = True  # so the webhook's Lambda code is packaged too
    (folder / "dev.yaml").write_text(yaml.safe_dump(config))
    completed = venv.run(str(venv.python), "-I", "app.py", "dev.yaml", str(folder / "cdk.out"), cwd=folder, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    summary = json.loads(completed.stdout.splitlines()[-1])
    return venv, summary, json.loads(Path(summary["template"]).read_text())


def test_user_app_uses_the_installed_library_not_the_source_tree(user_app):
    venv, summary, _ = user_app
    assert summary["constructs_lib"].startswith(str(venv.path / "lib"))
    assert not summary["outdir"].startswith(str(ROOT))


def test_user_app_synthesizes_every_construct(user_app):
    _, _, template = user_app
    types = {resource["Type"] for resource in template["Resources"].values()}
    for expected in (
        "AWS::EC2::VPC", "AWS::ECS::Cluster", "AWS::ServiceDiscovery::PrivateDnsNamespace", "AWS::ECS::Service",
        "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup", "AWS::ECR::Repository", "AWS::S3::Bucket",
        "AWS::SQS::Queue", "AWS::Lambda::Function", "AWS::KinesisFirehose::DeliveryStream",
        "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::SSM::Parameter",
    ):
        assert expected in types


def test_lambda_code_of_the_installed_wheel_is_staged_with_the_alert_contract(user_app):
    venv, summary, template = user_app
    outdir = Path(summary["outdir"])
    keys = {  # a function's code is the staged folder asset.<hash> of the S3 key <hash>.zip
        resource["Properties"]["Code"]["S3Key"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and isinstance(resource["Properties"]["Code"].get("S3Key"), str)
    }
    folders = [outdir / f"asset.{key.removesuffix('.zip')}" for key in keys]
    contents = [source_files(folder) for folder in folders if folder.is_dir()]
    relay = next(files for files in contents if "alert_relay_core/relay.py" in files)
    assert {"handler.py", "routes.json", "dagster_platform/alert_contract.py"} <= relay
    assert relay >= {p for p in source_files(ROOT / "lambdas" / "alert_relay") if p.endswith(".py")}
    webhook = next(files for files in contents if files != relay and "handler.py" in files)
    assert webhook == {p for p in source_files(ROOT / "lambdas" / "alert_webhook") if p.endswith(".py")}
    located = venv.python_code(
        "from constructs_lib.alerting.lambda_asset import lambda_source; print(lambda_source('alert_relay'))"
    )
    assert located.stdout.strip() == str(next((venv.path / "lib").glob("python*/site-packages"))
                                         / "constructs_lib" / "lambda_code" / "alert_relay")


def public_constructs():
    import constructs
    import constructs_lib

    return [
        getattr(constructs_lib, name) for name in constructs_lib.__all__
        if inspect.isclass(getattr(constructs_lib, name)) and issubclass(getattr(constructs_lib, name), constructs.Construct)
    ]


@pytest.mark.parametrize("construct", public_constructs(), ids=lambda c: c.__name__)
def test_help_shows_the_constructs_own_init_docstring(construct):
    import constructs

    doc = inspect.getdoc(construct.__init__)
    assert doc and doc != inspect.getdoc(constructs.Construct.__init__), f"{construct.__name__}.__init__ has no docstring"
    shown = pydoc.render_doc(construct, renderer=pydoc.plaintext)
    assert doc.splitlines()[0] in shown and (construct.__doc__ or "").strip().splitlines()[0] in shown


def test_validate_extra_admits_the_dagster_versions_the_app_checks_with():
    from tests.packaging_support import dependency_closure

    extra = [r for r in requires_dist(CONSTRUCTS) if r.marker is not None and r.marker.evaluate({"extra": "validate"})]
    assert sorted(r.name for r in extra) == ["dagster", "dagster-aws", "dagster-cloud"]
    unmarked = [f"{r.name}{r.specifier}" for r in extra]
    names = {d.metadata["Name"].lower() for d in dependency_closure(unmarked, provided={})}
    assert {"dagster", "dagster-aws", "dagster-cloud", "dagster-cloud-cli"} <= names
