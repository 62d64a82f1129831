"""Who may define what runs (DESIGN.md section 11), as pure functions.

Creating an Execution runs Pods, so whoever *defines* a workflow (creates or changes a
Workflow, or an Execution with an inline ``workflow``) must be allowed to create Jobs in
the namespace, and to act as every service account a task runs as. The webhook asks the
API server these questions (SubjectAccessReviews) for the requesting user; this module
says which questions, what to tell a user who lacks an answer, and which substitutions
land in a shell-interpreted argument (a command injection a warning names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from headway.core import templates
from headway.core.spec import effective_tasks
from headway.models.execution import ExecutionSpec
from headway.models.workflow import Task, WorkflowSpec

DEFAULT_ACCOUNT = "default"
# Asked for by whoever wants a Workflow made before definers were checked (or changed
# while the webhook was away) to run: any new value makes the webhook check them again.
ANNOTATION_RECHECK = "headway.dev/recheck"


@dataclass(frozen=True)
class Need:
    """One permission a definer must hold, as a SubjectAccessReview's resource attributes,
    and why it is needed."""

    verb: str
    group: str
    resource: str
    why: str
    subresource: str = ""
    name: str = ""

    def attributes(self, namespace: str) -> dict[str, str]:
        attributes = {
            "namespace": namespace,
            "verb": self.verb,
            "group": self.group,
            "resource": self.resource,
        }
        if self.subresource:
            attributes["subresource"] = self.subresource
        if self.name:
            attributes["name"] = self.name
        return attributes


CREATE_JOBS = Need("create", "batch", "jobs", "defining what runs creates its Jobs")


def service_account(task: Task) -> str | None:
    """The account a task's pods run as: ``serviceAccountName``, else the one its
    ``podTemplate`` names (also under the deprecated ``serviceAccount``); None for the
    namespace's default. ``render_job`` uses this very answer."""
    template = task.pod_template or {}
    for value in (
        task.service_account_name,
        template.get("serviceAccountName"),
        template.get("serviceAccount"),
    ):
        if value:
            return str(value)
    return None


def needs_of(workflow: WorkflowSpec) -> list[Need]:
    """Every permission the definer of ``workflow`` must hold: create Jobs, and create
    tokens for each service account other than ``default`` that a task runs as."""
    tasks_of: dict[str, list[str]] = {}
    for name, task in effective_tasks(workflow).items():
        account = service_account(task)
        if account and account != DEFAULT_ACCOUNT:
            tasks_of.setdefault(account, []).append(name)
    needs = [CREATE_JOBS]
    for account, names in sorted(tasks_of.items()):
        listed = ", ".join(f'"{n}"' for n in names)
        subject = f"tasks {listed} run" if len(names) > 1 else f"task {listed} runs"
        why = f'{subject} as service account "{account}"'
        needs.append(Need("create", "", "serviceaccounts", why, "token", account))
    return needs


def refusal(user: str, namespace: str, missing: Sequence[Need]) -> str | None:
    """What to tell ``user`` who lacks ``missing`` (None when nothing is missing): each
    permission named, and the role to ask for."""
    if not missing:
        return None
    parts = []
    for need in missing:
        if need is CREATE_JOBS or need.resource == "jobs":
            parts.append(
                f"{need.why}, which needs permission to create jobs.batch in namespace "
                f'"{namespace}" (ask for the namespace\'s "edit" role, or a role that grants '
                "create on jobs)"
            )
        else:
            parts.append(
                f"{need.why}, which needs permission to create serviceaccounts/token for "
                f'"{need.name}" in namespace "{namespace}" (running pods as an account is '
                "acting as it: ask its owner for a role that grants that)"
            )
    return f'user "{user}" may not define what runs in namespace "{namespace}": ' + "; ".join(parts)


Step = Literal["check", "restore", "clear"]


def definer_step(creating: bool, definition: Any, old_definition: Any, recheck: bool) -> Step:
    """What admission does with the definer record of an object being written: ``check``
    the writer's permissions and sign them as its definer (a create, a changed
    definition, or a re-check asked for with ``headway.dev/recheck``); ``clear`` any
    record on what defines nothing (an Execution of a named Workflow); else ``restore``
    the record as it was (only the webhook writes it)."""
    if definition is None:
        return "clear"
    if creating or definition != old_definition or recheck:
        return "check"
    return "restore"


def unchecked(
    namespace: str,
    spec: ExecutionSpec,
    workflow: WorkflowSpec | None,
    definer: str | None,
    workflow_definer: str | None,
) -> str | None:
    """Why an Execution may not start because nobody checked who defined what it would
    run (so a path around the webhook runs nothing); None when it may. ``workflow``: the
    named Workflow's spec (None when missing: that is said elsewhere)."""
    ask = f'someone allowed to create jobs.batch in namespace "{namespace}"'
    if spec.workflow is not None and definer is None:
        return (
            "nobody was checked as allowed to define its inline workflow (it was created "
            "while Headway's admission webhook was not installed, or its record was "
            f"altered): nothing runs; {ask} must create the Execution again"
        )
    if spec.workflow is None and workflow is not None and workflow_definer is None:
        name = spec.workflow_ref.name if spec.workflow_ref else "?"
        return unchecked_workflow(namespace, name)
    return None


def unchecked_workflow(namespace: str, name: str) -> str:
    """Why nothing of Workflow ``name`` runs: nobody was checked as allowed to define it."""
    ask = f'someone allowed to create jobs.batch in namespace "{namespace}"'
    return (
        f'nobody was checked as allowed to define Workflow "{name}" (it was created '
        "before Headway checked definers, while its admission webhook was not "
        f"installed, or its record was altered): nothing runs; {ask} must apply it "
        f"again, or confirm it: kubectl annotate workflow {name} "
        f"{ANNOTATION_RECHECK}=$(date +%s) --overwrite"
    )


# --- substitution into shell-interpreted arguments ------------------------------------------

_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ash", "ksh", "mksh", "fish"})
# Interpreters and the options after which their next argument is code.
_INTERPRETERS: Mapping[str, frozenset[str]] = {
    "python": frozenset({"-c"}),
    "node": frozenset({"-e", "--eval", "-p", "--print"}),
    "perl": frozenset({"-e", "-E"}),
    "ruby": frozenset({"-e"}),
    "php": frozenset({"-r"}),
    "pwsh": frozenset({"-c", "-Command", "-command"}),
    "powershell": frozenset({"-c", "-Command", "-command"}),
    "Rscript": frozenset({"-e"}),
}
_VERSIONED = re.compile(r"^(python|node|perl|ruby|php)[0-9.]*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _program(argument: str) -> str:
    base = argument.rsplit("/", 1)[-1]
    match = _VERSIONED.match(base)
    return match.group(1) if match else base


def _without_env(argv: list[str]) -> list[str]:
    """``env [VAR=value ...] program ...`` runs ``program``."""
    if argv and _program(argv[0]) == "env":
        rest = argv[1:]
        while rest and (_ASSIGNMENT.match(rest[0]) or rest[0].startswith("-")):
            rest = rest[1:]
        return rest
    return argv


def code_arguments(argv: Sequence[str]) -> list[tuple[int, str]]:
    """The arguments of ``argv`` (command then args) that an interpreter runs as code:
    the script after ``sh -c`` (or ``-ec``, ``-xc`` ...), after ``python -c``, ``node -e``
    and the like, each with its index in ``argv`` and the words that introduce it."""
    offset = len(argv)
    argv = _without_env(list(argv))
    offset -= len(argv)
    if not argv:
        return []
    program = _program(argv[0])
    if program not in _SHELLS and program not in _INTERPRETERS:
        return []
    takes_value = False
    for i, argument in enumerate(argv[1:-1], start=1):
        if program in _SHELLS:
            is_code = argument.startswith("-") and not argument.startswith("--") and "c" in argument
        else:
            is_code = argument in _INTERPRETERS[program]
        if is_code:
            # What follows the code is positional arguments ($1 ...), never code.
            return [(offset + i + 1, f"{argv[0]} {argument}")]
        if not argument.startswith(("-", "+")) and not takes_value:
            return []  # a script file: what follows are its arguments
        takes_value = argument in ("-o", "+o", "-O", "+O", "-W", "-X")
    return []


def _placeholders(text: str) -> list[str]:
    return [
        m.group(0)
        for m in re.finditer(r"\{\{\s*(.*?)\s*\}\}", text)
        # {{ index }} is always digits: no syntax of any language
        if not isinstance(
            templates.references(m.group(0))[0], templates.BadRef | templates.IndexRef
        )
    ]


def injection_warnings(workflow: WorkflowSpec) -> list[str]:
    """One warning per task whose substituted values (params, outputs, items) land in code an
    interpreter runs: a value holding that language's syntax would run as code, as the
    task's service account. The advice: pass the value through ``env``."""
    warnings = []
    for name, task in effective_tasks(workflow).items():
        argv = list(task.command or []) + list(task.args or [])
        for index, introducer in code_arguments(argv):
            found = _placeholders(argv[index])
            if found:
                warnings.append(_injection_warning(name, introducer, found))
    return warnings


def _injection_warning(task: str, introducer: str, found: Iterable[str]) -> str:
    values = ", ".join(dict.fromkeys(found))
    return (
        f'task "{task}": {values} is substituted into the code of "{introducer}", where a '
        "value holding that language's syntax runs as a command; pass it through env "
        '(env: [{name: VALUE, value: "..."}], then "$VALUE" in the script) or read '
        "$HEADWAY_PARAMS / $HEADWAY_INPUTS"
    )


def inline_workflow(spec: Any) -> Any:
    """The workflow an Execution's spec (as submitted) carries itself; None if none."""
    return spec.get("workflow") if isinstance(spec, Mapping) else None
