"""The rotation state machine, with explicit clocks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import ProviderRotation, WaitUntil


def test_current_starts_at_first_provider() -> None:
    """A fresh rotation stands on the first configured provider."""
    assert ProviderRotation.of(["a", "b", "c"]).current(now=0) == "a"


def test_advance_wraps_around() -> None:
    """advance goes a -> b -> c -> a."""
    rotation = ProviderRotation.of(["a", "b", "c"])
    seen = []
    for _ in range(4):
        assert rotation.advance() is True
        seen.append(rotation.current(now=0))
    assert seen == ["b", "c", "a", "b"]


@pytest.mark.parametrize("providers", [[], ["only"]])
def test_advance_reports_nowhere_to_go(providers: list[str]) -> None:
    """With zero or one provider, advance is a no-op returning False."""
    rotation = ProviderRotation.of(providers)
    assert rotation.advance() is False
    assert rotation.current(now=0) == (providers[0] if providers else None)


def test_fallback_mode_is_harmless() -> None:
    """No providers: every query answers None and select has nothing to offer."""
    rotation = ProviderRotation.of([])
    assert rotation.current(now=0) is None
    assert rotation.select(now=0) is None
    rotation.reset()
    assert rotation.expire_cooldowns(now=0) == []


def test_cooldown_skips_and_recovery_returns() -> None:
    """A cooled-down provider is skipped until its cooldown ends, then current again."""
    rotation = ProviderRotation.of(["a", "b"])
    rotation.cool_down("a", until=100)
    assert rotation.current(now=50) == "b"
    assert rotation.select(now=50) == "b"
    assert rotation.current(now=100) == "a"
    assert rotation.expire_cooldowns(now=100) == ["a"]
    assert rotation.cooldown_until == {}


def test_cooldown_keeps_the_later_end() -> None:
    """Two limits on one provider keep the later cooldown end."""
    rotation = ProviderRotation.of(["a"])
    rotation.cool_down("a", until=100)
    rotation.cool_down("a", until=50)
    assert rotation.cooldown_until["a"] == 100


def test_all_cooling_returns_earliest_wait() -> None:
    """When every candidate cools, select says which comes back first and when."""
    rotation = ProviderRotation.of(["a", "b", "c"])
    rotation.cool_down("a", until=30)
    rotation.cool_down("b", until=10)
    assert rotation.select(now=0, exclude={"c"}) == WaitUntil(10, "b")
    assert rotation.current(now=0) == "c"


def test_select_skips_tried_providers() -> None:
    """A job's already-tried providers are never offered again; none left gives None."""
    rotation = ProviderRotation.of(["a", "b"])
    assert rotation.select(now=0, exclude={"a"}) == "b"
    assert rotation.select(now=0, exclude={"a", "b"}) is None


def test_select_starts_at_the_pointer() -> None:
    """After a manual advance, selection starts there and wraps."""
    rotation = ProviderRotation.of(["a", "b", "c"])
    rotation.advance()
    rotation.advance()
    assert rotation.select(now=0) == "c"
    assert rotation.select(now=0, exclude={"c"}) == "a"


def test_reset_lifts_cooldowns_and_returns_to_first() -> None:
    """reset goes back to the first provider with every cooldown lifted."""
    rotation = ProviderRotation.of(["a", "b"])
    rotation.advance()
    rotation.cool_down("a", until=100)
    rotation.reset()
    assert rotation.current(now=0) == "a"
    assert rotation.cooldown_until == {}


def test_counters_and_last_used() -> None:
    """Successes, failures and the last used provider are tracked per provider."""
    rotation = ProviderRotation.of(["a", "b"])
    rotation.record_success("a")
    rotation.record_success("a")
    rotation.record_failure("b")
    rotation.mark_used("b")
    assert rotation.successes == {"a": 2}
    assert rotation.failures == {"b": 1}
    assert rotation.last_used == "b"


def test_unknown_provider_is_refused() -> None:
    """State for a provider outside the rotation is a programming error, loudly."""
    rotation = ProviderRotation.of(["a"])
    with pytest.raises(ValueError, match="unknown provider 'z'"):
        rotation.cool_down("z", until=1)


names = st.lists(st.sampled_from("abcdef"), min_size=1, max_size=6, unique=True)


@given(
    providers=names,
    cooldowns=st.dictionaries(st.sampled_from("abcdef"), st.floats(0, 100)),
    exclude=st.sets(st.sampled_from("abcdef")),
    advances=st.integers(0, 10),
    now=st.floats(0, 100),
)
def test_select_never_offers_cooling_or_excluded(
    providers: list[str],
    cooldowns: dict[str, float],
    exclude: set[str],
    advances: int,
    now: float,
) -> None:
    """Whatever the state, select offers a usable provider, a correct wait, or None."""
    rotation = ProviderRotation.of(providers)
    for _ in range(advances):
        rotation.advance()
    for name, until in cooldowns.items():
        if name in providers:
            rotation.cool_down(name, until)
    choice = rotation.select(now, exclude)
    candidates = [p for p in providers if p not in exclude]
    usable = [p for p in candidates if not rotation.is_cooling(p, now)]
    if isinstance(choice, str):
        assert choice in usable
    elif isinstance(choice, WaitUntil):
        assert not usable
        assert choice.when == min(rotation.cooldown_until[p] for p in candidates)
        assert choice.when > now
    else:
        assert candidates == []


@given(providers=names, steps=st.integers(0, 20))
def test_advance_visits_providers_in_configured_order(providers: list[str], steps: int) -> None:
    """advance n times lands on provider n mod count: the configured order, cyclically."""
    rotation = ProviderRotation.of(providers)
    for _ in range(steps):
        rotation.advance()
    expected = providers[steps % len(providers)] if len(providers) > 1 else providers[0]
    assert rotation.current(now=0) == expected


def test_new_jobs_pass_over_a_provider_near_its_limit() -> None:
    """A provider at or above the threshold is skipped while another has room, in order."""
    from orchestrator.limits import Headroom

    rotation = ProviderRotation.of(["a", "b", "c"])
    rotation.record_headroom("a", Headroom(0.95, 100.0, 0.0))
    rotation.record_headroom("b", Headroom(0.50, 100.0, 0.0))
    assert rotation.select(10.0, near_limit=0.9) == "b"
    assert rotation.current(10.0, near_limit=0.9) == "b"
    assert rotation.select(10.0, near_limit=0.99) == "a"  # not near by this threshold
    assert rotation.select(100.0, near_limit=0.9) == "a"  # its window has reset


def test_a_provider_near_its_limit_is_still_used_when_none_has_room() -> None:
    """Near the limit beats cooling: the job still runs."""
    from orchestrator.limits import Headroom

    rotation = ProviderRotation.of(["a", "b"])
    rotation.record_headroom("a", Headroom(0.95, 100.0, 0.0))
    rotation.cool_down("b", 50.0)
    assert rotation.select(10.0, near_limit=0.9) == "a"
    rotation.record_headroom("a", Headroom(0.2, 100.0, -1.0))  # an older reading is ignored
    assert rotation.headroom["a"].utilization == 0.95


def test_rotate_past_moves_beyond_the_provider_in_use() -> None:
    """A manual rotate while the pointer's provider cools: past the one jobs start on."""
    rotation = ProviderRotation.of(["a", "b", "c"])
    rotation.cool_down("a", until=100)
    assert rotation.current(now=0) == "b"
    assert rotation.rotate_past("b") is True
    assert rotation.current(now=0) == "c"
    assert rotation.rotate_past("c") is True  # wraps to a, which still cools: b
    assert rotation.current(now=0) == "b"
    assert rotation.rotate_past("not-there") is True  # unknown: a plain advance
    assert ProviderRotation.of(["only"]).rotate_past("only") is False
