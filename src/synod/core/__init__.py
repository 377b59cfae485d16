"""The vocabulary every layer shares: ids, log entries, the engine contract, limits, errors.

Rules: pure. No I/O, no clock, no global randomness, no imports from other synod packages.
Everything here is immutable (frozen, slotted dataclasses) so values can cross layers safely.
"""
