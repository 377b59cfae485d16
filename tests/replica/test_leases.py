"""The leader's lease clock: deadlines in ticks, renewal, promotion, and expiry proposals."""

from __future__ import annotations

import pytest

from synod.core.errors import ConfigError
from synod.kv.commands import LeaseExpireRequest, decode
from synod.replica.leases import LeaseClock, LeaseClockConfig, expire_command


def _run(clock: LeaseClock, ticks: int) -> list[tuple[int, int]]:
    """(tick, lease) for every expiry the clock reports over ``ticks`` ticks."""
    return [(clock.now_ticks, lease) for _ in range(ticks) for lease in clock.tick()]


def test_ttl_in_ticks_rounds_up_and_is_at_least_one():
    clock = LeaseClock(LeaseClockConfig(tick_seconds=0.1))
    assert clock.ttl_ticks(5) == 50
    assert LeaseClock(LeaseClockConfig(tick_seconds=3.0)).ttl_ticks(5) == 2
    assert LeaseClock(LeaseClockConfig(tick_seconds=10.0)).ttl_ticks(0) == 1


def test_a_lease_expires_after_its_ttl_once_and_is_not_proposed_again_while_in_flight():
    clock = LeaseClock(LeaseClockConfig(tick_seconds=1.0, expire_retry_ticks=5))
    clock.promote({7: 3})
    assert clock.deadline(7) == 3
    # However long the expiry waits in the log (a slow quorum), it is proposed once.
    assert _run(clock, 100) == [(3, 7)]
    clock.sync({})  # it applied: the lease left the keyspace
    assert clock.deadline(7) is None
    assert _run(clock, 10) == []


def test_a_refused_expiry_is_proposed_again_after_the_retry_delay():
    clock = LeaseClock(LeaseClockConfig(tick_seconds=1.0, expire_retry_ticks=5))
    clock.promote({7: 3, 8: 30})
    assert _run(clock, 3) == [(3, 7)]
    clock.refused(7)
    clock.refused(8)  # not in flight: nothing to retry, its deadline stands
    assert clock.deadline(8) == 30
    assert _run(clock, 10) == [(8, 7)]
    clock.refused(99)  # unknown leases are ignored


def test_an_expired_lease_cannot_be_renewed_while_its_expiry_is_in_flight():
    clock = LeaseClock(LeaseClockConfig(tick_seconds=1.0))
    clock.promote({1: 2})
    assert _run(clock, 2) == [(2, 1)]
    assert clock.keep_alive(1) == 0
    assert clock.remaining_seconds(1, 2) == 0
    assert _run(clock, 5) == []


def test_a_new_leader_gives_a_lease_whose_expiry_was_lost_a_full_ttl():
    clock = LeaseClock(LeaseClockConfig(tick_seconds=1.0))
    clock.promote({1: 2})
    assert _run(clock, 2) == [(2, 1)]
    clock.step_down()  # the proposal is lost with the leadership
    clock.promote({1: 2})
    assert clock.keep_alive(1) == 2
    assert _run(clock, 2) == [(4, 1)]


def test_keep_alive_renews_to_a_full_ttl():
    clock = LeaseClock(LeaseClockConfig(tick_seconds=1.0))
    clock.promote({1: 4})
    _run(clock, 3)
    assert clock.keep_alive(1) == 4
    assert clock.deadline(1) == 7
    assert _run(clock, 3) == []
    assert _run(clock, 1) == [(7, 1)]
    assert clock.keep_alive(99) is None


def test_followers_keep_no_deadlines_and_answer_no_keep_alive():
    clock = LeaseClock(LeaseClockConfig(tick_seconds=1.0))
    clock.sync({1: 2})
    assert len(clock) == 0
    assert clock.keep_alive(1) is None
    assert _run(clock, 5) == []
    clock.promote({1: 2})
    clock.step_down()
    assert len(clock) == 0
    assert clock.deadline(1) is None
    assert _run(clock, 5) == []


def test_promotion_gives_every_lease_a_full_ttl_from_now():
    clock = LeaseClock(LeaseClockConfig(tick_seconds=1.0))
    clock.promote({1: 3, 2: 10})
    _run(clock, 2)
    clock.step_down()
    _run(clock, 20)  # long enough that lease 1 would have expired under the old deadline
    clock.promote({1: 3, 2: 10})
    assert clock.deadline(1) == 25
    assert clock.deadline(2) == 32


def test_sync_adds_new_leases_with_a_full_ttl_and_drops_gone_ones():
    clock = LeaseClock(LeaseClockConfig(tick_seconds=1.0))
    clock.promote({1: 5})
    _run(clock, 2)
    clock.sync({1: 5, 2: 4})
    assert clock.deadline(1) == 5  # unchanged
    assert clock.deadline(2) == 6
    clock.sync({2: 4})
    assert clock.deadline(1) is None
    assert _run(clock, 4) == [(6, 2)]


def test_the_expiry_command_decodes_to_a_lease_expire():
    assert decode(expire_command(42)) == LeaseExpireRequest(42)


@pytest.mark.parametrize(
    "config", [{"tick_seconds": 0.0}, {"tick_seconds": -1.0}, {"expire_retry_ticks": 0}]
)
def test_config_is_validated(config):
    with pytest.raises(ConfigError):
        LeaseClockConfig(**config)
