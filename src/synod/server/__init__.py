"""The node runtime: one asyncio loop driving a replica over real disks, sockets and clocks.

Rules: asyncio, sockets and the wall clock are allowed here and not below; this package may
import ``replica`` and the layers under it, never ``sim`` (its sibling) or ``api``/``cli``.
Randomness still arrives through an injected RNG so that backoff schedules can be replayed.

Modules so far: ``transport`` (peer messages over TCP: handshake, bounded queues, reconnects,
chunked large messages; it takes an engine's codec and imports no engine), ``peer_link`` (its
dialing side), ``frames`` (the frame layout, no I/O), ``connection`` (frame reads),
``transport_config`` (limits and counters), ``transport_bench`` (a loopback micro-benchmark).
"""
