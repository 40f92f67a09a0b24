"""Who is paged for an alert: a pure function of the people and the alert's region."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from storage.records import Person


@dataclass(frozen=True)
class Route:
    recipients: tuple[Person, ...]
    urgent: bool  # nobody is on call: everyone is paged and told it is urgent


def first_wave(people: Iterable[Person], region: str | None, now: float) -> Route:
    """On-call lawyers of the region; else every on-call lawyer; else all lawyers and
    coordinators, marked urgent."""
    everyone = [p for p in people if p.registered]
    on_call = [p for p in everyone if p.role == "lawyer" and is_on_call(p, now)]
    local = [p for p in on_call if region is not None and region in p.serves_regions]
    if local:
        return Route(tuple(local), urgent=False)
    if on_call:
        return Route(tuple(on_call), urgent=False)
    fallback = [p for p in everyone if p.role in ("lawyer", "coordinator")]
    return Route(tuple(fallback), urgent=True)


def escalation_wave(people: Iterable[Person], now: float,
                    exclude: Collection[int] = ()) -> tuple[Person, ...]:
    """Wave 2 and later: every on-call lawyer in every region and every coordinator (and,
    when nobody is on call, every lawyer: an alert must never page an empty list).
    ``exclude``: the alert's reporter (a person in danger is never their own responder) and
    those who said they cannot take it."""
    everyone = [p for p in people if p.registered and p.user_id not in exclude]
    on_call = [p for p in everyone if p.role == "lawyer" and is_on_call(p, now)]
    lawyers = on_call or [p for p in everyone if p.role == "lawyer"]
    coordinators = [p for p in everyone if p.role == "coordinator"]
    return tuple(lawyers + coordinators)


def is_on_call(person: Person, now: float) -> bool:
    return person.on_call and (person.on_call_until is None or person.on_call_until > now)
