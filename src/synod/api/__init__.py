"""etcd's v3 API over gRPC and its JSON gateway, served from a node's replica.

Rules:
- The wire contract is etcd 3.4's: ``proto/`` holds etcd's services and messages with etcd's
  package names (``etcdserverpb``, ``mvccpb``, ``authpb``), message names and field numbers.
  ``gen/`` is generated from them by ``make`` (grpcio-tools, with mypy-protobuf stubs), is not
  in git, and is never edited by hand.
- ``convert`` is the only place protobuf messages meet ``synod.kv.mvcc``'s dataclasses;
  ``errors`` is the only place errors become gRPC statuses, with etcd's exact texts and codes.
- May import ``synod.server`` and everything below it, grpc and protobuf; nothing imports it
  but ``synod.cli``.
- The generated modules share protobuf's default pool with any other copy of etcd's protos
  (aetcd ships one): such a copy cannot be imported into the same process.
"""
