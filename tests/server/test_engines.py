"""The server's engine registry: names, codecs, capabilities and the founding-member check."""

from __future__ import annotations

import random

import pytest

from synod.consensus.paxos import PaxosEngine
from synod.consensus.paxos.messages import Prepare
from synod.consensus.raft import RaftEngine
from synod.consensus.raft.messages import TimeoutNow
from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.errors import ConfigError, MalformedMessage
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Membership
from synod.server.engines import EngineKind, engine_kind
from synod.server.errors import MemberRefused, MembershipUnsupported

MEMBERS = (NodeId(0x8E9E05C52164694D), NodeId(0x91BC3C398FB3C146), NodeId(0xFD422379FDA50E48))


@pytest.mark.parametrize(("name", "engine_type"), [("raft", RaftEngine), ("paxos", PaxosEngine)])
def test_each_name_builds_its_engine(name: str, engine_type: type) -> None:
    kind = engine_kind(name)
    assert kind.name == name
    storage = MemoryStorage(Membership(frozenset(MEMBERS)))
    engine = kind.build(MEMBERS[0], storage, EngineConfig(), random.Random(1), None)
    assert isinstance(engine, engine_type)
    kind.check_members(MEMBERS)


def test_each_codec_speaks_its_own_engine_only() -> None:
    raft, paxos = engine_kind("raft").codec, engine_kind("paxos").codec
    prepare = Prepare(NodeId(1), NodeId(2), Term(3), LogIndex(1))
    timeout = TimeoutNow(NodeId(1), NodeId(2), Term(3))
    assert paxos.decode(paxos.encode(prepare)) == prepare
    assert raft.decode(raft.encode(timeout)) == timeout
    with pytest.raises(MalformedMessage):
        raft.decode(paxos.encode(prepare))
    with pytest.raises(MalformedMessage):
        paxos.decode(raft.encode(timeout))


def test_capabilities() -> None:
    assert engine_kind("raft").supports_membership_change
    assert engine_kind("paxos").supports_membership_change is PaxosEngine.SUPPORTS_MEMBERSHIP_CHANGE


def test_an_unknown_engine_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown engine 'zab' \(known: paxos, raft\)"):
        engine_kind("zab")


def test_paxos_refuses_members_sharing_a_ballot_owner() -> None:
    twin = NodeId((7 << 32) | (MEMBERS[0] & 0xFFFFFFFF))
    with pytest.raises(ConfigError, match=r"--engine paxos: members .* share the ballot owner"):
        engine_kind("paxos").check_members([*MEMBERS, twin])
    engine_kind("raft").check_members([*MEMBERS, twin])  # Raft has no ballots to share


def test_paxos_refuses_to_add_a_member_sharing_a_ballot_owner() -> None:
    twin = NodeId((7 << 32) | (MEMBERS[1] & 0xFFFFFFFF))
    with pytest.raises(MemberRefused, match=r"the paxos engine refuses it: members .* share"):
        engine_kind("paxos").check_change(MEMBERS, twin)
    engine_kind("paxos").check_change(MEMBERS, NodeId(0x1234_5678_9ABC))
    engine_kind("paxos").check_change(MEMBERS, None)  # removals and promotions
    engine_kind("raft").check_change(MEMBERS, twin)


def test_an_engine_with_a_fixed_membership_refuses_every_change() -> None:
    raft = engine_kind("raft")
    fixed = EngineKind("fixed", raft.build, raft.codec, supports_membership_change=False)
    for adding in (NodeId(5), None):
        with pytest.raises(MembershipUnsupported, match="the fixed engine cannot change"):
            fixed.check_change(MEMBERS, adding)
