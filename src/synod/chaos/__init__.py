"""``synod.chaos``: faults on real processes, sockets and disks, with the history checked.

A Jepsen-style runner: it starts a cluster of real members (Synod or etcd), each in a network
namespace of its own as root (``netns``) or on 127.0.0.1 behind a fault proxy for its peer
traffic (``proxy``), whichever ``fabric`` chooses (``cluster``), or attaches to any etcd v3
endpoints; runs concurrent clients through the etcd API (``client``, ``workloads``) while the
nemesis kills, pauses, partitions and re-adds members (``nemesis``); records everything as a
Jepsen EDN history (``history``); heals, checks (``checks``: the WGL checker of
``synod.check`` for registers, conservation for the bank) and reports (``report``: text and a
self-contained HTML timeline). ``runner`` ties the phases together.

Layering: just below ``synod.cli`` (it starts members with ``synod.cli.localcluster``, the one
module it takes from the layer above), above ``synod.api`` (the generated gRPC stubs),
``synod.server`` (the peer frame layout the proxy reads) and ``synod.check``.
"""
