"""Shared model configuration: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

import datetime
import json
import re
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer, ValidationError
from pydantic.alias_generators import to_camel

GROUP = "headway.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def rfc3339(moment: datetime.datetime) -> str:
    """Kubernetes' timestamp form: UTC, second precision, a trailing Z."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime.datetime | None:
    """A Kubernetes timestamp (RFC 3339, ``Z`` or an offset), or None for none."""
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


Time = Annotated[AwareDatetime, PlainSerializer(rfc3339, return_type=str)]


class Spec(BaseModel):
    """A user-written object: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Status(BaseModel):
    """An operator-written object: tolerant of fields a newer operator added."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Condition(Status):
    """A Kubernetes-style condition."""

    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_transition_time: Time | None = None
    observed_generation: int | None = None


def _path_part(part: str | int) -> str:
    """A path element as written: plain when it is a plain name, else quoted (``""``)."""
    text = str(part)
    return text if re.fullmatch(r"[\w-]+", text) else json.dumps(text)


def validation_message(error: ValidationError) -> str:
    """Every problem, each naming its field: ``tasks.0.name: String should match ...``."""
    return "; ".join(
        f"{'.'.join(_path_part(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in error.errors()
    )
