"""One chaos run: start (or attach to) a cluster, run a workload under faults, heal, check.

Phases, every one bounded in time: start the members behind their proxies and wait until each
serves; set up the workload; for ``time_s`` seconds run the workers (``clients_per_node`` per
member, each bound to its member) beside the nemesis and the leader watch; heal every fault and
wait until every member serves a write and a read (``recover_s``); read every register key (or
the bank) once more through every member; stop everything; check the history and write the
report. The cluster's processes and proxies are stopped on every way out, Ctrl-C included.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from synod.chaos.checks import (
    Check,
    check_appends,
    check_bank,
    check_crashes,
    check_disk,
    check_recovery,
    check_registers,
)
from synod.chaos.client import EtcdClient
from synod.chaos.cluster import ChaosCluster, ClusterError
from synod.chaos.fabric import NETS, choose
from synod.chaos.history import History
from synod.chaos.nemesis import DEFAULT_KINDS, KINDS, Nemesis, Window
from synod.chaos.watch import WATCH_PREFIX, WatchRun
from synod.chaos.workloads import (
    ACCOUNTS,
    APPEND_PREFIX,
    FAILURES,
    REGISTER_PREFIX,
    TOTAL,
    KeyPool,
    Worker,
    bank_read,
    bank_setup,
    run_worker,
)
from synod.cli.localcluster import START_SECONDS_MAX

WORKLOADS = ("register", "bank", "append", "watch")
TARGETS = ("synod", "etcd")
OPS_PER_WORKER_PER_SECOND_MAX = 200
SETUP_TRIES = 20
PROBE_KEY = "chaos/probe"
FINAL_PROCESS = 10_000
"""Process numbers of the final reads: past any worker's."""


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    out: Path
    nodes: int = 5
    time_s: float = 60.0
    nemesis: tuple[str, ...] = DEFAULT_KINDS
    workload: str = "register"
    seed: int = 1
    target: str = "synod"
    endpoints: tuple[str, ...] = ()
    engine: str = "raft"
    server_command: tuple[str, ...] = ()
    clients_per_node: int = 2
    call_s: float = 2.0
    check_budget_s: float = 60.0
    recover_s: float = 30.0
    net: str = "auto"
    """The members' network: ``netns``, ``proxy`` or ``auto`` (``synod.chaos.fabric``)."""

    def validate(self) -> None:
        if self.workload not in WORKLOADS:
            raise ValueError(f"--workload must be one of {', '.join(WORKLOADS)}")
        unknown = [kind for kind in self.nemesis if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown nemesis {unknown[0]!r}; known: {', '.join(KINDS)}")
        if self.endpoints and self.nemesis:
            raise ValueError(
                "--endpoints: faults need a cluster the runner started; pass --nemesis none"
            )
        if self.target not in TARGETS:
            raise ValueError(f"--target must be one of {', '.join(TARGETS)}")
        if not self.endpoints and not 1 <= self.nodes <= 7:
            raise ValueError("--nodes must be between 1 and 7")
        if "member" in self.nemesis and self.nodes < 3:
            raise ValueError("the member nemesis needs at least 3 nodes")
        if self.net not in NETS:
            raise ValueError(f"--net must be one of {', '.join(NETS)}")
        if self.time_s <= 0 or self.clients_per_node < 1:
            raise ValueError("--time and --clients must be positive")


@dataclass(slots=True)
class RunResult:
    config: ChaosConfig
    history: History
    checks: list[Check] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    leader_changes: list[tuple[int, str]] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0
    network: tuple[str, str] = ("", "")
    """The members' network fabric and why it was chosen; empty when attached to endpoints."""

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(check.verdict == "valid" for check in self.checks)


class _Clients:
    """Who each worker talks to: a started cluster's members, or the given endpoints."""

    def __init__(self, config: ChaosConfig, cluster: ChaosCluster | None) -> None:
        self.cluster = cluster
        self.attached = [EtcdClient(e, config.call_s) for e in config.endpoints]
        if cluster is not None:
            self.names = [m.name for m in cluster.members]
        else:
            self.names = [f"e{i + 1}" for i in range(len(self.attached))]

    def client(self, name: str) -> EtcdClient:
        if self.cluster is not None:
            return self.cluster.client(self.cluster.member(name))
        return self.attached[self.names.index(name)]

    def for_worker(self, number: int) -> tuple[EtcdClient, str]:
        name = self.names[number % len(self.names)]
        return self.client(name), name

    async def close(self) -> None:
        for client in self.attached:
            with contextlib.suppress(Exception):
                await client.close()


def resolve_network(config: ChaosConfig) -> tuple[str, str]:
    """The fabric ``--net`` means here and why (FabricError if ``netns`` cannot run); none
    when attached to endpoints."""
    if config.endpoints:
        return "", ""
    return choose(config.net, need_delay="delay" in config.nemesis)


async def _start(cluster: ChaosCluster) -> None:
    await cluster.start_network()
    cluster.base_dir.mkdir(parents=True, exist_ok=True)
    for member in cluster.members:
        cluster.start_member(member)
    for member in cluster.members:
        await asyncio.to_thread(cluster.wait_serving, member, START_SECONDS_MAX)
    await cluster.learn_ids()


async def _setup(config: ChaosConfig, clients: _Clients) -> None:
    if config.workload != "bank":
        return
    for _ in range(SETUP_TRIES):
        try:
            await bank_setup(clients.client(clients.names[0]))
        except FAILURES:
            await asyncio.sleep(0.5)
            continue
        return
    raise ClusterError("could not set up the bank accounts")


async def _recover(clients: _Clients, config: ChaosConfig) -> tuple[list[str], float]:
    """Until every member serves a write and a linearizable read; what still failed."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + config.recover_s
    names = clients.names
    if clients.cluster is not None:
        names = [m.name for m in clients.cluster.in_cluster()]
    failing: dict[str, str] = {name: "never tried" for name in names}
    while failing and loop.time() < deadline:
        for name in list(failing):
            client = clients.client(name)
            try:
                await client.put(PROBE_KEY, name)
                await client.get(PROBE_KEY)
            except FAILURES as error:
                failing[name] = type(error).__name__
                continue
            del failing[name]
        if failing:
            await asyncio.sleep(0.5)
    problems = [
        f"{name} did not serve within {config.recover_s:.0f} s ({why})"
        for name, why in failing.items()
    ]
    return problems, loop.time() - started


async def _final_reads(
    config: ChaosConfig, clients: _Clients, history: History, pool: KeyPool, first_process: int
) -> None:
    """One more read of everything through every member, after healing."""
    process = first_process
    for name in clients.names:
        client = clients.client(name)
        if config.workload == "bank":
            worker = Worker(process, 1, _fixed(client, name), history)
            await bank_read(worker)
        else:
            for key in pool.used_keys():
                await _final_read(
                    config.workload, client, history, process=process, name=name, key=key
                )
        process += 1


async def _final_read(
    workload: str, client: EtcdClient, history: History, *, process: int, name: str, key: int
) -> None:
    if workload == "append":
        history.add("invoke", "get", None, process, name, key=str(key))
        try:
            found = await client.get(f"{APPEND_PREFIX}{key}")
        except FAILURES:
            history.add("fail", "get", None, process, name, key=str(key))
            return
        history.add("ok", "get", found or "", process, name, key=str(key))
        return
    history.add("invoke", "read", [key, None], process, name)
    try:
        found = await client.get(f"{REGISTER_PREFIX}{key}")
    except FAILURES:
        history.add("fail", "read", [key, None], process, name)
        return
    history.add("ok", "read", [key, None if found is None else int(found)], process, name)


def _fixed(client: EtcdClient, name: str) -> Callable[[int], tuple[EtcdClient, str]]:
    def client_for(_number: int) -> tuple[EtcdClient, str]:
        return client, name

    return client_for


async def _clear(config: ChaosConfig, clients: _Clients) -> None:
    """Attached to a cluster that may hold an earlier run's keys: start from none."""
    prefixes = {"register": REGISTER_PREFIX, "append": APPEND_PREFIX, "watch": WATCH_PREFIX}
    prefix = prefixes.get(config.workload, "chaos/bank/")
    client = clients.client(clients.names[0])
    from synod.api.gen.etcdserverpb import rpc_pb2  # noqa: PLC0415

    start = prefix.encode()
    end = start[:-1] + bytes([start[-1] + 1])
    await client.kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=start, range_end=end), timeout=5)


async def run_chaos(config: ChaosConfig, network: tuple[str, str] | None = None) -> RunResult:
    """The whole run; the result carries the checks (and ``interrupted`` after Ctrl-C).

    ``network``: the fabric and why, as ``resolve_network`` gave it (resolved here if None)."""
    config.validate()
    config.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    history = History()
    result = RunResult(config, history)
    result.network = network or resolve_network(config)
    rng = random.Random(config.seed)
    cluster: ChaosCluster | None = None
    if not config.endpoints:
        cluster = ChaosCluster(
            config.target,
            config.nodes,
            config.out / "cluster",
            engine=config.engine,
            server_command=config.server_command,
            net=result.network[0],
        )
    clients = _Clients(config, cluster)
    nemesis = Nemesis(cluster, history, random.Random(rng.random())) if cluster else None
    pool = KeyPool(random.Random(rng.random()))
    watchers: WatchRun | None = None
    try:
        if cluster is not None:
            await _start(cluster)
        else:
            await _clear(config, clients)
        await _setup(config, clients)
        history.started_ns = time.monotonic_ns()
        if config.workload == "watch":
            watchers = await _start_watchers(clients, history, rng)
        await _run_phase(
            config, clients=clients, nemesis=nemesis, pool=pool, rng=rng, result=result
        )
        if nemesis is not None:
            await nemesis.heal_all()
        problems, took = await _recover(clients, config)
        if cluster is not None:
            await cluster.learn_ids()
        if watchers is not None:
            result.checks.append(await watchers.finish(_first_client(clients), history))
        else:
            await _final_reads(config, clients, history, pool, FINAL_PROCESS)
        result.checks.append(check_recovery(problems, took))
    except asyncio.CancelledError:
        result.interrupted = True
    finally:
        if watchers is not None:
            await watchers.close()
        await _wrap_up(config, result, clients, cluster, nemesis)
    (config.out / "history.edn").write_text(history.to_edn(), encoding="utf-8")
    if not result.interrupted:
        result.checks[:0] = _history_checks(config, history)
    result.elapsed_s = time.monotonic() - started
    return result


async def _wrap_up(
    config: ChaosConfig,
    result: RunResult,
    clients: _Clients,
    cluster: ChaosCluster | None,
    nemesis: Nemesis | None,
) -> None:
    """Stop every process and proxy; collect what the nemesis saw and the crash check."""
    history = result.history
    if nemesis is not None:
        result.windows = nemesis.windows
        result.leader_changes = nemesis.leader_changes
    await clients.close()
    if cluster is not None:
        result.members = [m.name for m in cluster.members]
        if nemesis is not None:
            for member, code in cluster.crashed():
                nemesis.crashes.append((history.now_ns(), member.name, code))
        logs = {m.name: cluster.log(m) for m in cluster.members}
        await cluster.aclose()
        crashes = nemesis.crashes if nemesis is not None else []
        result.checks.insert(0, check_crashes(crashes, logs))
        if nemesis is not None and "disk" in config.nemesis:
            result.checks.append(check_disk(nemesis.disk_outcomes))
    else:
        result.members = clients.names


async def _start_watchers(clients: _Clients, history: History, rng: random.Random) -> WatchRun:
    _, revision = await _first_client(clients).get_prefix(WATCH_PREFIX)
    run = WatchRun([clients.for_worker(n) for n in range(len(clients.names))], revision + 1)
    run.start(history, random.Random(rng.random()))
    return run


def _first_client(clients: _Clients) -> EtcdClient:
    if clients.cluster is not None:
        return clients.cluster.client(clients.cluster.in_cluster()[0])
    return clients.client(clients.names[0])


def _history_checks(config: ChaosConfig, history: History) -> list[Check]:
    if config.workload == "watch":
        return []
    if config.workload == "bank":
        return [check_bank(history.events, accounts=ACCOUNTS, total=TOTAL)]
    if config.workload == "append":
        return [check_appends(history.to_edn(), config.check_budget_s)]
    return [check_registers(history.to_edn(), config.check_budget_s)]


async def _run_phase(
    config: ChaosConfig,
    *,
    clients: _Clients,
    nemesis: Nemesis | None,
    pool: KeyPool,
    rng: random.Random,
    result: RunResult,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.time_s
    count = len(clients.names) * config.clients_per_node
    ops_max = int(config.time_s * OPS_PER_WORKER_PER_SECOND_MAX)
    workers = [Worker(n, count, clients.for_worker, result.history) for n in range(count)]
    tasks = [
        run_worker(
            w,
            workload=config.workload,
            rng=random.Random(rng.random()),
            pool=pool,
            deadline=deadline,
            ops_max=ops_max,
        )
        for w in workers
    ]
    watch: asyncio.Task[None] | None = None
    if nemesis is not None:
        watch = asyncio.create_task(nemesis.watch(deadline + config.recover_s * 4))
        if config.nemesis:
            tasks.append(nemesis.run(list(config.nemesis), deadline))  # type: ignore[arg-type]
    try:
        await asyncio.gather(*tasks)
    finally:
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch


def parse_list(text: str, allowed: Sequence[str]) -> tuple[str, ...]:
    if text.strip() in ("", "none"):
        return ()
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    for item in items:
        if item not in allowed:
            raise ValueError(f"unknown {item!r}; known: {', '.join(allowed)}")
    return items
