"""Who may define what runs: the permissions a workflow asks of its definer, the refusal,
the signed record of the definer, and the warnings for values substituted into code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from headway.core import definers, identity
from headway.core.render import Owner, render_job
from headway.core.spec import effective_tasks
from headway.models.workflow import WorkflowSpec

JSON = dict[str, Any]
KEY = b"k" * 32


def spec(*tasks: JSON, defaults: JSON | None = None) -> WorkflowSpec:
    return WorkflowSpec.model_validate(
        {"taskDefaults": {"image": "img", "command": ["true"], **(defaults or {})},
         "tasks": list(tasks)}
    )  # fmt: skip


def accounts(workflow: WorkflowSpec) -> list[tuple[str, str]]:
    return [(n.name, n.why) for n in definers.needs_of(workflow) if n.resource == "serviceaccounts"]


def test_defining_needs_create_jobs_and_a_token_for_every_account_but_default() -> None:
    workflow = spec(
        {"name": "a"},
        {"name": "b", "serviceAccountName": "deployer"},
        {"name": "c", "podTemplate": {"serviceAccountName": "builder"}},
        {"name": "d", "podTemplate": {"serviceAccount": "legacy"}},
        {"name": "e", "serviceAccountName": "deployer"},
        {"name": "f", "serviceAccountName": "default"},
    )
    needs = definers.needs_of(workflow)
    assert needs[0] == definers.CREATE_JOBS
    assert needs[0].attributes("ns") == {
        "namespace": "ns", "verb": "create", "group": "batch", "resource": "jobs",
    }  # fmt: skip
    assert accounts(workflow) == [
        ("builder", 'task "c" runs as service account "builder"'),
        ("deployer", 'tasks "b", "e" run as service account "deployer"'),
        ("legacy", 'task "d" runs as service account "legacy"'),
    ]
    assert needs[1].attributes("ns") == {
        "namespace": "ns", "verb": "create", "group": "", "resource": "serviceaccounts",
        "subresource": "token", "name": "builder",
    }  # fmt: skip


def test_an_account_in_task_defaults_is_every_tasks() -> None:
    workflow = spec({"name": "a"}, {"name": "b"}, defaults={"serviceAccountName": "ops"})
    assert accounts(workflow) == [("ops", 'tasks "a", "b" run as service account "ops"')]


def test_the_refusal_names_each_permission_and_the_role_to_ask_for() -> None:
    workflow = spec({"name": "deploy", "serviceAccountName": "deployer"})
    assert definers.refusal("carol", "team", []) is None
    message = definers.refusal("carol", "team", definers.needs_of(workflow))
    assert message == (
        'user "carol" may not define what runs in namespace "team": defining what runs '
        'creates its Jobs, which needs permission to create jobs.batch in namespace "team" '
        '(ask for the namespace\'s "edit" role, or a role that grants create on jobs); '
        'task "deploy" runs as service account "deployer", which needs permission to create '
        'serviceaccounts/token for "deployer" in namespace "team" (running pods as an '
        "account is acting as it: ask its owner for a role that grants that)"
    )


# --- what is checked is what runs ---------------------------------------------------------

DANGEROUS: JSON = {
    "hostPID": st.booleans(),
    "hostNetwork": st.booleans(),
    "hostIPC": st.booleans(),
    "volumes": st.just([{"name": "root", "hostPath": {"path": "/"}}]),
    "initContainers": st.just(
        [{"name": "x", "image": "busybox", "securityContext": {"privileged": True}}]
    ),
    "securityContext": st.just({"runAsUser": 0}),
    "serviceAccountName": st.sampled_from(["default", "deployer", "admin-sa"]),
    "serviceAccount": st.sampled_from(["default", "deployer", "root-sa"]),
    "automountServiceAccountToken": st.booleans(),
    "nodeName": st.just("control-plane"),
    "containers": st.just([{"name": "sneaky", "image": "evil"}]),
}
templates = st.fixed_dictionaries({}, optional=DANGEROUS)
task_accounts = st.one_of(st.none(), st.sampled_from(["default", "deployer", "builder"]))
grants = st.fixed_dictionaries(
    {"jobs": st.booleans(), "tokens": st.frozensets(st.sampled_from(
        ["deployer", "builder", "admin-sa", "root-sa"]))}
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(templates, task_accounts), min_size=1, max_size=4),
    st.one_of(st.none(), templates),
    grants,
)
def test_any_pod_spec_an_attacker_tries_is_refused_naming_the_permission_or_admitted_for_a_user_who_may_create_jobs(  # noqa: E501
    tasks: list[tuple[JSON, str | None]], default_template: JSON | None, granted: JSON
) -> None:
    raw = [
        {"name": f"t{i}", "podTemplate": template, "serviceAccountName": account}
        for i, (template, account) in enumerate(tasks)
    ]
    workflow = spec(*raw, defaults={"podTemplate": default_template} if default_template else {})
    needs = definers.needs_of(workflow)
    missing = [
        n for n in needs
        if not (granted["jobs"] if n.resource == "jobs" else n.name in granted["tokens"])
    ]  # fmt: skip
    refused = definers.refusal("mallory", "ns", missing)
    if not granted["jobs"]:
        assert refused is not None and "create jobs.batch" in refused
    checked = {n.name for n in needs if n.resource == "serviceaccounts"}
    for name, task in effective_tasks(workflow).items():
        job = render_job(Owner("e", "ns", "uid"), task, 1, {}, {}, "key")
        pod = job["spec"]["template"]["spec"]
        account = pod.get("serviceAccountName")
        # Whatever field named it, a pod runs as an account its definer was checked for.
        assert account in (None, "default") or account in checked, (name, pod)
        assert "serviceAccount" not in pod
        assert [c["name"] for c in pod["containers"]] == ["main"]
        if account not in (None, "default") and account not in granted["tokens"]:
            assert refused is not None and f'serviceaccounts/token for "{account}"' in refused
    if refused is None:
        assert granted["jobs"]


# --- the definer's record ------------------------------------------------------------------


def signed(kind: str, meta: JSON, definition: Any, user: str = "dana") -> JSON:
    name = identity.admitted_name(meta)
    fields = identity.definition_fields(kind, "ns", name, definition, user)
    annotations = {
        identity.ANNOTATION_DEFINED_BY: user,
        identity.ANNOTATION_DEFINER_SIGNATURE: identity.signature(KEY, *fields),
    }
    return {**meta, "namespace": "ns", "annotations": annotations}


DEFINITION = {"tasks": [{"name": "a", "image": "i", "command": ["true"]}]}


def test_a_signed_definer_is_proven_and_a_changed_or_forged_record_is_not() -> None:
    meta = signed("Workflow", {"name": "wf"}, DEFINITION)
    assert identity.definer(KEY, "Workflow", meta, DEFINITION) == "dana"
    changed = {"tasks": [{"name": "a", "image": "i", "command": ["sh"]}]}
    assert identity.definer(KEY, "Workflow", meta, changed) is None
    assert identity.definer(KEY, "Execution", meta, DEFINITION) is None  # another kind
    assert identity.definer(b"x" * 32, "Workflow", meta, DEFINITION) is None  # another key
    forged = {
        **meta,
        "annotations": {**meta["annotations"], identity.ANNOTATION_DEFINED_BY: "root"},
    }
    assert identity.definer(KEY, "Workflow", forged, DEFINITION) is None
    assert identity.definer(KEY, "Workflow", {"name": "wf", "namespace": "ns"}, DEFINITION) is None
    assert identity.definer(None, "Workflow", meta, DEFINITION) is None
    copied = {**meta, "name": "other"}  # the record copied onto another object
    assert identity.definer(KEY, "Workflow", copied, DEFINITION) is None


def test_a_definer_recorded_under_generate_name_is_proven_once_named() -> None:
    meta = signed("Execution", {"generateName": "run-"}, DEFINITION)
    named = {**meta, "name": "run-x7k2p"}
    assert identity.definer(KEY, "Execution", named, DEFINITION) == "dana"


# --- values substituted into code ------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args", "warned"),
    [
        (["sh", "-c", "echo {{ params.day }}"], None, 'of "sh -c"'),
        (["/bin/bash", "-euxc", "echo {{ tasks.a.outputs.n }}"], None, 'of "/bin/bash -euxc"'),
        (["bash", "-o", "pipefail", "-c", "x={{ params.day }}"], None, 'of "bash -c"'),
        (["sh"], ["-c", "echo {{ params.day }}"], 'of "sh -c"'),
        (["env", "A=1", "sh", "-c", "echo {{ params.day }}"], None, 'of "sh -c"'),
        (["python3", "-c", "print('{{ params.day }}')"], None, 'of "python3 -c"'),
        (["python3.12", "-u", "-c", "print({{ params.day }})"], None, 'of "python3.12 -c"'),
        (["node", "-e", "f('{{ params.day }}')"], None, 'of "node -e"'),
        # Safe: the value is a positional argument, an env value, or a program's argument.
        (["sh", "-c", 'echo "$1"', "sh", "{{ params.day }}"], None, None),
        (["sh", "-c", 'echo "$DAY"'], None, None),
        (["echo", "{{ params.day }}"], None, None),
        (["python3", "run.py", "-c", "{{ params.day }}"], None, None),
        (["sh", "script.sh", "{{ params.day }}"], None, None),
        (["sh", "-c", "echo {{ nothing.here }}"], None, None),
    ],
)
def test_values_substituted_into_code_are_warned_about(
    command: list[str], args: list[str] | None, warned: str | None
) -> None:
    workflow = WorkflowSpec.model_validate(
        {
            "params": [{"name": "day", "default": "d"}],
            "tasks": [
                {"name": "a", "image": "i", "command": ["true"]},
                {"name": "b", "image": "i", "dependencies": ["a"], "command": command,
                 "args": args, "env": [{"name": "DAY", "value": "{{ params.day }}"}]},
            ],
        }
    )  # fmt: skip
    warnings = definers.injection_warnings(workflow)
    if warned is None:
        assert warnings == []
    else:
        [warning] = warnings
        assert warning.startswith('task "b": {{ ') and warned in warning
        assert "pass it through env" in warning


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_the_examples_follow_the_advice_they_would_be_warned_with(example: str) -> None:
    documents = [d for d in yaml.safe_load_all((EXAMPLES / example).read_text()) if d]
    workflows = [
        WorkflowSpec.model_validate(d["spec"]) for d in documents if d["kind"] == "Workflow"
    ]
    for workflow in workflows:
        assert definers.injection_warnings(workflow) == []


@pytest.mark.parametrize(
    ("creating", "definition", "old", "recheck", "step"),
    [
        (True, DEFINITION, None, False, "check"),
        (False, DEFINITION, DEFINITION, False, "restore"),  # a label, an annotation
        (False, DEFINITION, {"tasks": []}, False, "check"),  # what runs changed
        (False, DEFINITION, DEFINITION, True, "check"),  # a re-check asked for
        (True, None, None, False, "clear"),  # an Execution of a named Workflow
        (False, None, DEFINITION, False, "clear"),  # an inline workflow taken away
    ],
)
def test_what_admission_does_with_the_definer_record(
    creating: bool, definition: Any, old: Any, recheck: bool, step: str
) -> None:
    assert definers.definer_step(creating, definition, old, recheck) == step


def test_a_finally_task_is_checked_like_any_other() -> None:
    spec = WorkflowSpec.model_validate(
        {
            "taskDefaults": {"image": "i", "command": ["t"]},
            "tasks": [{"name": "a"}],
            "finally": [{"name": "z", "serviceAccountName": "deployer"}],
        }
    )
    assert accounts(spec) == [("deployer", 'task "z" runs as service account "deployer"')]
