"""A call's status as its handler sets it, for the gRPC server and the JSON gateway alike.

Both stand in for the part of ``grpc.aio.ServicerContext`` that etcd's services use, and both
end a call the same ways: ``abort`` raises ``CallFailed`` with the code and text (as grpc
does, the abort does not return); a servicer method that is not overridden (the generated
base class sets UNIMPLEMENTED and raises ``NotImplementedError``) fails as ``unimplemented()``
says: the code the handler set, unless none or OK, else UNIMPLEMENTED.
"""

from __future__ import annotations

import grpc

NOT_IMPLEMENTED = "Method not implemented!"
"""grpc's text for a method the servicer does not override."""


class CallFailed(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CallStatus:
    """The code and details a handler sets (``set_code``, ``set_details``)."""

    def __init__(self) -> None:
        self._code: grpc.StatusCode | None = None
        self._details = ""

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def unimplemented(self) -> CallFailed:
        """How a call whose method the servicer does not override ends."""
        code = self._code
        if code is None or code is grpc.StatusCode.OK:
            code = grpc.StatusCode.UNIMPLEMENTED
        return CallFailed(code, self._details or NOT_IMPLEMENTED)
