"""Scripted interaction tests for the Raft engine, in the style of etcd-io/raft's datadriven.

A script is a sequence of blocks::

    command arg key=value
    ----
    expected output

Every command's output is the exact trace it caused (Readies, messages, state), so a script
pins the protocol's behaviour message by message. Run with ``SYNOD_REWRITE=1`` to rewrite the
expected output of every block from the actual output (then review the diff).

Commands:

    add-nodes N [voters=1,2,3] [learners=4] [election=10] [heartbeat=1] [prevote=true]
              [checkquorum=true] [inflight=64] [max-bytes=N] [max-uncommitted=N] [join=true]
    campaign ID                          tick-election ID       tick-heartbeat ID
    tick ID [COUNT]                      propose ID DATA...     read-index ID REQUEST
    propose-change ID add-voter|add-learner|promote|remove NODE
    transfer-leadership FROM TO          compact ID INDEX
    process-ready ID...                  deliver-msgs [drop=true] [ID...]
    stabilize [ID...]                    partition A,B C,D      heal
    crash ID                             restart ID             wipe ID
    status ID
    raft-log ID                          raft-state             applied ID

``add-nodes`` bootstraps founding members (a snapshot at index 1 holding the configuration);
with ``join=true`` the new nodes start empty and must be sent a snapshot by a leader.
``applied ID`` prints the node's state machine: the commands applied so far, in log order,
whether they arrived as entries or inside a snapshot.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from synod.consensus.raft import RaftEngine
from synod.consensus.raft.messages import RaftMessage, describe, describe_entry
from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.engine import Ready
from synod.core.errors import ProposalDropped, SynodError
from synod.core.ids import LogIndex, NodeId
from synod.core.log import ChangeKind, Entry, Membership, MembershipChange, MembershipError

STABILIZE_ROUNDS_MAX = 200


class ZeroRng:
    """Election timeouts exactly ``election`` ticks: scripts stay readable and exact."""

    def randrange(self, start: int, stop: int) -> int:
        assert start < stop
        return start


@dataclass
class Node:
    engine: RaftEngine
    storage: MemoryStorage
    config: EngineConfig
    applied: list[tuple[LogIndex, str]] = field(default_factory=list)
    """The state machine: each applied command with its index."""


@dataclass
class Block:
    line: int
    command: str
    expected: str
    comments: list[str] = field(default_factory=list)


class Harness:
    def __init__(self) -> None:
        self.nodes: dict[NodeId, Node] = {}
        self.crashed: set[NodeId] = set()
        self.mailbox: list[RaftMessage] = []
        self.partition: list[frozenset[NodeId]] = []
        self.out: list[str] = []
        self.commands: dict[str, Callable[[list[str], dict[str, str]], None]] = {
            "add-nodes": self.add_nodes,
            "campaign": self.campaign,
            "tick": self.tick,
            "tick-election": self.tick_election,
            "tick-heartbeat": self.tick_heartbeat,
            "propose": self.propose,
            "propose-change": self.propose_change,
            "read-index": self.read_index,
            "transfer-leadership": self.transfer_leadership,
            "compact": self.compact,
            "process-ready": self.process_ready,
            "deliver-msgs": self.deliver_msgs,
            "stabilize": self.stabilize,
            "partition": self.set_partition,
            "heal": self.heal,
            "crash": self.crash,
            "restart": self.restart,
            "wipe": self.wipe,
            "status": self.status,
            "raft-log": self.raft_log,
            "raft-state": self.raft_state,
            "applied": self.show_applied,
        }

    # -- script plumbing ------------------------------------------------------------------------

    def run(self, command_line: str) -> str:
        self.out = []
        words = shlex.split(command_line)
        name, rest = words[0], words[1:]
        args = [word for word in rest if "=" not in word]
        options = dict(word.split("=", 1) for word in rest if "=" in word)
        if name not in self.commands:
            raise ValueError(f"unknown command {name!r}")
        self.commands[name](args, options)
        return "\n".join(self.out) + ("\n" if self.out else "")

    def say(self, text: str) -> None:
        self.out.append(text)

    def node(self, word: str) -> Node:
        node_id = NodeId(int(word))
        if node_id in self.crashed:
            raise ValueError(f"node {node_id} is crashed")
        return self.nodes[node_id]

    def ids(self, args: list[str]) -> list[NodeId]:
        if args:
            return [NodeId(int(word)) for word in args]
        return sorted(node for node in self.nodes if node not in self.crashed)

    # -- setup ----------------------------------------------------------------------------------

    def add_nodes(self, args: list[str], options: dict[str, str]) -> None:
        count = int(args[0])
        first = max(self.nodes, default=0) + 1
        new_ids = [NodeId(first + offset) for offset in range(count)]
        voters = parse_ids(options["voters"]) if "voters" in options else frozenset(new_ids)
        learners = parse_ids(options.get("learners", ""))
        config = EngineConfig(
            election_timeout_ticks=int(options.get("election", "10")),
            heartbeat_interval_ticks=int(options.get("heartbeat", "1")),
            pre_vote=options.get("prevote", "true") == "true",
            check_quorum=options.get("checkquorum", "true") == "true",
            inflight_messages_max=int(options.get("inflight", "64")),
            message_bytes_max=int(options.get("max-bytes", str(1 << 20))),
            proposal_entries_max=int(options.get("max-uncommitted", "4096")),
        )
        joining = options.get("join") == "true"
        for node_id in new_ids:
            storage = MemoryStorage() if joining else MemoryStorage(Membership(voters, learners))
            engine = RaftEngine(node_id, storage, config, ZeroRng())
            self.nodes[node_id] = Node(engine, storage, config)
        members = ",".join(str(n) for n in sorted(voters))
        setup = "joining, empty storage" if joining else f"voters={members}"
        self.say(f"added {','.join(str(n) for n in new_ids)} ({setup})")

    # -- driving the engines --------------------------------------------------------------------

    def campaign(self, args: list[str], options: dict[str, str]) -> None:
        self.node(args[0]).engine.campaign()

    def tick(self, args: list[str], options: dict[str, str]) -> None:
        count = int(args[1]) if len(args) > 1 else 1
        for _ in range(count):
            self.node(args[0]).engine.tick()

    def tick_election(self, args: list[str], options: dict[str, str]) -> None:
        node = self.node(args[0])
        for _ in range(node.config.election_timeout_ticks):
            node.engine.tick()

    def tick_heartbeat(self, args: list[str], options: dict[str, str]) -> None:
        node = self.node(args[0])
        for _ in range(node.config.heartbeat_interval_ticks):
            node.engine.tick()

    def propose(self, args: list[str], options: dict[str, str]) -> None:
        engine = self.node(args[0]).engine
        for data in args[1:]:
            try:
                engine.propose(data.encode())
            except SynodError as error:
                self.say(f"refused {data}: {describe_error(error)}")

    def propose_change(self, args: list[str], options: dict[str, str]) -> None:
        kinds = {
            "add-voter": ChangeKind.ADD_VOTER,
            "add-learner": ChangeKind.ADD_LEARNER,
            "promote": ChangeKind.PROMOTE_LEARNER,
            "remove": ChangeKind.REMOVE,
        }
        change = MembershipChange(kinds[args[1]], NodeId(int(args[2])))
        try:
            self.node(args[0]).engine.change_membership(change)
        except (SynodError, MembershipError) as error:
            self.say(f"refused: {describe_error(error)}")

    def read_index(self, args: list[str], options: dict[str, str]) -> None:
        self.node(args[0]).engine.read_index(args[1].encode())

    def transfer_leadership(self, args: list[str], options: dict[str, str]) -> None:
        try:
            self.node(args[0]).engine.transfer_leadership(NodeId(int(args[1])))
        except SynodError as error:
            self.say(f"refused: {describe_error(error)}")

    def compact(self, args: list[str], options: dict[str, str]) -> None:
        node = self.node(args[0])
        index = LogIndex(int(args[1]))
        node.engine.compact(index, encode_state(node.applied, index))

    # -- Ready processing and delivery ------------------------------------------------------------

    def process_ready(self, args: list[str], options: dict[str, str]) -> None:
        for node_id in self.ids(args):
            self.handle_ready(node_id)

    def handle_ready(self, node_id: NodeId) -> bool:
        node = self.nodes[node_id]
        ready = node.engine.ready()
        if ready is None:
            return False
        self.say(f"> {node_id} handling Ready")
        for line in describe_ready(ready):
            self.say(f"  {line}")
        persist(node, ready)
        self.mailbox.extend(ready.early_messages)  # type: ignore[arg-type]
        self.mailbox.extend(ready.messages)  # type: ignore[arg-type]
        for entry in ready.committed_entries:
            node.applied.append((entry.index, applied_form(entry)))
        node.engine.advance(ready)
        return True

    def deliver_msgs(self, args: list[str], options: dict[str, str]) -> None:
        self.deliver(self.ids(args), drop=options.get("drop") == "true")

    def deliver(self, targets: list[NodeId], *, drop: bool = False) -> bool:
        chosen = [m for m in self.mailbox if m.target in targets]
        self.mailbox = [m for m in self.mailbox if m.target not in targets]
        for target in targets:
            inbox = [m for m in chosen if m.target == target]
            if not inbox:
                continue
            self.say(f"> {target} {'dropping' if drop else 'receiving'} messages")
            for message in inbox:
                blocked = drop or self.cut(message) or target in self.crashed
                self.say(f"  {describe(message)}{' DROPPED' if blocked and not drop else ''}")
                if not blocked:
                    self.nodes[target].engine.step(message)
        return bool(chosen)

    def stabilize(self, args: list[str], options: dict[str, str]) -> None:
        targets = self.ids(args)
        for _ in range(STABILIZE_ROUNDS_MAX):
            progressed = False
            for node_id in targets:
                progressed |= self.handle_ready(node_id)
            progressed |= self.deliver(targets)
            if not progressed:
                return
        raise AssertionError("stabilize did not converge")

    def cut(self, message: RaftMessage) -> bool:
        if not self.partition:
            return False
        side = next((group for group in self.partition if message.source in group), None)
        return side is None or message.target not in side

    def set_partition(self, args: list[str], options: dict[str, str]) -> None:
        self.partition = [parse_ids(group) for group in args]
        self.say("partition " + " | ".join(",".join(map(str, sorted(g))) for g in self.partition))

    def heal(self, args: list[str], options: dict[str, str]) -> None:
        self.partition = []
        self.say("healed")

    def crash(self, args: list[str], options: dict[str, str]) -> None:
        node_id = NodeId(int(args[0]))
        self.crashed.add(node_id)
        self.say(f"crashed {node_id}: everything not persisted is lost")

    def restart(self, args: list[str], options: dict[str, str]) -> None:
        node_id = NodeId(int(args[0]))
        self.crashed.discard(node_id)
        old = self.nodes[node_id]
        engine = RaftEngine(node_id, old.storage, old.config, ZeroRng())
        applied = decode_state(old.storage.snapshot().data)  # the state machine restarts too
        self.nodes[node_id] = Node(engine, old.storage, old.config, applied)
        hard = old.storage.hard_state
        self.say(f"restarted {node_id}: term={hard.term} vote={hard.vote} commit={hard.commit}")
        self.drop_mail_to(node_id)

    def drop_mail_to(self, node_id: NodeId) -> None:
        """A node that was down received nothing: what was sent to it is lost, not late."""
        lost = [message for message in self.mailbox if message.target == node_id]
        self.mailbox = [message for message in self.mailbox if message.target != node_id]
        for message in lost:
            self.say(f"  lost while down: {describe(message)}")

    def wipe(self, args: list[str], options: dict[str, str]) -> None:
        """The node loses its disk: it comes back with empty storage, like a new node."""
        node_id = NodeId(int(args[0]))
        old = self.nodes[node_id]
        storage = MemoryStorage()
        engine = RaftEngine(node_id, storage, old.config, ZeroRng())
        self.nodes[node_id] = Node(engine, storage, old.config)
        self.crashed.discard(node_id)
        self.say(f"wiped {node_id}: restarted with empty storage")
        self.drop_mail_to(node_id)

    # -- inspection -----------------------------------------------------------------------------

    def status(self, args: list[str], options: dict[str, str]) -> None:
        engine = self.node(args[0]).engine
        self.say(state_line(engine))
        for peer in sorted(engine.membership.members):
            progress = engine.progress(peer)
            if progress is None or peer == engine.node_id:
                continue
            learner = " learner" if progress.is_learner else ""
            self.say(
                f"  {peer}: {progress.state.value} match={progress.match} next={progress.next}"
                f" inflight={len(progress.inflights)}{learner}"
            )

    def raft_log(self, args: list[str], options: dict[str, str]) -> None:
        node = self.node(args[0])
        snapshot = node.storage.snapshot().meta
        if snapshot.index:
            self.say(f"snapshot {snapshot.term}/{snapshot.index}")
        entries = node.storage.all_entries()
        if not entries:
            self.say("log is empty")
        for entry in entries:
            self.say(describe_entry(entry))

    def show_applied(self, args: list[str], options: dict[str, str]) -> None:
        commands = [text for _, text in self.node(args[0]).applied]
        self.say(f"applied {len(commands)}: {' '.join(commands)}" if commands else "applied 0")

    def raft_state(self, args: list[str], options: dict[str, str]) -> None:
        for node_id in sorted(self.nodes):
            if node_id in self.crashed:
                self.say(f"{node_id}: crashed")
            else:
                self.say(state_line(self.nodes[node_id].engine))


def state_line(engine: RaftEngine) -> str:
    voters = ",".join(str(v) for v in sorted(engine.membership.voters))
    learners = ",".join(str(v) for v in sorted(engine.membership.learners))
    return (
        f"{engine.node_id}: {engine.role.value} term={engine.term} leader={engine.leader}"
        f" commit={engine.commit_index} applied={engine.applied_index}"
        f" voters={voters}" + (f" learners={learners}" if learners else "")
    )


def persist(node: Node, ready: Ready) -> None:
    if ready.snapshot is not None:
        node.storage.apply_snapshot(ready.snapshot)
        node.applied = decode_state(ready.snapshot.data)
    if ready.entries:
        node.storage.append(ready.entries)
    if ready.hard_state is not None:
        node.storage.set_hard_state(ready.hard_state)
    if ready.compaction is not None:
        node.storage.compact(ready.compaction)


def describe_ready(ready: Ready) -> list[str]:
    lines: list[str] = []
    if ready.soft_state is not None:
        soft = ready.soft_state
        lines.append(f"role={soft.role.value} leader={soft.leader}")
    if ready.hard_state is not None:
        hard = ready.hard_state
        lines.append(f"hard state: term={hard.term} vote={hard.vote} commit={hard.commit}")
    if ready.snapshot is not None:
        meta = ready.snapshot.meta
        lines.append(f"install snapshot {meta.term}/{meta.index}")
    if ready.compaction is not None:
        meta = ready.compaction.meta
        lines.append(f"save snapshot {meta.term}/{meta.index}, compact log")
    lines.extend(f"append {describe_entry(entry)}" for entry in ready.entries)
    lines.extend(f"apply {describe_entry(entry)}" for entry in ready.committed_entries)
    lines.extend(f"send early {describe(m)}" for m in ready.early_messages)  # type: ignore[arg-type]
    lines.extend(f"send {describe(m)}" for m in ready.messages)  # type: ignore[arg-type]
    for state in ready.read_states:
        lines.append(f"read {state.request_id.decode()} at index {state.index}")
    lines.extend(f"read refused {request.decode()}" for request in ready.refused_reads)
    return lines


def encode_state(applied: list[tuple[LogIndex, str]], index: LogIndex) -> bytes:
    """The state machine as of ``index``, as snapshot data: ``index:command`` joined by ';'."""
    return ";".join(f"{at}:{text}" for at, text in applied if at <= index).encode()


def decode_state(data: bytes) -> list[tuple[LogIndex, str]]:
    pairs = (item.split(":", 1) for item in data.decode().split(";") if item)
    return [(LogIndex(int(at)), text) for at, text in pairs]


def applied_form(entry: Entry) -> str:
    """How the state machine records an entry: one word, no ';' (snapshots join with it)."""
    return "-".join(describe_entry(entry).split()[1:]).replace(";", ",")


def describe_error(error: Exception) -> str:
    """The error's text, plus the leader hint a refused proposal carries (0: none known)."""
    if isinstance(error, ProposalDropped) and error.leader is not None:
        return f"{error} (leader hint {error.leader})"
    return str(error)


def parse_ids(text: str) -> frozenset[NodeId]:
    return frozenset(NodeId(int(word)) for word in text.split(",") if word)


# -- script files -----------------------------------------------------------------------------


def parse_script(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.split("\n")
    position = 0
    comments: list[str] = []
    while position < len(lines):
        line = lines[position]
        if line.startswith("#"):
            comments.append(line)
        if not line.strip() or line.startswith("#"):
            position += 1
            continue
        start = position + 1
        if position + 1 >= len(lines) or lines[position + 1] != "----":
            raise ValueError(f"line {start}: expected '----' after the command")
        position += 2
        expected: list[str] = []
        while position < len(lines) and lines[position] != "":
            expected.append(lines[position])
            position += 1
        text_expected = "\n".join(expected) + ("\n" if expected else "")
        blocks.append(Block(start, line, text_expected, comments))
        comments = []
    return blocks


def run_script(path: Path) -> None:
    text = path.read_text()
    harness = Harness()
    rewrite = os.environ.get("SYNOD_REWRITE") == "1"
    rendered: list[str] = []
    for block in parse_script(text):
        actual = harness.run(block.command)
        if rewrite:
            preamble = "".join(f"{comment}\n" for comment in block.comments)
            rendered.append(f"{preamble}{block.command}\n----\n{actual}")
            continue
        assert actual == block.expected, (
            f"{path.name}:{block.line}: {block.command}\n"
            f"--- expected ---\n{block.expected}--- actual ---\n{actual}"
            f"(rerun with SYNOD_REWRITE=1 to accept the actual output, then review the diff)"
        )
    if rewrite:
        path.write_text("\n".join(rendered))
