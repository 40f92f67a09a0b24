"""Pure logic with an injected clock: escalation policy, routing, pacing, regions."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.delivery.pacing import BURST_PLACES, OTHER_PER_SECOND, Limits, Pacer
from bot.domain.escalation import Action, Policy, decide, first_due
from bot.domain.regions import BY_KEY, REGIONS, nearest_region
from bot.domain.routing import escalation_wave, first_wave
from storage import Alert, Person

POLICY = Policy(ack_timeout=180, repeat=300, claim_timeout=600, stale=3600)
T0 = 1_800_000_000.0


def alert(**kw: object) -> Alert:
    base = Alert(id=1, reporter_id=1, state="open", region="almaty", lat=None, lon=None,
                 accuracy_m=None, located_at=None, created_at=T0, urgent=False, wave=1,
                 acknowledged_by=None, acknowledged_at=None, claimed_by=None, claimed_at=None,
                 last_update_at=None, safe_at=None, closed_at=None, outcome=None)
    return replace(base, **kw)  # type: ignore[arg-type]


def person(uid: int, role: str = "lawyer", on_call: bool = True, regions: tuple[str, ...] = (),
           until: float | None = None, step: str = "done") -> Person:
    return Person(user_id=uid, role=role, display_name=f"p{uid}", region=None, language="en",
                  serves_regions=regions, speaks=("ru",), share_location=False, step=step,
                  on_call=on_call, on_call_until=until, created_at=T0)


def ids(people: tuple[Person, ...]) -> tuple[int, ...]:
    return tuple(p.user_id for p in people)


def test_unacknowledged_alert_escalates_at_ack_timeout_then_every_repeat() -> None:
    assert first_due(T0, POLICY) == T0 + 180
    d = decide(alert(), T0 + 180, POLICY)
    assert d.action is Action.WAVE and d.next_due == T0 + 180 + 300


def test_acknowledged_alert_asks_coordinators_only_after_claim_timeout() -> None:
    acked = alert(state="acknowledged", acknowledged_by=5, acknowledged_at=T0 + 60)
    early = decide(acked, T0 + 200, POLICY)
    assert early.action is Action.NOTHING and early.next_due == T0 + 660
    late = decide(acked, T0 + 660, POLICY)
    assert late.action is Action.ASK_ASSIGN and late.next_due == T0 + 960


def test_claimed_case_reminds_after_stale_time_since_last_update() -> None:
    claimed = alert(state="claimed", claimed_by=5, claimed_at=T0, last_update_at=T0 + 1000)
    assert decide(claimed, T0 + 3000, POLICY).action is Action.NOTHING
    assert decide(claimed, T0 + 4600, POLICY).action is Action.REMIND_STALE


def test_closed_alert_stops_escalating() -> None:
    d = decide(alert(state="closed"), T0 + 10_000, POLICY)
    assert d.action is Action.NOTHING and d.next_due is None


def test_routing_prefers_on_call_lawyers_of_the_region() -> None:
    people = [person(1, regions=("almaty",)), person(2, regions=("astana",)),
              person(3, regions=("almaty",), on_call=False), person(9, role="coordinator")]
    r = first_wave(people, "almaty", T0)
    assert ids(r.recipients) == (1,) and not r.urgent


def test_routing_falls_back_to_every_on_call_lawyer_then_everyone_urgent() -> None:
    people = [person(2, regions=("astana",)), person(9, role="coordinator", on_call=False)]
    assert ids(first_wave(people, "almaty", T0).recipients) == (2,)
    nobody = [person(2, on_call=False), person(9, role="coordinator", on_call=False),
              person(7, role="reporter", on_call=False)]
    r = first_wave(nobody, "almaty", T0)
    assert set(ids(r.recipients)) == {2, 9} and r.urgent


def test_on_call_until_a_time_expires() -> None:
    people = [person(1, regions=("almaty",), until=T0 + 60), person(2)]
    assert ids(first_wave(people, "almaty", T0).recipients) == (1,)
    assert ids(first_wave(people, "almaty", T0 + 61).recipients) == (2,)


def test_unregistered_people_are_never_paged() -> None:
    people = [person(1, regions=("almaty",), step="l_regions"), person(2)]
    assert ids(first_wave(people, "almaty", T0).recipients) == (2,)


def test_escalation_wave_is_all_on_call_lawyers_and_coordinators() -> None:
    people = [person(1, regions=("almaty",)), person(2, regions=("astana",)),
              person(3, on_call=False), person(9, role="coordinator", on_call=False)]
    assert ids(escalation_wave(people, T0)) == (1, 2, 9)


@given(st.floats(40.5, 55.5), st.floats(46.5, 87.3))
def test_nearest_region_is_a_known_region(lat: float, lon: float) -> None:
    assert nearest_region(lat, lon) in BY_KEY


def test_each_centre_is_its_own_nearest_region() -> None:
    for r in REGIONS:
        assert nearest_region(r.lat, r.lon) == r.key


def test_pacer_keeps_one_message_per_second_per_private_chat() -> None:
    p = Pacer(Limits(margin=0.0))
    assert p.ready_at(1, 0.0) == 0.0
    send = p.record(1, 0.0)
    assert p.ready_at(1, 0.05) == float("inf")  # one request at a time per chat
    p.finish(send, 0.05)
    assert p.ready_at(1, 0.1) == 1.05  # a second after the answer, not the dispatch
    assert p.ready_at(2, 0.1) == 0.1


def test_pacer_keeps_twenty_per_minute_per_group() -> None:
    p = Pacer(Limits(margin=0.0))
    for i in range(20):
        p.finish(p.record(-100, i * 3.0), i * 3.0)
    assert p.ready_at(-100, 58.0) == 60.0  # the first send ages out of the minute


def test_pacer_keeps_thirty_per_second_overall_counting_sends_in_flight() -> None:
    p = Pacer(Limits(margin=0.0))
    sends = [p.record(chat, 0.5) for chat in range(30)]
    assert p.ready_at(99, 0.6) == float("inf")  # none answered yet: none can age out
    for send in sends:
        p.finish(send, 0.52)
    assert p.ready_at(99, 0.6) == 1.52


def test_pacer_backs_off_one_chat_on_retry_after() -> None:
    p = Pacer(Limits(margin=0.0))
    p.back_off(5, 10.0)
    assert p.ready_at(5, 1.0) == 10.0
    assert p.ready_at(6, 1.0) == 1.0


def test_a_bundle_that_grew_keeps_every_alert_visible() -> None:
    from bot.domain.messages import Button, Outgoing, combine

    parts = [Outgoing(text="\n".join([f"🚨 Alert #{i} · Almaty", "Reporter: R", *(
        ["• " + "x" * 300] * 5), "State: a lawyer has taken the case", "Taken by L."]),
        buttons=((Button(f"Claim #{i}", f"claim:{i}"),),)) for i in range(1, 9)]
    out = combine(parts, "🚨 8 new alerts:")
    assert len(out.text) <= 3900
    assert all(f"Alert #{i} ·" in out.text for i in range(1, 9))
    assert len(out.buttons) == 8


def test_a_call_that_is_not_a_message_takes_no_place_of_the_limits() -> None:
    """A command menu, a pin or an erased PIN goes one at a time per chat, but Telegram
    does not count it as a message: such calls leave the overall limit and the chat's own
    second free for messages. They have a budget of their own (OTHER_PER_SECOND), and a
    429 to one holds only them."""
    p = Pacer(Limits())
    for chat in range(OTHER_PER_SECOND):
        assert p.ready_at(chat, 10.0, counted=False) == 10.0
        p.finish(p.record(chat, 10.0, counted=False), 10.02)
    assert p.ready_at(99, 10.1) == 10.1  # a message: the overall limit is untouched
    assert p.ready_at(0, 10.1) == 10.1  # and the chat's own second too
    assert p.ready_at(99, 10.1, counted=False) == 11.02  # their own budget is spent
    menu = p.record(98, 11.1, counted=False)
    assert p.ready_at(98, 11.1) == float("inf")  # still one request at a time per chat
    p.finish(menu, 11.12)
    p.back_off_others(20.0)  # Telegram said retry_after to a menu
    assert p.ready_at(97, 11.2, counted=False) == 20.0
    assert p.ready_at(97, 11.2) == 11.2


def test_the_overall_limit_is_spread_over_its_second() -> None:
    """Up to BURST_PLACES go at once (a quiet alert's cards), then one every 1/29 s: taken
    all at once whenever the window freed, the places went in one bunch a second and a
    reporter's "received" written just after waited for the next bunch."""
    p = Pacer(Limits())  # 29 places a second with the margin
    for chat in range(BURST_PLACES):
        assert p.ready_at(chat, 10.0) == 10.0
        p.finish(p.record(chat, 10.0), 10.01)
    assert p.ready_at(99, 10.01) == pytest.approx(10.0 + 1 / 29)
    t = 10.0 + 1 / 29
    for chat in range(100, 114):  # 29 in the second, one every 1/29 s
        assert p.ready_at(chat, t) == pytest.approx(t)
        p.finish(p.record(chat, t), t)
        t += 1 / 29
    assert p.ready_at(99, t) == pytest.approx(11.01)  # the second's own limit holds
    # a lesser message leaves the alerts their share of the bucket as of the window
    q = Pacer(Limits())
    for chat in range(BURST_PLACES - 5):
        q.finish(q.record(chat, 10.0), 10.0)
    assert q.ready_at(99, 10.0, reserve=12) > 10.0
    assert q.ready_at(99, 10.0) == 10.0


@pytest.mark.parametrize("rtt", [0.01, 0.2, 0.5])
def test_the_spread_keeps_the_throughput_at_any_round_trip(rtt: float) -> None:
    """The spread limits how many go at once, not how many a second: with answers back
    after ``rtt``, the pacer still sends what its window allows, 29 per (1 + rtt) seconds
    (a first version, counting sends until their answers within a quarter second, fell to
    9 per 0.25 s and a round trip: about 20 a second at 0.2 s, 12 at 0.5 s)."""
    p = Pacer(Limits())
    t, chat, sent = 0.0, 1, 0
    inflight: list[tuple[float, int]] = []
    while t < 10.0:
        for due in [x for x in inflight if x[0] <= t]:
            p.finish(due[1], due[0])
            inflight.remove(due)
        if len(inflight) < 16 and p.ready_at(chat, t) <= t:
            inflight.append((t + rtt, p.record(chat, t)))
            chat, sent = chat + 1, sent + 1
            continue
        t += 0.001
    assert sent / 10.0 >= 0.97 * 29 / (1 + rtt)
