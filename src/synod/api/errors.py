"""etcd's errors as gRPC statuses: the code and the exact text etcd 3.4 answers with.

Rules:
- clientv3 (and so etcdctl) recognises errors by their message text, so every text here is
  etcd's own, byte for byte (reference, section 3), and every code is the one etcd sends.
- Keyspace refusals (``synod.kv.mvcc.MvccError``) already carry etcd's text and code name;
  ``status_of`` turns them into a ``Status`` unchanged.
- Errors of the serving layer that etcd also has (no leader, timeouts, learners, members,
  auth...) are ``EtcdError`` subclasses here, one class per etcd text.
- Anything else reaches the client as UNKNOWN with its own text, as etcd does with a Go error
  it has no mapping for.
- ``error_of`` goes the other way, from a status a server sent to the typed error, matching on
  the text as clientv3 does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import grpc

from synod.core.errors import NotLeader as EngineNotLeader
from synod.core.errors import SynodError
from synod.kv import mvcc
from synod.kv.commands import CommandDecodeError
from synod.server import errors as serving


@dataclass(frozen=True, slots=True)
class Status:
    """What a gRPC handler aborts with."""

    code: grpc.StatusCode
    message: str


class EtcdError(SynodError):
    """An error etcd answers with a fixed text; ``code`` names a ``grpc.StatusCode``."""

    message: ClassVar[str] = "etcdserver: unknown error"
    code: ClassVar[str] = "UNKNOWN"

    def __init__(self) -> None:
        super().__init__(self.message)


class UnknownEnumValue(SynodError):
    """A request names an enum value etcd's protos do not define. etcd 3.4 has no answer of
    its own for these (an unknown sort target even crashes it), so this text is Synod's."""

    code: ClassVar[str] = "INVALID_ARGUMENT"

    def __init__(self, field: str, value: int) -> None:
        super().__init__(f"synod: unknown value {value} for {field}")
        self.field = field
        self.value = value


class MissingOneof(SynodError):
    """A message arrived with none of a oneof's members set where one is required."""

    code: ClassVar[str] = "INVALID_ARGUMENT"

    def __init__(self, message_name: str, oneof: str) -> None:
        super().__init__(f"synod: {message_name} has no {oneof} set")
        self.message_name = message_name
        self.oneof = oneof


# ---- Requests and limits.


class RequestTooLarge(EtcdError):
    message = "etcdserver: request is too large"
    code = "INVALID_ARGUMENT"


class TooManyRequests(EtcdError):
    message = "etcdserver: too many requests"
    code = "RESOURCE_EXHAUSTED"


class NoSpace(EtcdError):
    message = "etcdserver: mvcc: database space exceeded"
    code = "RESOURCE_EXHAUSTED"


class WatchCanceled(EtcdError):
    message = "etcdserver: watch canceled"
    code = "CANCELLED"


# ---- Leadership, time-outs, cluster health.


class NoLeader(EtcdError):
    message = "etcdserver: no leader"
    code = "UNAVAILABLE"


class NotLeader(EtcdError):
    message = "etcdserver: not leader"
    code = "FAILED_PRECONDITION"


class LeaderChanged(EtcdError):
    message = "etcdserver: leader changed"
    code = "UNAVAILABLE"


class RequestTimeout(EtcdError):
    message = "etcdserver: request timed out"
    code = "UNAVAILABLE"


class TimeoutDueToLeaderFail(EtcdError):
    message = "etcdserver: request timed out, possibly due to previous leader failure"
    code = "UNAVAILABLE"


class TimeoutDueToConnectionLost(EtcdError):
    message = "etcdserver: request timed out, possibly due to connection lost"
    code = "UNAVAILABLE"


class TimeoutWaitAppliedIndex(EtcdError):
    message = "etcdserver: request timed out, waiting for the applied index took too long"
    code = "UNAVAILABLE"


class ServerStopped(EtcdError):
    message = "etcdserver: server stopped"
    code = "UNAVAILABLE"


class Unhealthy(EtcdError):
    message = "etcdserver: unhealthy cluster"
    code = "UNAVAILABLE"


class Corrupt(EtcdError):
    message = "etcdserver: corrupt cluster"
    code = "DATA_LOSS"


class NotSupportedForLearner(EtcdError):
    message = "etcdserver: rpc not supported for learner"
    code = "UNAVAILABLE"


class BadLeaderTransferee(EtcdError):
    message = "etcdserver: bad leader transferee"
    code = "FAILED_PRECONDITION"


class NotCapable(EtcdError):
    message = "etcdserver: not capable"
    code = "UNAVAILABLE"


# ---- Membership.


class MemberBadUrls(EtcdError):
    message = "etcdserver: given member URLs are invalid"
    code = "INVALID_ARGUMENT"


class MemberNotFound(EtcdError):
    message = "etcdserver: member not found"
    code = "NOT_FOUND"


class MemberExists(EtcdError):
    message = "etcdserver: member ID already exist"
    code = "FAILED_PRECONDITION"


class PeerUrlExists(EtcdError):
    message = "etcdserver: Peer URLs already exists"
    code = "FAILED_PRECONDITION"


class MemberNotEnoughStarted(EtcdError):
    message = "etcdserver: re-configuration failed due to not enough started members"
    code = "FAILED_PRECONDITION"


class MemberNotLearner(EtcdError):
    message = "etcdserver: can only promote a learner member"
    code = "FAILED_PRECONDITION"


class LearnerNotReady(EtcdError):
    message = "etcdserver: can only promote a learner member which is in sync with leader"
    code = "FAILED_PRECONDITION"


class TooManyLearners(EtcdError):
    message = "etcdserver: too many learner members in cluster"
    code = "FAILED_PRECONDITION"


# ---- Auth.


class PermissionDenied(EtcdError):
    message = "etcdserver: permission denied"
    code = "PERMISSION_DENIED"


class InvalidAuthToken(EtcdError):
    message = "etcdserver: invalid auth token"
    code = "UNAUTHENTICATED"


class UserEmpty(EtcdError):
    message = "etcdserver: user name is empty"
    code = "INVALID_ARGUMENT"


class UserNotFound(EtcdError):
    message = "etcdserver: user name not found"
    code = "FAILED_PRECONDITION"


class RoleNotFound(EtcdError):
    message = "etcdserver: role name not found"
    code = "FAILED_PRECONDITION"


class UserExists(EtcdError):
    message = "etcdserver: user name already exists"
    code = "FAILED_PRECONDITION"


class RoleExists(EtcdError):
    message = "etcdserver: role name already exists"
    code = "FAILED_PRECONDITION"


class RoleEmpty(EtcdError):
    message = "etcdserver: role name is empty"
    code = "INVALID_ARGUMENT"


class AuthFailed(EtcdError):
    message = "etcdserver: authentication failed, invalid user ID or password"
    code = "INVALID_ARGUMENT"


class AuthNotEnabled(EtcdError):
    message = "etcdserver: authentication is not enabled"
    code = "FAILED_PRECONDITION"


class RootUserNotExist(EtcdError):
    message = "etcdserver: root user does not exist"
    code = "FAILED_PRECONDITION"


class RootRoleNotExist(EtcdError):
    message = "etcdserver: root user does not have root role"
    code = "FAILED_PRECONDITION"


class RoleNotGranted(EtcdError):
    message = "etcdserver: role is not granted to the user"
    code = "FAILED_PRECONDITION"


class PermissionNotGranted(EtcdError):
    message = "etcdserver: permission is not granted to the role"
    code = "FAILED_PRECONDITION"


class InvalidAuthManagement(EtcdError):
    message = "etcdserver: invalid auth management"
    code = "INVALID_ARGUMENT"


class AuthOldRevision(EtcdError):
    message = "etcdserver: revision of auth store is old"
    code = "INVALID_ARGUMENT"


ETCD_ERRORS: tuple[type[EtcdError], ...] = tuple(EtcdError.__subclasses__())

MVCC_ERRORS: tuple[type[mvcc.MvccError], ...] = (
    mvcc.KeyNotProvided,
    mvcc.KeyNotFound,
    mvcc.ValueProvided,
    mvcc.LeaseProvided,
    mvcc.TooManyOperations,
    mvcc.DuplicateKey,
    mvcc.Compacted,
    mvcc.FutureRevision,
    mvcc.LeaseNotFound,
    mvcc.LeaseExists,
    mvcc.LeaseTtlTooLarge,
)

_BY_MESSAGE: dict[str, type[EtcdError | mvcc.MvccError]] = {
    **{error.message: error for error in ETCD_ERRORS},
    **{error.message: error for error in MVCC_ERRORS},
}


def _serving_errors() -> dict[type[serving.ServingError], type[EtcdError]]:
    return {
        serving.NoLeader: NoLeader,
        serving.RequestTimeout: RequestTimeout,
        serving.TooManyRequests: TooManyRequests,
        serving.RequestTooLarge: RequestTooLarge,
        serving.ServerStopped: ServerStopped,
        serving.LeaderChanged: LeaderChanged,
        serving.NotLeader: NotLeader,
        serving.BadTransferee: BadLeaderTransferee,
        serving.LearnerNotReady: LearnerNotReady,
        serving.MembershipRejected: MemberNotFound,
    }


_SYNOD_OWN_REFUSALS: dict[type[BaseException], grpc.StatusCode] = {
    serving.MembershipUnsupported: grpc.StatusCode.UNIMPLEMENTED,
    serving.MemberRefused: grpc.StatusCode.FAILED_PRECONDITION,
}


def status_of(error: BaseException) -> Status:
    """The status etcd would answer ``error`` with."""
    own_code = _SYNOD_OWN_REFUSALS.get(type(error))
    if own_code is not None:
        # etcd has no such refusal (its engine always can): Synod's own text, and a code
        # clients do not retry.
        return Status(own_code, f"synod: {error}")
    if isinstance(error, serving.ServingError):
        return status_of(_serving_errors()[type(error)]())
    if isinstance(error, CommandDecodeError):
        return Status(grpc.StatusCode.INVALID_ARGUMENT, f"synod: {error}")
    match error:
        case mvcc.MvccError() | EtcdError():
            return Status(grpc.StatusCode[error.code], error.message)
        case UnknownEnumValue() | MissingOneof():
            return Status(grpc.StatusCode[error.code], str(error))
        case EngineNotLeader():
            # Only a leader can hand leadership over: etcd's answer to MoveLeader elsewhere.
            return status_of(NotLeader())
        case TimeoutError():
            return status_of(RequestTimeout())
    return Status(grpc.StatusCode.UNKNOWN, str(error))


def error_of(status: Status) -> SynodError:
    """The typed error for a status a server sent: known texts give their class (whatever the
    code), anything else a plain ``SynodError`` holding the text."""
    known = _BY_MESSAGE.get(status.message)
    if known is None:
        return SynodError(status.message)
    return known()
