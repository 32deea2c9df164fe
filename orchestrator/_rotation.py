"""Rotation state of one backend's providers, as a pure state machine.

No clock is read here: every method that depends on time takes ``now``, so
the same logic serves the library, the worker, a state file or Redis, and is
tested with arbitrary clocks.

Two things decide which provider is *current*:

* ``current_index``, the pointer the spec's manual calls move
  (``advance_to_next_provider`` / ``reset_provider_rotation``);
* cooldowns: a provider that hit its usage limit is skipped until its
  ``cooldown_until``. Skipping does not move the pointer, so when the cooldown
  ends the rotation is back on the provider it left (the configured first one,
  unless someone advanced manually).

Headroom readings (``limits.Headroom``) steer new jobs before the wall: a
provider whose latest reading is at or above the backend's
``rotate_at_utilization`` is passed over while another provider, in rotation
order, has room; it is still used when none has.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from .limits import Headroom


@dataclass(frozen=True)
class WaitUntil:
    """No provider is usable now; the earliest one comes back at ``when``."""

    when: float
    provider: str


@dataclass
class ProviderRotation:
    """The providers of one backend in rotation order, and where the rotation stands."""

    providers: tuple[str, ...]
    current_index: int = 0
    last_used: str | None = None
    cooldown_until: dict[str, float] = field(default_factory=dict)
    successes: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    headroom: dict[str, Headroom] = field(default_factory=dict)
    #: Providers out until their configuration changes (a 401): provider -> the
    #: fingerprint of the settings that were refused (``ProviderConfig.fingerprint``).
    suspended: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, providers: Sequence[str]) -> ProviderRotation:
        return cls(providers=tuple(providers))

    def current(
        self, now: float, near_limit: float = 1.0, exclude: Collection[str] = ()
    ) -> str | None:
        """The provider a new job starts on: the pointer's, or the next one not cooling
        (nor excluded, e.g. suspended) and, below ``near_limit`` utilization, with headroom.

        When every provider is cooling, the pointer's provider is returned:
        it is still the one the rotation stands on.
        """
        if not self.providers:
            return None
        choice = self.select(now, exclude=exclude, near_limit=near_limit)
        return choice if isinstance(choice, str) else self.providers[self.current_index]

    def advance(self) -> bool:
        """Move the pointer to the next provider, wrapping around.

        Returns:
            True when the current provider changed; False in fallback mode
            (no providers) and with a single provider, where there is nowhere
            to go (a caller looping "until advance fails" cannot spin forever).
        """
        if len(self.providers) < 2:
            return False
        self.current_index = (self.current_index + 1) % len(self.providers)
        return True

    def rotate_past(self, provider: str | None) -> bool:
        """Point at the provider after ``provider`` (the one in use); without it, or for
        one not in the list, :meth:`advance`."""
        if provider not in self.providers or len(self.providers) < 2:
            return self.advance()
        self.current_index = (self.providers.index(provider) + 1) % len(self.providers)
        return True

    def reset(self) -> None:
        """Back to the first provider, with every cooldown and suspension lifted."""
        self.current_index = 0
        self.cooldown_until.clear()
        self.suspended.clear()

    def suspend(self, provider: str, fingerprint: str) -> None:
        """Keep ``provider`` out while its settings still have ``fingerprint``."""
        self._require(provider)
        self.suspended[provider] = fingerprint

    def suspended_now(self, fingerprints: dict[str, str]) -> set[str]:
        """Providers suspended with the settings they still have (``{provider: fingerprint}``)."""
        return {
            name for name, refused in self.suspended.items() if fingerprints.get(name) == refused
        }

    def mark_used(self, provider: str) -> None:
        self._require(provider)
        self.last_used = provider

    def record_success(self, provider: str) -> None:
        self._require(provider)
        self.successes[provider] = self.successes.get(provider, 0) + 1

    def record_failure(self, provider: str) -> None:
        self._require(provider)
        self.failures[provider] = self.failures.get(provider, 0) + 1

    def succeeded(self, provider: str, *, advance: bool) -> None:
        """A job succeeded on ``provider``: counted, marked used, and with ``advance``
        the pointer moves on (what every rotation store records)."""
        self.record_success(provider)
        self.mark_used(provider)
        if advance:
            self.advance()

    def failed(self, provider: str, cooldown_until: float | None) -> None:
        """An attempt failed on ``provider``: counted, and cooled down until
        ``cooldown_until`` when one is given."""
        self.record_failure(provider)
        if cooldown_until is not None:
            self.cool_down(provider, cooldown_until)

    def cool_down(self, provider: str, until: float) -> None:
        """Skip ``provider`` until ``until``; an existing later end is kept."""
        self._require(provider)
        self.cooldown_until[provider] = max(until, self.cooldown_until.get(provider, until))

    def is_cooling(self, provider: str, now: float) -> bool:
        return self.cooldown_until.get(provider, now) > now

    def expire_cooldowns(self, now: float) -> list[str]:
        """Forget cooldowns that have ended; returns the providers that recovered."""
        recovered = [name for name, until in self.cooldown_until.items() if until <= now]
        for name in recovered:
            del self.cooldown_until[name]
        return recovered

    def select(
        self, now: float, exclude: Collection[str] = (), near_limit: float = 1.0
    ) -> str | WaitUntil | None:
        """The provider a job should try next.

        Args:
            now: the current time on the clock cooldowns were set with.
            exclude: providers this job has already tried.
            near_limit: utilization from which a provider is passed over
                while another has headroom (1.0: only spent ones).

        Returns:
            A provider name; or WaitUntil when every provider not excluded is
            cooling (the caller decides whether to wait or fall back); or None
            when every provider is excluded (or there are none).
        """
        waiting: WaitUntil | None = None
        crowded: str | None = None
        for name in self._from_pointer():
            if name in exclude:
                continue
            until = self.cooldown_until.get(name, now)
            if until > now:
                if waiting is None or until < waiting.when:
                    waiting = WaitUntil(until, name)
            elif not self.is_near_limit(name, near_limit, now):
                return name
            elif crowded is None:
                crowded = name
        return crowded if crowded is not None else waiting

    def is_near_limit(self, provider: str, threshold: float, now: float) -> bool:
        reading = self.headroom.get(provider)
        return reading is not None and reading.is_near_limit(threshold, now)

    def record_headroom(self, provider: str, reading: Headroom) -> None:
        """Keep ``reading`` unless a later one is already kept."""
        self._require(provider)
        kept = self.headroom.get(provider)
        if kept is None or kept.seen_at <= reading.seen_at:
            self.headroom[provider] = reading

    def _from_pointer(self) -> list[str]:
        start = self.current_index % len(self.providers) if self.providers else 0
        return [*self.providers[start:], *self.providers[:start]]

    def _require(self, provider: str) -> None:
        if provider not in self.providers:
            raise ValueError(f"unknown provider {provider!r} (rotation: {list(self.providers)})")
