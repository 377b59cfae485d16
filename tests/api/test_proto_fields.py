"""The generated descriptors against the reference's field tables (shared/reference/
etcd-v3-api.md, section 2): every message etcd 3.4 serves, with exactly these field names,
numbers, types and labels; every service method with its streaming kind; every enum value.

The tables below were written from the reference, not from the .proto files.
"""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor

from synod.api.gen.authpb import auth_pb2
from synod.api.gen.etcdserverpb import rpc_pb2
from synod.api.gen.mvccpb import kv_pb2

# "name=number:type" per field; "[]" before the type marks a repeated field; a type that is not
# a scalar is the full name of a message or enum.
H = "header=1:etcdserverpb.ResponseHeader"
KV = "mvccpb.KeyValue"
MEMBERS = "members=2:[]etcdserverpb.Member"
FIELDS: dict[str, str] = {
    "mvccpb.KeyValue": "key=1:bytes create_revision=2:int64 mod_revision=3:int64 version=4:int64 "
    "value=5:bytes lease=6:int64",
    "mvccpb.Event": f"type=1:mvccpb.Event.EventType kv=2:{KV} prev_kv=3:{KV}",
    "authpb.UserAddOptions": "no_password=1:bool",
    "authpb.User": "name=1:bytes password=2:bytes roles=3:[]string options=4:authpb.UserAddOptions",
    "authpb.Permission": "permType=1:authpb.Permission.Type key=2:bytes range_end=3:bytes",
    "authpb.Role": "name=1:bytes keyPermission=2:[]authpb.Permission",
    "etcdserverpb.ResponseHeader": "cluster_id=1:uint64 member_id=2:uint64 revision=3:int64 "
    "raft_term=4:uint64",
    "etcdserverpb.RangeRequest": "key=1:bytes range_end=2:bytes limit=3:int64 revision=4:int64 "
    "sort_order=5:etcdserverpb.RangeRequest.SortOrder "
    "sort_target=6:etcdserverpb.RangeRequest.SortTarget serializable=7:bool keys_only=8:bool "
    "count_only=9:bool min_mod_revision=10:int64 max_mod_revision=11:int64 "
    "min_create_revision=12:int64 max_create_revision=13:int64",
    "etcdserverpb.RangeResponse": f"{H} kvs=2:[]{KV} more=3:bool count=4:int64",
    "etcdserverpb.PutRequest": "key=1:bytes value=2:bytes lease=3:int64 prev_kv=4:bool "
    "ignore_value=5:bool ignore_lease=6:bool",
    "etcdserverpb.PutResponse": f"{H} prev_kv=2:{KV}",
    "etcdserverpb.DeleteRangeRequest": "key=1:bytes range_end=2:bytes prev_kv=3:bool",
    "etcdserverpb.DeleteRangeResponse": f"{H} deleted=2:int64 prev_kvs=3:[]{KV}",
    "etcdserverpb.Compare": "result=1:etcdserverpb.Compare.CompareResult "
    "target=2:etcdserverpb.Compare.CompareTarget key=3:bytes version=4:int64 "
    "create_revision=5:int64 mod_revision=6:int64 value=7:bytes lease=8:int64 range_end=64:bytes",
    "etcdserverpb.RequestOp": "request_range=1:etcdserverpb.RangeRequest "
    "request_put=2:etcdserverpb.PutRequest request_delete_range=3:etcdserverpb.DeleteRangeRequest "
    "request_txn=4:etcdserverpb.TxnRequest",
    "etcdserverpb.ResponseOp": "response_range=1:etcdserverpb.RangeResponse "
    "response_put=2:etcdserverpb.PutResponse "
    "response_delete_range=3:etcdserverpb.DeleteRangeResponse "
    "response_txn=4:etcdserverpb.TxnResponse",
    "etcdserverpb.TxnRequest": "compare=1:[]etcdserverpb.Compare "
    "success=2:[]etcdserverpb.RequestOp failure=3:[]etcdserverpb.RequestOp",
    "etcdserverpb.TxnResponse": f"{H} succeeded=2:bool responses=3:[]etcdserverpb.ResponseOp",
    "etcdserverpb.CompactionRequest": "revision=1:int64 physical=2:bool",
    "etcdserverpb.CompactionResponse": H,
    "etcdserverpb.WatchRequest": "create_request=1:etcdserverpb.WatchCreateRequest "
    "cancel_request=2:etcdserverpb.WatchCancelRequest "
    "progress_request=3:etcdserverpb.WatchProgressRequest",
    "etcdserverpb.WatchCreateRequest": "key=1:bytes range_end=2:bytes start_revision=3:int64 "
    "progress_notify=4:bool filters=5:[]etcdserverpb.WatchCreateRequest.FilterType "
    "prev_kv=6:bool watch_id=7:int64 fragment=8:bool",
    "etcdserverpb.WatchCancelRequest": "watch_id=1:int64",
    "etcdserverpb.WatchProgressRequest": "",
    "etcdserverpb.WatchResponse": f"{H} watch_id=2:int64 created=3:bool canceled=4:bool "
    "compact_revision=5:int64 cancel_reason=6:string fragment=7:bool events=11:[]mvccpb.Event",
    "etcdserverpb.LeaseGrantRequest": "TTL=1:int64 ID=2:int64",
    "etcdserverpb.LeaseGrantResponse": f"{H} ID=2:int64 TTL=3:int64 error=4:string",
    "etcdserverpb.LeaseRevokeRequest": "ID=1:int64",
    "etcdserverpb.LeaseRevokeResponse": H,
    "etcdserverpb.LeaseKeepAliveRequest": "ID=1:int64",
    "etcdserverpb.LeaseKeepAliveResponse": f"{H} ID=2:int64 TTL=3:int64",
    "etcdserverpb.LeaseTimeToLiveRequest": "ID=1:int64 keys=2:bool",
    "etcdserverpb.LeaseTimeToLiveResponse": f"{H} ID=2:int64 TTL=3:int64 grantedTTL=4:int64 "
    "keys=5:[]bytes",
    "etcdserverpb.LeaseLeasesRequest": "",
    "etcdserverpb.LeaseStatus": "ID=1:int64",
    "etcdserverpb.LeaseLeasesResponse": f"{H} leases=2:[]etcdserverpb.LeaseStatus",
    "etcdserverpb.Member": "ID=1:uint64 name=2:string peerURLs=3:[]string clientURLs=4:[]string "
    "isLearner=5:bool",
    "etcdserverpb.MemberAddRequest": "peerURLs=1:[]string isLearner=2:bool",
    "etcdserverpb.MemberAddResponse": f"{H} member=2:etcdserverpb.Member "
    "members=3:[]etcdserverpb.Member",
    "etcdserverpb.MemberRemoveRequest": "ID=1:uint64",
    "etcdserverpb.MemberRemoveResponse": f"{H} {MEMBERS}",
    "etcdserverpb.MemberUpdateRequest": "ID=1:uint64 peerURLs=2:[]string",
    "etcdserverpb.MemberUpdateResponse": f"{H} {MEMBERS}",
    "etcdserverpb.MemberListRequest": "",
    "etcdserverpb.MemberListResponse": f"{H} {MEMBERS}",
    "etcdserverpb.MemberPromoteRequest": "ID=1:uint64",
    "etcdserverpb.MemberPromoteResponse": f"{H} {MEMBERS}",
    "etcdserverpb.AlarmRequest": "action=1:etcdserverpb.AlarmRequest.AlarmAction "
    "memberID=2:uint64 alarm=3:etcdserverpb.AlarmType",
    "etcdserverpb.AlarmMember": "memberID=1:uint64 alarm=2:etcdserverpb.AlarmType",
    "etcdserverpb.AlarmResponse": f"{H} alarms=2:[]etcdserverpb.AlarmMember",
    "etcdserverpb.StatusRequest": "",
    "etcdserverpb.StatusResponse": f"{H} version=2:string dbSize=3:int64 leader=4:uint64 "
    "raftIndex=5:uint64 raftTerm=6:uint64 raftAppliedIndex=7:uint64 errors=8:[]string "
    "dbSizeInUse=9:int64 isLearner=10:bool",
    "etcdserverpb.DefragmentRequest": "",
    "etcdserverpb.DefragmentResponse": H,
    "etcdserverpb.HashRequest": "",
    "etcdserverpb.HashResponse": f"{H} hash=2:uint32",
    "etcdserverpb.HashKVRequest": "revision=1:int64",
    "etcdserverpb.HashKVResponse": f"{H} hash=2:uint32 compact_revision=3:int64",
    "etcdserverpb.SnapshotRequest": "",
    "etcdserverpb.SnapshotResponse": f"{H} remaining_bytes=2:uint64 blob=3:bytes",
    "etcdserverpb.MoveLeaderRequest": "targetID=1:uint64",
    "etcdserverpb.MoveLeaderResponse": H,
    "etcdserverpb.AuthEnableRequest": "",
    "etcdserverpb.AuthEnableResponse": H,
    "etcdserverpb.AuthDisableRequest": "",
    "etcdserverpb.AuthDisableResponse": H,
    "etcdserverpb.AuthenticateRequest": "name=1:string password=2:string",
    "etcdserverpb.AuthenticateResponse": f"{H} token=2:string",
    "etcdserverpb.AuthUserAddRequest": "name=1:string password=2:string "
    "options=3:authpb.UserAddOptions",
    "etcdserverpb.AuthUserAddResponse": H,
    "etcdserverpb.AuthUserGetRequest": "name=1:string",
    "etcdserverpb.AuthUserGetResponse": f"{H} roles=2:[]string",
    "etcdserverpb.AuthUserDeleteRequest": "name=1:string",
    "etcdserverpb.AuthUserDeleteResponse": H,
    "etcdserverpb.AuthUserChangePasswordRequest": "name=1:string password=2:string",
    "etcdserverpb.AuthUserChangePasswordResponse": H,
    "etcdserverpb.AuthUserGrantRoleRequest": "user=1:string role=2:string",
    "etcdserverpb.AuthUserGrantRoleResponse": H,
    "etcdserverpb.AuthUserRevokeRoleRequest": "name=1:string role=2:string",
    "etcdserverpb.AuthUserRevokeRoleResponse": H,
    "etcdserverpb.AuthUserListRequest": "",
    "etcdserverpb.AuthUserListResponse": f"{H} users=2:[]string",
    "etcdserverpb.AuthRoleAddRequest": "name=1:string",
    "etcdserverpb.AuthRoleAddResponse": H,
    "etcdserverpb.AuthRoleGetRequest": "role=1:string",
    "etcdserverpb.AuthRoleGetResponse": f"{H} perm=2:[]authpb.Permission",
    "etcdserverpb.AuthRoleListRequest": "",
    "etcdserverpb.AuthRoleListResponse": f"{H} roles=2:[]string",
    "etcdserverpb.AuthRoleDeleteRequest": "role=1:string",
    "etcdserverpb.AuthRoleDeleteResponse": H,
    "etcdserverpb.AuthRoleGrantPermissionRequest": "name=1:string perm=2:authpb.Permission",
    "etcdserverpb.AuthRoleGrantPermissionResponse": H,
    "etcdserverpb.AuthRoleRevokePermissionRequest": "role=1:string key=2:bytes range_end=3:bytes",
    "etcdserverpb.AuthRoleRevokePermissionResponse": H,
}

ONEOFS: dict[str, tuple[str, set[str]]] = {
    "etcdserverpb.Compare": (
        "target_union",
        {"version", "create_revision", "mod_revision", "value", "lease"},
    ),
    "etcdserverpb.RequestOp": (
        "request",
        {"request_range", "request_put", "request_delete_range", "request_txn"},
    ),
    "etcdserverpb.ResponseOp": (
        "response",
        {"response_range", "response_put", "response_delete_range", "response_txn"},
    ),
    "etcdserverpb.WatchRequest": (
        "request_union",
        {"create_request", "cancel_request", "progress_request"},
    ),
}

ENUMS: dict[str, str] = {
    "mvccpb.Event.EventType": "PUT=0 DELETE=1",
    "authpb.Permission.Type": "READ=0 WRITE=1 READWRITE=2",
    "etcdserverpb.RangeRequest.SortOrder": "NONE=0 ASCEND=1 DESCEND=2",
    "etcdserverpb.RangeRequest.SortTarget": "KEY=0 VERSION=1 CREATE=2 MOD=3 VALUE=4",
    "etcdserverpb.Compare.CompareResult": "EQUAL=0 GREATER=1 LESS=2 NOT_EQUAL=3",
    "etcdserverpb.Compare.CompareTarget": "VERSION=0 CREATE=1 MOD=2 VALUE=3 LEASE=4",
    "etcdserverpb.WatchCreateRequest.FilterType": "NOPUT=0 NODELETE=1",
    "etcdserverpb.AlarmRequest.AlarmAction": "GET=0 ACTIVATE=1 DEACTIVATE=2",
    "etcdserverpb.AlarmType": "NONE=0 NOSPACE=1 CORRUPT=2",
}

# method: "Request Response kind" with kind U (unary), S (server stream), B (bidirectional).
SERVICES: dict[str, dict[str, str]] = {
    "KV": {
        "Range": "RangeRequest RangeResponse U",
        "Put": "PutRequest PutResponse U",
        "DeleteRange": "DeleteRangeRequest DeleteRangeResponse U",
        "Txn": "TxnRequest TxnResponse U",
        "Compact": "CompactionRequest CompactionResponse U",
    },
    "Watch": {"Watch": "WatchRequest WatchResponse B"},
    "Lease": {
        "LeaseGrant": "LeaseGrantRequest LeaseGrantResponse U",
        "LeaseRevoke": "LeaseRevokeRequest LeaseRevokeResponse U",
        "LeaseKeepAlive": "LeaseKeepAliveRequest LeaseKeepAliveResponse B",
        "LeaseTimeToLive": "LeaseTimeToLiveRequest LeaseTimeToLiveResponse U",
        "LeaseLeases": "LeaseLeasesRequest LeaseLeasesResponse U",
    },
    "Cluster": {
        name: f"{name}Request {name}Response U"
        for name in ("MemberAdd", "MemberRemove", "MemberUpdate", "MemberList", "MemberPromote")
    },
    "Maintenance": {
        "Alarm": "AlarmRequest AlarmResponse U",
        "Status": "StatusRequest StatusResponse U",
        "Defragment": "DefragmentRequest DefragmentResponse U",
        "Hash": "HashRequest HashResponse U",
        "HashKV": "HashKVRequest HashKVResponse U",
        "Snapshot": "SnapshotRequest SnapshotResponse S",
        "MoveLeader": "MoveLeaderRequest MoveLeaderResponse U",
    },
    "Auth": {
        "AuthEnable": "AuthEnableRequest AuthEnableResponse U",
        "AuthDisable": "AuthDisableRequest AuthDisableResponse U",
        "Authenticate": "AuthenticateRequest AuthenticateResponse U",
        **{
            name: f"Auth{name}Request Auth{name}Response U"
            for name in (
                "UserAdd",
                "UserGet",
                "UserList",
                "UserDelete",
                "UserChangePassword",
                "UserGrantRole",
                "UserRevokeRole",
                "RoleAdd",
                "RoleGet",
                "RoleList",
                "RoleDelete",
                "RoleGrantPermission",
                "RoleRevokePermission",
            )
        },
    },
}

FILES: tuple[FileDescriptor, ...] = (rpc_pb2.DESCRIPTOR, kv_pb2.DESCRIPTOR, auth_pb2.DESCRIPTOR)
SCALARS = {
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_BOOL: "bool",
}


def all_messages() -> dict[str, Descriptor]:
    found: dict[str, Descriptor] = {}
    pending = [message for file in FILES for message in file.message_types_by_name.values()]
    while pending:
        message = pending.pop()
        found[message.full_name] = message
        pending.extend(message.nested_types)
    return found


def type_name(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        name = field.message_type.full_name
    elif field.enum_type is not None:
        name = field.enum_type.full_name
    else:
        name = SCALARS[field.type]
    return f"[]{name}" if field.is_repeated else name


def described(message: Descriptor) -> set[str]:
    return {f"{field.name}={field.number}:{type_name(field)}" for field in message.fields}


def test_the_packages_are_etcds() -> None:
    assert [file.package for file in FILES] == ["etcdserverpb", "mvccpb", "authpb"]


def test_every_message_is_in_the_table_and_no_other() -> None:
    assert set(all_messages()) == set(FIELDS)


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_fields_match_the_reference(name: str) -> None:
    expected = set(FIELDS[name].split())
    assert described(all_messages()[name]) == expected


@pytest.mark.parametrize("name", sorted(ONEOFS))
def test_oneofs_hold_the_reference_members(name: str) -> None:
    oneof_name, members = ONEOFS[name]
    message = all_messages()[name]
    assert [oneof.name for oneof in message.oneofs] == [oneof_name]
    assert {field.name for field in message.oneofs_by_name[oneof_name].fields} == members


def test_only_the_listed_messages_have_oneofs() -> None:
    with_oneofs = {name for name, message in all_messages().items() if message.oneofs}
    assert with_oneofs == set(ONEOFS)


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_enum_values_match_the_reference(name: str) -> None:
    package, _, rest = name.partition(".")
    file = next(file for file in FILES if file.package == package)
    owner, _, enum_name = rest.rpartition(".")
    enum = (
        file.message_types_by_name[owner].enum_types_by_name[enum_name]
        if owner
        else file.enum_types_by_name[enum_name]
    )
    values = {f"{value.name}={value.number}" for value in enum.values}
    assert values == set(ENUMS[name].split())


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_services_and_methods_match_the_reference(service: str) -> None:
    descriptor = rpc_pb2.DESCRIPTOR.services_by_name[service]
    assert descriptor.full_name == f"etcdserverpb.{service}"
    methods = {}
    for method in descriptor.methods:
        kind = {(False, False): "U", (False, True): "S", (True, True): "B"}[
            (method.client_streaming, method.server_streaming)
        ]
        methods[method.name] = f"{method.input_type.name} {method.output_type.name} {kind}"
    assert methods == SERVICES[service]


def test_the_grpc_paths_are_etcds() -> None:
    """The generated client stub calls /etcdserverpb.<Service>/<Method>, what etcd serves."""
    paths = {
        f"/{service.full_name}/{method.name}"
        for service in rpc_pb2.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert "/etcdserverpb.KV/Range" in paths
    assert "/etcdserverpb.Lease/LeaseKeepAlive" in paths
    assert len(paths) == sum(len(methods) for methods in SERVICES.values())
