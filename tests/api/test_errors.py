"""etcd's errors as gRPC statuses: every text and code as the reference's section 3 lists them
for etcd 3.4 (the table below is written from the reference, not from synod.api.errors)."""

from __future__ import annotations

import grpc
import pytest

from synod.api import errors
from synod.api.errors import Status, error_of, status_of
from synod.core.errors import NotLeader as EngineNotLeader
from synod.core.errors import SynodError
from synod.kv import mvcc
from synod.server import errors as serving

C = grpc.StatusCode
REFERENCE: dict[str, tuple[str, grpc.StatusCode]] = {
    "KeyNotProvided": ("etcdserver: key is not provided", C.INVALID_ARGUMENT),
    "KeyNotFound": ("etcdserver: key not found", C.INVALID_ARGUMENT),
    "ValueProvided": ("etcdserver: value is provided", C.INVALID_ARGUMENT),
    "LeaseProvided": ("etcdserver: lease is provided", C.INVALID_ARGUMENT),
    "TooManyOperations": ("etcdserver: too many operations in txn request", C.INVALID_ARGUMENT),
    "DuplicateKey": ("etcdserver: duplicate key given in txn request", C.INVALID_ARGUMENT),
    "Compacted": ("etcdserver: mvcc: required revision has been compacted", C.OUT_OF_RANGE),
    "FutureRevision": ("etcdserver: mvcc: required revision is a future revision", C.OUT_OF_RANGE),
    "LeaseNotFound": ("etcdserver: requested lease not found", C.NOT_FOUND),
    "LeaseExists": ("etcdserver: lease already exists", C.FAILED_PRECONDITION),
    "LeaseTtlTooLarge": ("etcdserver: too large lease TTL", C.OUT_OF_RANGE),
    "NoSpace": ("etcdserver: mvcc: database space exceeded", C.RESOURCE_EXHAUSTED),
    "WatchCanceled": ("etcdserver: watch canceled", C.CANCELLED),
    "RequestTooLarge": ("etcdserver: request is too large", C.INVALID_ARGUMENT),
    "TooManyRequests": ("etcdserver: too many requests", C.RESOURCE_EXHAUSTED),
    "NoLeader": ("etcdserver: no leader", C.UNAVAILABLE),
    "NotLeader": ("etcdserver: not leader", C.FAILED_PRECONDITION),
    "LeaderChanged": ("etcdserver: leader changed", C.UNAVAILABLE),
    "RequestTimeout": ("etcdserver: request timed out", C.UNAVAILABLE),
    "TimeoutDueToLeaderFail": (
        "etcdserver: request timed out, possibly due to previous leader failure",
        C.UNAVAILABLE,
    ),
    "TimeoutDueToConnectionLost": (
        "etcdserver: request timed out, possibly due to connection lost",
        C.UNAVAILABLE,
    ),
    "TimeoutWaitAppliedIndex": (
        "etcdserver: request timed out, waiting for the applied index took too long",
        C.UNAVAILABLE,
    ),
    "ServerStopped": ("etcdserver: server stopped", C.UNAVAILABLE),
    "Unhealthy": ("etcdserver: unhealthy cluster", C.UNAVAILABLE),
    "Corrupt": ("etcdserver: corrupt cluster", C.DATA_LOSS),
    "NotSupportedForLearner": ("etcdserver: rpc not supported for learner", C.UNAVAILABLE),
    "BadLeaderTransferee": ("etcdserver: bad leader transferee", C.FAILED_PRECONDITION),
    "NotCapable": ("etcdserver: not capable", C.UNAVAILABLE),
    "MemberBadUrls": ("etcdserver: given member URLs are invalid", C.INVALID_ARGUMENT),
    "MemberNotFound": ("etcdserver: member not found", C.NOT_FOUND),
    "MemberExists": ("etcdserver: member ID already exist", C.FAILED_PRECONDITION),
    "PeerUrlExists": ("etcdserver: Peer URLs already exists", C.FAILED_PRECONDITION),
    "MemberNotEnoughStarted": (
        "etcdserver: re-configuration failed due to not enough started members",
        C.FAILED_PRECONDITION,
    ),
    "MemberNotLearner": ("etcdserver: can only promote a learner member", C.FAILED_PRECONDITION),
    "LearnerNotReady": (
        "etcdserver: can only promote a learner member which is in sync with leader",
        C.FAILED_PRECONDITION,
    ),
    "TooManyLearners": ("etcdserver: too many learner members in cluster", C.FAILED_PRECONDITION),
    "PermissionDenied": ("etcdserver: permission denied", C.PERMISSION_DENIED),
    "InvalidAuthToken": ("etcdserver: invalid auth token", C.UNAUTHENTICATED),
    "UserEmpty": ("etcdserver: user name is empty", C.INVALID_ARGUMENT),
    "UserNotFound": ("etcdserver: user name not found", C.FAILED_PRECONDITION),
    "RoleNotFound": ("etcdserver: role name not found", C.FAILED_PRECONDITION),
    "UserExists": ("etcdserver: user name already exists", C.FAILED_PRECONDITION),
    "RoleExists": ("etcdserver: role name already exists", C.FAILED_PRECONDITION),
    "RoleEmpty": ("etcdserver: role name is empty", C.INVALID_ARGUMENT),
    "AuthFailed": (
        "etcdserver: authentication failed, invalid user ID or password",
        C.INVALID_ARGUMENT,
    ),
    "AuthNotEnabled": ("etcdserver: authentication is not enabled", C.FAILED_PRECONDITION),
    "RootUserNotExist": ("etcdserver: root user does not exist", C.FAILED_PRECONDITION),
    "RootRoleNotExist": ("etcdserver: root user does not have root role", C.FAILED_PRECONDITION),
    "RoleNotGranted": ("etcdserver: role is not granted to the user", C.FAILED_PRECONDITION),
    "PermissionNotGranted": (
        "etcdserver: permission is not granted to the role",
        C.FAILED_PRECONDITION,
    ),
    "InvalidAuthManagement": ("etcdserver: invalid auth management", C.INVALID_ARGUMENT),
    "AuthOldRevision": ("etcdserver: revision of auth store is old", C.INVALID_ARGUMENT),
}


def error_class(name: str) -> type[SynodError]:
    found = getattr(mvcc, name, None) or getattr(errors, name)
    assert isinstance(found, type)
    assert issubclass(found, SynodError)
    return found


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_status_is_etcds_text_and_code(name: str) -> None:
    message, code = REFERENCE[name]
    assert status_of(error_class(name)()) == Status(code, message)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_a_status_reads_back_as_its_typed_error(name: str) -> None:
    message, code = REFERENCE[name]
    assert type(error_of(Status(code, message))) is error_class(name)


def test_every_keyspace_error_is_mapped() -> None:
    """A new MvccError must get a row in the reference table above (and in MVCC_ERRORS)."""
    subclasses = {cls.__name__ for cls in mvcc.MvccError.__subclasses__()}
    assert subclasses <= set(REFERENCE)
    assert {cls.__name__ for cls in errors.MVCC_ERRORS} == subclasses


def test_every_etcd_error_is_in_the_reference_table() -> None:
    assert {cls.__name__ for cls in errors.ETCD_ERRORS} <= set(REFERENCE)
    assert len(errors.ETCD_ERRORS) + len(errors.MVCC_ERRORS) == len(REFERENCE)


def test_texts_are_unique() -> None:
    texts = [message for message, _ in REFERENCE.values()]
    assert len(set(texts)) == len(texts)


def test_the_engine_refusing_a_leadership_transfer_is_etcds_not_leader() -> None:
    status = status_of(EngineNotLeader("node 2 is not the leader"))
    assert status == Status(C.FAILED_PRECONDITION, "etcdserver: not leader")


def test_a_timeout_is_etcds_request_timed_out() -> None:
    assert status_of(TimeoutError()) == Status(C.UNAVAILABLE, "etcdserver: request timed out")


def test_other_errors_are_unknown_with_their_own_text() -> None:
    """As etcd does with a Go error it has no mapping for."""
    assert status_of(RuntimeError("context deadline exceeded")) == Status(
        C.UNKNOWN, "context deadline exceeded"
    )


def test_synods_own_refusals_are_invalid_argument() -> None:
    status = status_of(errors.UnknownEnumValue("RangeRequest.sort_target", 9))
    assert status == Status(
        C.INVALID_ARGUMENT, "synod: unknown value 9 for RangeRequest.sort_target"
    )
    missing = status_of(errors.MissingOneof("ResponseOp", "response"))
    assert missing == Status(C.INVALID_ARGUMENT, "synod: ResponseOp has no response set")


def test_an_unknown_text_reads_back_as_a_plain_error() -> None:
    error = error_of(Status(C.UNKNOWN, "auth: permission denied"))
    assert type(error) is SynodError
    assert str(error) == "auth: permission denied"


def test_a_member_the_engine_cannot_run_is_a_failed_precondition_with_its_reason() -> None:
    refusal = serving.MemberRefused("the paxos engine refuses it: members 1 and 2 collide")
    assert status_of(refusal) == Status(
        grpc.StatusCode.FAILED_PRECONDITION,
        "synod: the paxos engine refuses it: members 1 and 2 collide",
    )


def test_an_engine_without_membership_changes_is_unimplemented_with_its_reason() -> None:
    refusal = serving.MembershipUnsupported("the paxos engine cannot change the membership")
    assert status_of(refusal) == Status(
        grpc.StatusCode.UNIMPLEMENTED, "synod: the paxos engine cannot change the membership"
    )
