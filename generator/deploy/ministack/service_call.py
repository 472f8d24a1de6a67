"""Calling ministack's service API handlers in process, as a client would.

:func:`call` serializes a request with botocore (validating it against the service model),
hands it to the service module's action handler, and parses the answer with botocore; an
error answer raises :class:`ServiceError`, whose text CloudFormation's event then shows.
Services are registered by :func:`register` (ministack's EC2, RDS and ECS modules, and the
Application Auto Scaling API of application_autoscaling.py): anything with an
``_ACTION_MAP`` of operation name -> handler(params).

Runs inside ministack's process (its venv).
"""

from __future__ import annotations

import json
from typing import Any

_MS: dict[str, Any] = {}


def register(**services: Any) -> None:
    """Make services callable: name -> module (or object) with an ``_ACTION_MAP``."""
    if "session" not in _MS:
        import botocore.session

        _MS["session"] = botocore.session.get_session()
    _MS.update(services)


class ServiceError(ValueError):
    """An error answer of a service API, as CloudFormation reports it in the event."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{message} (Service: {code})")
        self.code = code


# --- calling ministack's service handlers in process ----------------------------------------


def _coerce(shape, value):
    """A template value (CloudFormation passes numbers and booleans as strings) in the type
    the API shape declares."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: _coerce(shape.members[k], v) for k, v in value.items() if k in shape.members}
    if kind == "list" and isinstance(value, list):
        return [_coerce(shape.member, v) for v in value]
    if kind == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if kind in ("integer", "long") and isinstance(value, str):
        return int(value)
    if kind in ("double", "float") and isinstance(value, str):
        return float(value)
    if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def call(service: str, operation: str, **params) -> dict:
    """Call one operation of a registered service in process, serialized and parsed by
    botocore as a client would; raise ServiceError."""
    from botocore.parsers import create_parser
    from botocore.serialize import create_serializer

    model = _MS["session"].get_service_model(service)
    op = model.operation_model(operation)
    protocol = model.metadata["protocol"]
    params = _coerce(op.input_shape, {k: v for k, v in params.items() if v is not None})
    request = create_serializer(protocol, include_validation=True).serialize_to_request(params, op)
    if protocol == "json":
        status, headers, body = _MS[service]._ACTION_MAP[operation](json.loads(request["body"] or b"{}"))
    else:  # query, ec2
        status, headers, body = _MS[service]._ACTION_MAP[operation]({k: [str(v)] for k, v in request["body"].items()})
    response = {
        "status_code": status,
        "headers": {k.lower(): v for k, v in headers.items()},
        "body": body if isinstance(body, bytes) else str(body).encode(),
    }
    parsed = create_parser(protocol).parse(response, op.output_shape)
    if status >= 300:
        error = parsed.get("Error", {})
        raise ServiceError(error.get("Code", str(status)), error.get("Message", ""))
    return parsed


def ignore_missing(fn, *args, **kwargs) -> None:
    """A delete of what is already gone succeeds, as in CloudFormation."""
    try:
        fn(*args, **kwargs)
    except ServiceError as exc:
        if "NotFound" not in exc.code and "ObjectNotFound" not in exc.code:
            raise
