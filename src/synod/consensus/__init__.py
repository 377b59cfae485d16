"""Consensus engines, sans-IO: messages and ticks in, a ``Ready`` of effects out.

Rules: import only ``synod.core`` and the standard library's pure parts. No asyncio, sockets,
threads, files, clocks or global randomness (import-linter enforces it). Randomness arrives
through an injected ``Rng``; the durable log through a read-only ``LogStorage``.
"""
