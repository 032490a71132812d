"""The README's "Using the constructs from another CDK app" example runs as written against the INSTALLED wheel of
the construct library (a fresh venv outside the source tree, see tests/packaging_support.py), synthesizes the agent
with its rendered config, and passes the platform's checks once they are attached."""

from __future__ import annotations

import json
import re

from tests.packaging_support import CODE_LOCATION, CONSTRUCTS, ROOT, installed_venv

# Runs the example in the venv: argv[1] the example's file, argv[2] "checked" to attach the platform's checks first.
RUNNER = """
import json, sys
import constructs_lib
example = open(sys.argv[1]).read()
if sys.argv[2] == "checked":
    example = example.replace(
        "app = App()", "app = App()\\nfrom constructs_lib.nag import attach_platform_checks\\nattach_platform_checks(app)", 1
    )
namespace = {}
exec(compile(example, "README.md", "exec"), namespace)
stack = namespace["stack"]
template = namespace["app"].synth().get_stack_by_name(stack.stack_name).template
print(json.dumps({"constructs_lib": constructs_lib.__file__, "template": template}))
"""


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using the constructs from another CDK app", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run_example(tmp_path, mode: str):
    venv = installed_venv(CONSTRUCTS, CODE_LOCATION)
    (tmp_path / "example.py").write_text(readme_example())
    (tmp_path / "runner.py").write_text(RUNNER)
    completed = venv.run(str(venv.python), "-I", "runner.py", "example.py", mode, cwd=tmp_path, timeout=600)
    return venv, completed


def test_readme_library_example_synthesizes_an_agent_with_its_rendered_config(tmp_path):
    venv, completed = run_example(tmp_path, "plain")
    assert completed.returncode == 0, completed.stderr[-4000:]
    *printed, last = completed.stdout.splitlines()
    result = json.loads(last)
    assert result["constructs_lib"].startswith(str(venv.path / "lib"))  # the wheel, not the source tree
    printed = "\n".join(printed)
    assert "class: DagsterCloudAgentInstance" in printed and "https://acme.agent.dagster.cloud" in printed
    resources = result["template"]["Resources"].values()
    services = [r for r in resources if r["Type"] == "AWS::ECS::Service"]
    assert [s["Properties"]["DesiredCount"] for s in services] == [2]
    assert sum(r["Type"] == "AWS::EC2::NatGateway" for r in resources) == 2


def test_readme_example_passes_the_platforms_checks_once_attached(tmp_path):
    _, completed = run_example(tmp_path, "checked")
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
