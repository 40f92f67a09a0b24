"""Issue 16, point 2: the order of sends under Telegram's overall limit, decided in one
place (bot/delivery/order.py) and tested here on a synthetic backlog, without the network."""

from __future__ import annotations

from dataclasses import replace

from bot.delivery.order import (
    CONFIRM,
    CONFIRM_SHARE,
    EDIT,
    GROUP,
    GROUP_EVERY,
    GROUP_PATIENCE,
    PAGE,
    REST,
    WAVE,
    Head,
    Lanes,
    lane,
    plan,
)
from bot.delivery.outbox import BUNDLE_LIMITS, EDIT_GROWTH, MAX_TEXT, Queue, bundle
from bot.domain.messages import (
    DELETE,
    ERASE,
    PRIORITY_ALERT,
    PRIORITY_CASE,
    PRIORITY_GROUP,
    PRIORITY_LOW,
    PRIORITY_REPLY,
    Button,
    Outgoing,
    combine,
    utf16_len,
)
from bot.domain.notify import alert_card, group_notice
from bot.i18n import tn
from storage import Alert, Due, Person


def test_every_kind_of_message_has_its_lane() -> None:
    assert lane("reply", PRIORITY_ALERT, None) == CONFIRM  # "Alert #N received"
    assert lane(ERASE, PRIORITY_ALERT, None) == CONFIRM  # a typed PIN erased
    assert lane("alert", PRIORITY_ALERT, None) == PAGE  # a first page
    assert lane("alert", PRIORITY_REPLY, None) == WAVE  # an escalation wave
    assert lane("reply", PRIORITY_REPLY, None) == WAVE
    assert lane("group", PRIORITY_GROUP, None) == GROUP
    assert lane("edit", PRIORITY_CASE, 7) == EDIT  # a card's new state
    assert lane("pin", PRIORITY_CASE, None) == REST
    assert lane(DELETE, PRIORITY_CASE, 7) == REST
    assert lane("reply", PRIORITY_LOW, None) == REST


def backlog() -> list[Head]:
    """A mass detention seen from the worker: every kind waiting at once, the lesser kinds
    older (they would go first by age alone)."""
    heads: list[Head] = []
    row = iter(range(1, 10_000))
    for chat in range(-5, 0):  # 5 groups
        heads.append(Head(GROUP, next(row), chat))
    for chat in range(100, 130):  # 30 chats with an edit or a pin waiting
        heads.append(Head(EDIT if chat % 2 else REST, next(row), chat))
    for chat in range(200, 210):  # 10 escalation waves
        heads.append(Head(WAVE, next(row), chat))
    for chat in range(300, 350):  # 50 lawyers with their first pages
        heads.append(Head(PAGE, next(row), chat))
    for chat in range(1000, 1200):  # 200 reporters to tell "received", newest of all
        heads.append(Head(CONFIRM, next(row), chat))
    return heads


def test_confirmations_and_first_pages_share_the_first_places_fairly() -> None:
    order = plan(backlog(), 29)  # one second of Telegram's overall limit
    lanes = [h.lane for h in order]
    # the groups' own share: one place in GROUP_EVERY once they have waited GROUP_PATIENCE
    # (plan's default now)
    assert [i for i, x in enumerate(lanes) if x == GROUP] == [
        i for i in range(29) if i % GROUP_EVERY == GROUP_EVERY - 1]
    lanes = [x for x in lanes if x != GROUP]
    assert set(lanes) == {CONFIRM, PAGE}
    # neither starves: CONFIRM_SHARE confirmations for each page, from the first second
    assert abs(lanes.count(CONFIRM) - CONFIRM_SHARE * lanes.count(PAGE)) <= 2
    assert lanes[:3] == [CONFIRM, PAGE, CONFIRM]
    # within a lane, oldest first
    pages = [h.row_id for h in order if h.lane == PAGE]
    assert pages == sorted(pages)


def test_then_waves_then_groups_then_edits_then_the_rest() -> None:
    heads = backlog()
    order = plan(heads, len(heads))
    assert len(order) == len(heads) and len({h.chat for h in order}) == len(heads)
    lanes = [h.lane for h in order if h.lane != GROUP or h.row_id > 5]
    assert GROUP not in lanes  # the 5 groups all went within their share, early
    urgent = [i for i, x in enumerate(lanes) if x in (CONFIRM, PAGE)]
    assert urgent == list(range(len(urgent)))  # every confirmation and page first
    rest = [x for x in lanes if x not in (CONFIRM, PAGE)]
    assert rest == sorted(rest) and rest[0] == WAVE and rest[-1] == REST
    # the pages ran out before the confirmations: then the confirmations alone
    assert lanes[len(urgent) - 1] == CONFIRM


def test_groups_wait_out_their_patience_in_a_burst_then_take_their_share() -> None:
    """Until a group's oldest notice has waited GROUP_PATIENCE seconds, the confirmations
    and pages of a burst go first (the lawyers, who act on an alert, take those places
    while they are behind); from then one place in GROUP_EVERY is the groups', else they
    would wait for every alert."""
    groups = [Head(GROUP, i, -1 - i, since=0.0) for i in range(3)]
    alerts = [Head(CONFIRM, 100 + i, 1000 + i, since=0.0) for i in range(40)]
    early = [h.lane for h in plan([*groups, *alerts], 43, now=GROUP_PATIENCE - 0.1)]
    assert early == [CONFIRM] * 40 + [GROUP] * 3
    due = [h.lane for h in plan([*groups, *alerts], 43, now=GROUP_PATIENCE)]
    assert due.index(GROUP) == GROUP_EVERY - 1 and due[-1] == CONFIRM


def test_a_lone_lane_takes_every_place_and_banks_no_credit() -> None:
    pages = [Head(PAGE, i, 300 + i) for i in range(10)]
    assert [h.lane for h in plan(pages, 5)] == [PAGE] * 5
    confirmations = [Head(CONFIRM, 100 + i, 1000 + i) for i in range(10)]
    mixed = plan([*pages, *confirmations], 6)
    assert [h.lane for h in mixed] == [CONFIRM, PAGE, CONFIRM, PAGE, CONFIRM, CONFIRM]


def test_a_newer_alerts_card_goes_before_an_older_alerts_extras_in_one_chat() -> None:
    q = Queue()
    q.add(Due(1, 42, "pin", PRIORITY_CASE, None, 0, 10), now=0.0)  # alert 1's pin
    q.add(Due(2, 42, "edit", PRIORITY_CASE, 5, 0, 10), now=0.0)  # alert 1's card edited
    q.add(Due(3, 42, "alert", PRIORITY_ALERT, None, 0, 10), now=0.0)  # alert 2's card
    assert [r.id for r in q.chat_rows(42, 3)] == [3, 2, 1]
    head = q.pop(0.0)
    assert head is not None and (head.lane, head.row_id, head.chat) == (PAGE, 3, 42)


def test_the_worker_queue_serves_chats_in_the_planned_order() -> None:
    """The worker's queue and ``plan`` make the same choices for the same backlog."""
    q = Queue()
    heads = backlog()
    kinds = {CONFIRM: ("reply", PRIORITY_ALERT, None), PAGE: ("alert", PRIORITY_ALERT, None),
             WAVE: ("alert", PRIORITY_REPLY, None), GROUP: ("group", PRIORITY_GROUP, None),
             EDIT: ("edit", PRIORITY_CASE, 1), REST: ("pin", PRIORITY_CASE, None)}
    for h in heads:
        kind, priority, target = kinds[h.lane]
        q.add(Due(h.row_id, h.chat, kind, priority, target, 0, 10), now=0.0)
    served = []
    while (head := q.pop(GROUP_PATIENCE)) is not None:
        q.lanes.sent(head.lane)
        served.append(head)
    assert served == plan(heads, len(heads))


def test_an_alert_new_to_every_lawyer_goes_first_to_one_of_them() -> None:
    """The lawyers of a region are staggered: a page carrying an alert nobody has seen goes
    before pages of alerts someone already has, and carries that alert first."""
    q = Queue()
    card = 0

    def page(alert: int) -> None:
        nonlocal card
        for chat in (301, 302, 303):
            card += 1
            q.add(Due(card, chat, "alert", PRIORITY_ALERT, None, 0, 10, alert_id=alert), 0.0)

    page(1)
    page(2)
    head = q.pop(0.0)
    assert head is not None and head.fresh and (head.row_id, head.chat) == (1, 301)
    assert [r.alert_id for r in q.fresh_rows(301)] == [1, 2]
    q.take(301, [1, 4])  # one bundle with both
    q.paged_now([1, 4])
    assert q.fresh_rows(302) == [] and not q.unpaged
    page(3)  # rows 7 to 9: 301 was just sent its cards; 302 and 303 wait since rows 2, 3
    first = q.pop(0.0)  # the lawyer waiting longest takes the new alert
    assert first is not None and (first.fresh, first.row_id, first.chat) == (True, 3, 302)
    assert [r.id for r in q.fresh_rows(302)] == [8]  # alert 3 first, before 302's row 2
    q.take(302, [8])
    q.paged_now([8])
    rest = q.pop(0.0)  # then the lawyer waiting longest: 302's alert 1
    assert rest is not None and not rest.fresh and (rest.row_id, rest.chat) == (2, 302)


def test_a_new_alert_goes_to_the_lawyer_of_its_region_waiting_longest() -> None:
    """By chat id, the same lawyers took every new alert in a burst and the others of the
    region heard nothing for 9 s: the one whose oldest card waits longest goes first."""
    heads = [Head(PAGE, 1, 301, True, 50), Head(PAGE, 1, 302, True, 10),
             Head(PAGE, 1, 303, True, 30), Head(PAGE, 2, 300, True, 5)]
    assert [h.chat for h in plan(heads, 4)] == [302, 303, 301, 300]  # oldest alert first


def notices(lang: str, state: str = "open", n: int = 50, located: bool = True
            ) -> list[Outgoing]:
    """``n`` group notices as the domain writes them, in the longest region name: with the
    position, or (``located=False``) from an alert raised without one."""
    reporter = Person(1, "reporter", None, "east_kz", lang, (), (), True, "done", False,
                      None, 0.0)
    lat, lon, acc = (-43.25671, -176.92861, 25.0) if located else (None, None, None)
    return [group_notice(Alert(i, 1, state, "east_kz", lat, lon, acc, 0.0, 0.0,
                               False, 1, None, None, None, None, None, None, None, None),
                         reporter, lang) for i in range(10_000, 10_000 + n)]


def queued(parts: list[Outgoing], kind: str = "group") -> list[Due]:
    """Those messages queued for one chat, sized as the storage reports them (the whole
    payload's UTF-8 bytes)."""
    return [Due(i, -5, kind, PRIORITY_GROUP, None, 0, len(p.to_json().encode()))
            for i, p in enumerate(parts)]


def test_a_group_bundle_holds_as_many_notices_as_fit_and_takes_its_edits() -> None:
    """A row's size counts its whole JSON payload; counted so, a bundle of 90-character
    notices stopped at 14 instead of 35, and a group (20 messages a minute) showed the
    last alert of a 200-alert burst after 40 s instead of 12. Counting only the text, a
    bundle must still take its edits: a notice's state grows, and a 4-line notice is never
    shortened when its bundle is re-rendered, and one posted without a position gains a
    line when its reporter sends one (at 8 characters of room for the state alone, an
    English bundle of 35 re-rendered so took 4,532 of Telegram's 4,096, and the cut
    message lost its last notices)."""
    for lang in ("en", "ru", "kk"):
        batch = bundle(queued(notices(lang, located=False)))
        assert 15 <= len(batch) <= BUNDLE_LIMITS["group"], (lang, len(batch))
        for state in ("acknowledged", "claimed"):
            header = tn(lang, "🚨 {n} new alert:", "🚨 {n} new alerts:", len(batch))
            edited = combine(notices(lang, state, len(batch)), header)
            # within what combine keeps to (a 4-line notice it cannot shorten), so the
            # edit fits Telegram's 4,096 with room to spare
            assert utf16_len(edited.text) <= 3900, (lang, state, len(batch))
    english = bundle(queued(notices("en")))
    assert len(english) >= 20  # by the whole payload: 13
    assert bundle(queued(notices("en")), coalesce=False) == [0]
    # a lawyer's cards are shortened by combine to fit: their count alone bounds a bundle
    cards = queued([Outgoing(text="x" * 2000, buttons=((Button("Claim", "c:1"),),))] * 25,
                   kind="alert")
    assert len(bundle(cards)) == BUNDLE_LIMITS["alert"]
    long = queued([Outgoing(text="x" * 1000)] * 10)  # what no message could hold: split
    assert len(bundle(long)) == MAX_TEXT // (1000 + 2 + EDIT_GROWTH["group"])


def test_a_group_free_to_send_again_goes_at_once_in_a_burst() -> None:
    """While a group waits only for its own limit (a message every 3 s), the groups' share
    is kept for it: the first group free again goes at the next place, not after
    GROUP_EVERY more sends (which, group after group, made the last notice 1-2 s later).
    With no group waiting at all, nothing is banked: a quiet alert's own messages first."""

    def served(held: bool) -> list[int]:
        lanes = Lanes()
        for i in range(40):
            lanes.push(Head(CONFIRM, 100 + i, 1000 + i))
        if held:  # the worker popped a group its own limit held back
            lanes.held_group()
        for _ in range(20):
            head = lanes.pop(GROUP_PATIENCE)
            assert head is not None and head.lane == CONFIRM
            lanes.sent(head.lane)
        lanes.push(Head(GROUP, 7, -1))
        lanes.push(Head(GROUP, 8, -2))
        order = []
        for _ in range(GROUP_EVERY + 1):
            head = lanes.pop(GROUP_PATIENCE)
            assert head is not None
            lanes.sent(head.lane)
            order.append(head.lane)
        return order

    assert served(held=True) == [GROUP, *[CONFIRM] * (GROUP_EVERY - 1), GROUP]
    assert served(held=False) == [*[CONFIRM] * (GROUP_EVERY - 1), GROUP, CONFIRM]


def test_an_alert_whose_first_page_failed_is_new_to_every_lawyer_again() -> None:
    """The lawyer who took a new alert first is the one with the most waiting; if that send
    fails (a 500, a dropped connection), the alert must not wait behind their backlog for
    the retry: another lawyer of the region may take it first."""
    q = Queue()
    for card, chat in enumerate((301, 302, 303), start=1):
        q.add(Due(card, chat, "alert", PRIORITY_ALERT, None, 0, 10, alert_id=1), 0.0)
    head = q.pop(0.0)
    assert head is not None and head.fresh and head.chat == 301
    q.take(301, [1])
    q.paged_now([1])
    q.retry([1], not_before=5.0, now=0.0)  # failed: 301 may try again in 5 s
    again = q.pop(0.0)
    assert again is not None and again.fresh and (again.row_id, again.chat) == (1, 302)
    assert [r.id for r in q.fresh_rows(302)] == [2]
    q.take(302, [2])
    q.paged_now([2])
    q.drop([2])  # delivered: no longer new, whatever 301's retry does
    q.retry([], not_before=5.0, now=0.0)
    later = q.pop(0.0)
    assert later is not None and not later.fresh and later.chat == 303


def test_a_lawyer_just_sent_new_alerts_is_not_the_one_waiting_longest_again() -> None:
    """A lawyer's queued entries for later new alerts keep the wait of when they were
    pushed; once that lawyer was sent a bundle, they must not win "waiting longest" with
    it: the next new alert goes to the lawyer of the region who was sent nothing yet."""
    q = Queue()
    lawyers = (301, 302, 303)
    row = 0
    for alert in range(1, 25):  # a burst: 24 alerts of one region, three lawyers paged
        for chat in lawyers:
            row += 1
            q.add(Due(row, chat, "alert", PRIORITY_ALERT, None, 0, 300, alert_id=alert), 0.0)
    served: list[int] = []
    while len(served) < 3:
        head = q.pop(0.0)
        assert head is not None
        if head.chat in served[-1:]:  # just sent to: its own limit holds it a second
            continue
        served.append(head.chat)
        rows = q.fresh_rows(head.chat)
        rows += [r for r in q.chat_rows(head.chat, 35) if r not in rows]
        ids = bundle(rows)
        q.take(head.chat, ids)
        q.paged_now(ids)
        q.drop(ids)
        q.push_chat(head.chat, 0.0)
    assert served == [301, 302, 303]  # before: 301, 302, then 301 again


def worst_cards(lang: str, state: str, n: int) -> list[Outgoing]:
    """``n`` lawyer cards as long as they come: the longest region name, a name of the
    most letters allowed, a concealed duress PIN, a missed check-in, nobody on call, a
    third wave, "I'm safe", five long facts, a stale position, five-digit numbers."""
    reporter = Person(1, "reporter", "Ж" * 48, "east_kz", lang, (), (), True, "done", False,
                      None, 0.0)
    facts = ["Ө" * 300] * 5
    return [alert_card(lang, Alert(i, 1, state, "east_kz", -43.25671, -176.92861, 25.0, 0.0,
                                   0.0, True, 3, None, None, None, None, None, 5.0, None,
                                   None, duress_at=60.0, concealed=True,
                                   missed_checkin_at=30.0),
                       reporter, 7200.0, facts, wave=3) for i in range(10_000, 10_000 + n)]


def burst_header(lang: str, n: int) -> str:
    return tn(lang, "🚨 {n} new alert, in short (/case N shows one whole; /decline N if you "
              "can't take it):", "🚨 {n} new alerts, in short (/case N shows one whole; "
              "/decline N if you can't take it):", n)


def test_a_burst_bundle_of_25_cards_fits_one_message_with_every_alert_and_its_buttons(
        ) -> None:
    """A lawyer can be sent a bundle about every 5 s in a 200-alert burst; with 6 or 7
    whole cards to a message, every lawyer of a region saw every alert 9.7 s after it at
    p99 (bench/theory.py: 8.2 s at best). 25 go in one message, each in brief: the
    alert, its marks, reporter, position and state, with Acknowledge and Claim. A bundle
    that grew past even that cuts its longest parts to their first line, marks and
    state, at worst all of them to three short lines. Within Telegram's 4,096 units and
    about 100 buttons, in every language, also when the bundle is re-rendered by an
    edit."""
    n = BUNDLE_LIMITS["alert"]
    for lang in ("en", "ru", "kk"):
        for state in ("open", "acknowledged", "claimed"):
            cards = worst_cards(lang, state, n)
            out = combine(cards, burst_header(lang, n))
            assert utf16_len(out.text) <= 3900, (lang, state)
            for card in cards:
                number = card.text.split("#")[1].split()[0]
                assert f"#{number} ·" in out.text, (lang, state, number)
            assert out.text.count("‼️") >= n and out.text.count("06:01") >= n  # the duress
            buttons = [b for row in out.buttons for b in row]
            assert len(buttons) <= 2 * n, (lang, state, len(buttons))  # Telegram: ~100
            claims = {b.data for b in buttons if b.data.startswith("claim:")}
            assert len(claims) == (0 if state == "claimed" else n)
            assert not any(b.data.startswith(("decl:", "map:")) for b in buttons)
    # a burst's ordinary cards show their brief whole, the position included, from the
    # ninth on even where whole cards would fit
    plain = [alert_card("en", Alert(i, 1, "open", "almaty", 43.25671, 76.92861, None, 0.0,
                                    0.0, False, 1, None, None, None, None, None, None, None,
                                    None), None, 5.0, []) for i in range(100, 100 + n)]
    for many in (9, n):
        out = combine(plain[:many], burst_header("en", many))
        assert all(f"Alert #{i} ·" in out.text for i in range(100, 100 + many))
        assert out.text.count("Position: 43.25671, 76.92861") == many
        assert "Raised at" not in out.text and len(out.buttons) == many
    # eight or fewer keep their whole cards and every button
    few = combine(plain[:3], "🚨 3 new alerts:")
    assert few.text.count("Raised at") == 3
    assert sum(1 for row in few.buttons for b in row if b.data.startswith("decl:")) == 3
    # a card queued before briefs existed keeps only its first row of buttons past 8
    old = [replace(card, brief="", brief_buttons=()) for card in plain]
    out = combine(old, burst_header("en", n))
    assert utf16_len(out.text) <= 3900 and len(out.buttons) == n
    assert all(len(row) == 2 for row in out.buttons)  # Acknowledge, Claim
