"""The AWS calls of the real Dagster+ ECS launchers, and the IAM authorizations they need.

``launcher_calls`` runs dagster-cloud's EcsUserCodeLauncher and dagster-aws's EcsRunLauncher through
their real code paths against a moto prod world and records every call. These tests pin what each phase
calls (a new library version that calls something new fails here with the difference), prove that every
call maps to IAM requests, and check the mapping of the actions that are easy to get wrong.
"""

from __future__ import annotations

import pytest

from tests.authz import launcher_calls as lc
from tests.authz.requests import AuthzRequest

#: What each phase calls, as recorded from dagster-cloud 1.13.27 / dagster-aws 0.29.27.
PINNED: dict[str, set[tuple[str, str]]] = {
    lc.PREVIOUS_AGENT: {
        ("ecs", "CreateService"),
        ("ecs", "DescribeServices"),
        ("ecs", "DescribeTaskDefinition"),
        ("ecs", "DescribeTasks"),
        ("ecs", "ListAccountSettings"),
        ("ecs", "ListServices"),
        ("ecs", "ListTasks"),
        ("ecs", "RegisterTaskDefinition"),
        ("resourcegroupstaggingapi", "GetResources"),
        ("secretsmanager", "ListSecrets"),
        ("servicediscovery", "CreateService"),
        ("servicediscovery", "GetNamespace"),
    },
    lc.AGENT_START: {
        ("ecs", "DeleteService"),
        ("ecs", "DescribeServices"),
        ("ecs", "ListServices"),
        ("ecs", "UpdateService"),
        ("servicediscovery", "DeleteService"),
        ("servicediscovery", "DeregisterInstance"),
        ("servicediscovery", "GetNamespace"),
        ("servicediscovery", "GetOperation"),
        ("servicediscovery", "ListInstances"),
        ("servicediscovery", "ListServices"),
        ("servicediscovery", "ListTagsForResource"),
    },
    lc.CREATE: {
        ("ecs", "CreateService"),
        ("ecs", "DescribeServices"),
        ("ecs", "DescribeTaskDefinition"),
        ("ecs", "DescribeTasks"),
        ("ecs", "ListAccountSettings"),
        ("ecs", "ListServices"),
        ("ecs", "ListTasks"),
        ("ecs", "RegisterTaskDefinition"),
        ("resourcegroupstaggingapi", "GetResources"),
        ("secretsmanager", "ListSecrets"),
        ("servicediscovery", "CreateService"),
    },
    lc.PERIODIC: {
        ("ecs", "DescribeServices"),
        ("ecs", "ListServices"),
        ("servicediscovery", "ListTagsForResource"),
    },
    lc.REDEPLOY: {
        ("ecs", "CreateService"),
        ("ecs", "DeleteService"),
        ("ecs", "DescribeServices"),
        ("ecs", "DescribeTaskDefinition"),
        ("ecs", "DescribeTasks"),
        ("ecs", "ListAccountSettings"),
        ("ecs", "ListServices"),
        ("ecs", "ListTasks"),
        ("ecs", "UpdateService"),
        ("resourcegroupstaggingapi", "GetResources"),
        ("secretsmanager", "ListSecrets"),
        ("servicediscovery", "CreateService"),
        ("servicediscovery", "DeleteService"),
        ("servicediscovery", "DeregisterInstance"),
        ("servicediscovery", "GetOperation"),
        ("servicediscovery", "ListInstances"),
        ("servicediscovery", "ListServices"),
    },
    lc.FAILED_START: {
        ("ecs", "CreateService"),
        ("ecs", "DeleteService"),
        ("ecs", "DescribeServices"),
        ("ecs", "DescribeTaskDefinition"),
        ("ecs", "DescribeTasks"),
        ("ecs", "ListAccountSettings"),
        ("ecs", "ListServices"),
        ("ecs", "ListTasks"),
        ("ecs", "UpdateService"),
        ("logs", "GetLogEvents"),
        ("resourcegroupstaggingapi", "GetResources"),
        ("secretsmanager", "ListSecrets"),
        ("servicediscovery", "CreateService"),
        ("servicediscovery", "DeleteService"),
        ("servicediscovery", "DeregisterInstance"),
        ("servicediscovery", "GetOperation"),
        ("servicediscovery", "ListInstances"),
        ("servicediscovery", "ListServices"),
    },
    lc.REMOVE: {
        ("ecs", "DeleteService"),
        ("ecs", "ListServices"),
        ("ecs", "UpdateService"),
        ("resourcegroupstaggingapi", "GetResources"),
        ("servicediscovery", "DeleteService"),
        ("servicediscovery", "DeregisterInstance"),
        ("servicediscovery", "GetOperation"),
        ("servicediscovery", "ListInstances"),
        ("servicediscovery", "ListServices"),
    },
    lc.LAUNCH_RUN: {
        ("ecs", "DescribeTaskDefinition"),
        ("ecs", "RegisterTaskDefinition"),
        ("ecs", "RunTask"),
        ("secretsmanager", "ListSecrets"),
    },
    lc.RUN_HEALTH: {
        ("ecs", "DescribeTasks"),
    },
    lc.TERMINATE_RUN: {
        ("ecs", "DescribeTasks"),
        ("ecs", "StopTask"),
    },
    lc.RUN_FAILED: {
        ("ecs", "DescribeTaskDefinition"),
        ("ecs", "DescribeTasks"),
        ("logs", "GetLogEvents"),
    },
    lc.RUN_WORKER_LOGS: {
        ("s3", "PutObject"),
    },
    lc.AGENT_STOP: {
        ("ecs", "DeleteService"),
        ("ecs", "DescribeServices"),
        ("ecs", "ListServices"),
        ("ecs", "UpdateService"),
        ("servicediscovery", "DeleteService"),
        ("servicediscovery", "DeregisterInstance"),
        ("servicediscovery", "GetOperation"),
        ("servicediscovery", "ListInstances"),
        ("servicediscovery", "ListServices"),
        ("servicediscovery", "ListTagsForResource"),
    },
}


@pytest.fixture(scope="module")
def recording() -> lc.Recording:
    return lc.recording()


@pytest.fixture(scope="module")
def requests() -> list[AuthzRequest]:
    return lc.agent_authz_requests()


def _calls(recording, phase, service, operation):
    return [c for c in recording.calls if (c.phase, c.service, c.operation) == (phase, service, operation)]


def _requests_from(requests, action, origin_part=""):
    return [r for r in requests if r.action == action and origin_part in r.origin]


def test_pins_cover_every_phase():
    assert list(PINNED) == list(lc.PHASES)


@pytest.mark.parametrize("phase", lc.PHASES)
def test_each_phase_makes_exactly_the_pinned_calls(recording, phase):
    actual = recording.operations(phase)
    new, gone = sorted(actual - PINNED[phase]), sorted(PINNED[phase] - actual)
    assert not new and not gone, (
        f"{phase}: the launchers now call {new} and no longer call {gone}. Map new calls in "
        "launcher_calls.RULES, update PINNED here, and check the agent's policy (constructs_lib/agent/permissions.py)."
    )


def test_recording_takes_seconds(recording):
    print(f"\nrecording the launcher phases took {recording.seconds:.1f} s")
    assert recording.seconds < 60


def test_calls_made_in_the_launchers_worker_threads_are_recorded(recording):
    # Start-up and shutdown cleanup remove servers from a ThreadPoolExecutor.
    threaded = {(c.phase, c.operation) for c in recording.calls if c.thread != "MainThread"}
    assert (lc.AGENT_START, "DeleteService") in threaded
    assert (lc.AGENT_STOP, "DeleteService") in threaded


def test_agent_start_removes_the_dead_agents_server(recording):
    created = _calls(recording, lc.PREVIOUS_AGENT, "ecs", "CreateService")[0].response["service"]["serviceName"]
    deleted = [c.params["service"] for c in _calls(recording, lc.AGENT_START, "ecs", "DeleteService")]
    assert deleted == [created]


def test_failed_code_server_logs_are_read_from_the_crashed_task(recording):
    (read,) = _calls(recording, lc.FAILED_START, "logs", "GetLogEvents")
    assert read.params["logGroupName"] == recording.bindings["workload_log_group"]
    assert read.params["logStreamName"].startswith("server_acme_prod_forecasting")
    assert read.response["events"], "the crashed task's traceback was returned"


def test_run_launch_uses_the_locations_container_context(recording):
    run_tasks = _calls(recording, lc.LAUNCH_RUN, "ecs", "RunTask")
    analytics = next(c for c in run_tasks if {"key": "dagster/job_name", "value": "nightly"} in c.params["tags"])
    assert analytics.params["overrides"]["cpu"] == "2048" and analytics.params["overrides"]["memory"] == "8192"
    assert analytics.params["overrides"]["taskRoleArn"] == recording.bindings["role:location_task:analytics"]
    assert {"key": "alert_team", "value": "data-eng"} in analytics.params["tags"]
    registered = {
        c.params["family"]: c.params for c in _calls(recording, lc.LAUNCH_RUN, "ecs", "RegisterTaskDefinition")
    }
    nightly = next(params for family, params in registered.items() if "nightly" in family)
    assert nightly["taskRoleArn"] == recording.bindings["role:location_task:analytics"]
    assert nightly["executionRoleArn"] == recording.bindings["role:location_execution:analytics"]
    secrets = {s["name"]: s["valueFrom"] for s in nightly["containerDefinitions"][0]["secrets"]}
    rendered = _rendered_context("analytics")
    assert secrets == {s["name"]: s["valueFrom"] for s in rendered["secrets"]} | {
        "dagster/prod/shared": recording.bindings["secret:dagster/prod/shared"]  # carries the agent's secrets_tag
    }


def _rendered_context(location: str) -> dict:
    import yaml

    from constructs_lib.code_locations import render_dagster_cloud_yaml

    document = yaml.safe_load(render_dagster_cloud_yaml(lc.load_prod_config()))
    return next(e for e in document["locations"] if e["location_name"] == location)["container_context"]["ecs"]


# --- mapping ---------------------------------------------------------------------------------------


def test_every_recorded_call_maps_to_known_actions(recording, requests):
    knowledge = lc._Knowledge(recording.calls, recording.bindings)
    for call in recording.calls:
        mapped = lc.authz_requests_for(call, knowledge)
        assert mapped[0].action == lc.iam_action(call) and mapped[0].origin == f"{call.phase}: {call.service}.{call.operation}"
    assert len(requests) >= len([c for c in recording.calls if c.principal == lc.AGENT])
    for request in requests:
        lc.sar_privilege(request.action)  # raises for an action the SAR does not know
        assert request.resources == ("*",) or all(arn.startswith("arn:aws:") for arn in request.resources)


def test_a_call_without_a_mapping_fails_loudly():
    call = lc.RecordedCall(phase="x", service="ecs", operation="DeleteCluster", params={"cluster": "c"},
                           response={}, error=None, thread="MainThread")
    with pytest.raises(lc.UnmappedCallError, match="ecs:DeleteCluster"):
        lc.authz_requests_for(call, lc._Knowledge((), {}))


def test_resource_types_come_from_the_service_authorization_reference():
    assert lc.sar_resource_types("servicediscovery:CreateService") == {"namespace": True, "service": True}
    assert lc.sar_resource_types("servicediscovery:ListTagsForResource") == {}
    assert lc.sar_resource_types("ecs:RunTask") == {"task-definition": True}
    assert lc.sar_depends_on("ecs:RunTask", "iam:PassRole")
    assert lc.sar_resource_types("logs:GetLogEvents") == {"log-stream": True}


def test_cloud_map_create_service_needs_the_namespace_and_the_new_service(recording, requests):
    namespace = recording.bindings["namespace_arn"]
    created = {
        c.response["Service"]["Arn"] for c in recording.calls
        if (c.service, c.operation) == ("servicediscovery", "CreateService")
    }
    mapped = _requests_from(requests, "servicediscovery:CreateService")
    assert {r.resources for r in mapped} == {(namespace, arn) for arn in created}
    assert all(r.context["servicediscovery:NamespaceArn"] == namespace for r in mapped)
    tagging = _requests_from(requests, "servicediscovery:TagResource")
    assert len(tagging) == len(mapped) and all(r.resources == ("*",) for r in tagging)
    assert all(r.context["aws:RequestTag/dagster/location_hash"] for r in tagging)


def test_list_tags_for_resource_is_authorized_on_star(requests):
    listing = _requests_from(requests, "servicediscovery:ListTagsForResource")
    assert listing and {r.resources for r in listing} == {("*",)}


def test_run_task_carries_the_cluster_and_passes_each_role(recording, requests):
    cluster = recording.bindings["cluster_arn"]
    run_tasks = _requests_from(requests, "ecs:RunTask")
    assert len(run_tasks) == 2
    assert all(r.context["ecs:cluster"] == cluster for r in run_tasks)
    assert all(":task-definition/dagsterrun_acme_prod_" in r.resources[0] for r in run_tasks)
    passed = {r.resources[0] for r in _requests_from(requests, "iam:PassRole", "ecs.RunTask")}
    assert passed == {
        recording.bindings[f"role:location_{kind}:{location}"]
        for kind in ("task", "execution") for location in ("analytics", "forecasting")
    }
    for request in _requests_from(requests, "iam:PassRole"):
        assert request.context == {"iam:PassedToService": "ecs-tasks.amazonaws.com"}


def test_tags_on_create_need_ecs_tag_resource_with_the_create_action(requests):
    services = {r.resources for r in _requests_from(requests, "ecs:CreateService")}
    tag_services = [r for r in _requests_from(requests, "ecs:TagResource") if r.context["ecs:CreateAction"] == "CreateService"]
    assert {r.resources for r in tag_services} == services
    tag_tasks = [r for r in _requests_from(requests, "ecs:TagResource") if r.context["ecs:CreateAction"] == "RunTask"]
    assert len(tag_tasks) == 2 and all(":task/dagster-platform-prod/" in r.resources[0] for r in tag_tasks)
    assert all("dagster/run_id" in r.context["aws:TagKeys"] for r in tag_tasks)


def test_list_tasks_without_a_container_instance_is_star_in_this_cluster(recording, requests):
    listing = _requests_from(requests, "ecs:ListTasks")
    assert listing and all(r.resources == ("*",) for r in listing)
    assert {r.context["ecs:cluster"] for r in listing} == {recording.bindings["cluster_arn"]}


def test_get_operation_is_checked_against_namespace_and_its_service(recording, requests):
    for request in _requests_from(requests, "servicediscovery:GetOperation"):
        assert request.resources[0] == recording.bindings["namespace_arn"]
        assert ":servicediscovery:eu-west-1:123456789012:service/srv-" in request.resources[1]


def test_cloud_map_services_have_no_health_checks_so_deregistering_needs_no_route53(recording, requests):
    created = [c for c in recording.calls if (c.service, c.operation) == ("servicediscovery", "CreateService")]
    assert created and not any(
        c.params.get("HealthCheckConfig") or c.params.get("HealthCheckCustomConfig") for c in created
    )
    assert not [r for r in requests if r.action.startswith("route53:")]


def test_requests_on_existing_resources_carry_their_tags(recording, requests):
    # Code servers are ECS services created with propagateTags=SERVICE, so their tasks carry the same tags.
    creates = [c for c in recording.calls if (c.service, c.operation) == ("ecs", "CreateService")]
    assert {c.params["propagateTags"] for c in creates} == {"SERVICE"}
    deletes = _requests_from(requests, "ecs:DeleteService")
    assert deletes and all(r.context["aws:ResourceTag/dagster/location_name"] for r in deletes)
    (stop,) = _requests_from(requests, "ecs:StopTask")
    assert stop.context["aws:ResourceTag/dagster/job_name"] == "nightly"
    assert stop.context["aws:ResourceTag/alert_team"] == "data-eng"
    # Cloud Map services carry the server's tags too (the SAR's service resource knows aws:ResourceTag).
    assert all(r.context["aws:ResourceTag/dagster/location_name"]
               for r in _requests_from(requests, "servicediscovery:DeleteService"))
    # A key the SAR does not know for the action is not in its context.
    assert all(set(r.context) == {"ecs:cluster"} for r in _requests_from(requests, "ecs:ListServices"))


def test_the_agent_and_the_run_worker_are_the_principals(recording, requests):
    grouped = lc.authz_requests_by_principal()
    assert set(grouped) == {lc.AGENT, lc.RUN_WORKER} and grouped[lc.AGENT] == requests
    assert {c.phase for c in recording.calls if c.principal == lc.RUN_WORKER} == {lc.RUN_WORKER_LOGS}
    assert not [r for r in requests if r.action.startswith(("s3:", "kms:"))]


def test_run_worker_uploads_compute_logs_with_the_kms_key_via_s3(recording):
    worker = lc.authz_requests_by_principal()[lc.RUN_WORKER]
    bucket, prefix = recording.bindings["compute_log_bucket"], lc.load_prod_config().storage.compute_logs.prefix
    puts = [r for r in worker if r.action == "s3:PutObject"]
    assert {r.resources[0].rsplit(".", 1)[-1] for r in puts} == {"out", "err"}
    assert all(r.resources[0].startswith(f"arn:aws:s3:::{bucket}/{prefix}/storage/") for r in puts)
    assert all(r.context["s3:x-amz-server-side-encryption"] == "aws:kms" for r in puts)
    keys = [r for r in worker if r.action == "kms:GenerateDataKey"]
    assert len(keys) == len(puts)
    assert {r.resources for r in keys} == {(recording.bindings["compute_log_key_arn"],)}
    assert all(r.context["kms:ViaService"] == "s3.eu-west-1.amazonaws.com" for r in keys)
    assert all(r.context["kms:EncryptionContext:aws:s3:arn"] == recording.bindings["compute_log_bucket_arn"] for r in keys)
    assert all(r.context["kms:ResourceAliases"] == (recording.bindings["compute_log_key_alias"],) for r in keys)


# --- the world is the platform's --------------------------------------------------------------------


def test_bindings_resolve_every_agent_environment_variable():
    values = lc.bindings()
    assert values["env:DAGSTER_PLATFORM_SERVICE_DISCOVERY_NAMESPACE_ID"] == values["namespace_id"]
    assert values["env:DAGSTER_PLATFORM_ECS_CLUSTER"] == values["cluster_name"] == "dagster-platform-prod"


def test_rendered_agent_config_and_environment_are_the_synthesized_ones(synthesized):
    """The recording's agent dagster.yaml equals the synthesized prod agent's, and the agent container's
    environment in the template names exactly the variables the recording supplies."""
    stage = synthesized.stages["prod"]
    agent = stage.platform.agent
    assert lc.render_prod_agent_document(lc.load_prod_config()) == agent.config_document
    template = synthesized.template("prod", "platform")
    definition = next(
        resource["Properties"] for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ECS::TaskDefinition"
        and any(c["Name"] == "agent" for c in resource["Properties"]["ContainerDefinitions"])
    )
    container = next(c for c in definition["ContainerDefinitions"] if c["Name"] == "agent")
    template_names = {item["Name"] for item in container["Environment"]} | {item["Name"] for item in container["Secrets"]}
    injected_by_fargate = {"AWS_REGION", "AWS_DEFAULT_REGION"}
    from constructs_lib.agent.agent_config import ENV_AGENT_CONFIG

    assert template_names - {ENV_AGENT_CONFIG} == set(lc.recording().agent_environment) - injected_by_fargate


def test_template_bindings_give_the_templates_resources_the_recorded_arns(synthesized, recording):
    template = synthesized.template("prod", "platform")
    bound = lc.template_bindings(template)
    by_value = {value: (logical_id, attribute) for logical_id, attrs in bound.items() for attribute, value in attrs.items()}
    for key in ("cluster_arn", "namespace_arn", "namespace_id", "role:agent_task", "role:workload_task",
                "role:location_task:analytics", "role:location_execution:forecasting", "subnet_0"):
        logical_id, _ = by_value[recording.bindings[key]]
        assert logical_id in template["Resources"], key
    namespace = by_value[recording.bindings["namespace_arn"]][0]
    assert template["Resources"][namespace]["Type"] == "AWS::ServiceDiscovery::PrivateDnsNamespace"
