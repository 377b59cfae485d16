"""etcd's grpc-gateway JSON conventions over protobuf messages.

Rules (reference, section 5):
- Output: proto field names as written (``create_revision``, ``ID``, ``dbSize``), int64 and
  uint64 as strings, bytes as standard base64, enums by name, zero values omitted (a oneof
  member that is set is written even when zero). Compact, no spaces.
- Input: proto or lowerCamel names, numbers or quoted numbers, enum names or numbers; unknown
  fields ignored, unknown enum names refused; an empty body is ``{}``; a unary call takes the
  first object of the body. A streaming body is one or more JSON objects one
  after another.
- Errors: a unary failure is HTTP status from the gRPC code (etcd's table; FailedPrecondition
  is 412 as etcd 3.4 answers) with body ``{"error":m,"message":m,"code":n}``; a failure in a
  stream that has started is one more line ``{"error":{"grpc_code":n,"http_code":h,
  "message":m,"http_status":"<reason>"}}``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TypeVar, cast

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

HTTP_STATUS_OF: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 408,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


class BadJson(ValueError):
    """A body that is not JSON or does not fit the request message (InvalidArgument)."""


def dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def message_to_json(message: Message) -> object:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def encode(message: Message) -> bytes:
    return dumps(message_to_json(message))


def encode_stream_item(message: Message) -> bytes:
    return dumps({"result": message_to_json(message)}) + b"\n"


def json_objects(body: bytes) -> list[object]:
    """The JSON values in ``body``, one after another; ``[{}]`` for an empty body."""
    try:
        text = body.decode()
    except UnicodeDecodeError as error:
        raise BadJson(str(error)) from None
    decoder = json.JSONDecoder()
    values: list[object] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise BadJson(str(error)) from None
        values.append(value)
    return values or [{}]


def decode(value: object, kind: type[M]) -> M:
    """One request message from a parsed JSON value."""
    if not isinstance(value, dict):
        raise BadJson(f"expected a JSON object for {kind.DESCRIPTOR.name}")
    try:
        return json_format.ParseDict(_known_only(value, cast(Descriptor, kind.DESCRIPTOR)), kind())
    except json_format.ParseError as error:
        raise BadJson(str(error)) from None


def _known_only(value: dict[str, object], descriptor: Descriptor) -> dict[str, object]:
    """``value`` without the keys ``descriptor`` does not define, at every depth.

    Unknown fields are ignored as etcd ignores them, while everything else is parsed
    strictly (json_format's own lenient mode would also let unknown enum names through,
    which etcd refuses)."""
    known: dict[str, object] = {}
    for key, item in value.items():
        field = descriptor.fields_by_name.get(key) or _by_json_name(descriptor, key)
        if field is None:
            continue
        nested: Descriptor | None = field.message_type
        if nested is not None and isinstance(item, dict):
            known[key] = _known_only(item, nested)
        elif nested is not None and isinstance(item, list):
            known[key] = [_known_only(x, nested) if isinstance(x, dict) else x for x in item]
        else:
            known[key] = item
    return known


def _by_json_name(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    return next((f for f in descriptor.fields if f.json_name == name), None)


def error_body(code: grpc.StatusCode, message: str) -> bytes:
    return dumps({"error": message, "message": message, "code": code.value[0]})


def stream_error_line(code: grpc.StatusCode, message: str) -> bytes:
    http_code = HTTP_STATUS_OF.get(code, 500)
    return (
        dumps(
            {
                "error": {
                    "grpc_code": code.value[0],
                    "http_code": http_code,
                    "message": message,
                    "http_status": HTTPStatus(http_code).phrase,
                }
            }
        )
        + b"\n"
    )
