"""Tags and selectors on the demo fleet (libvirt's test:/// driver, whose guests of some roles
carry tags in their XML): the `:tag`/`:untag` verbs, the `#` dialog, the Tags column, the
`/` filter and the verbs that take a selector for a name, and one line for each bad input."""

from __future__ import annotations

import libvirt

from kvmtui import format as fmt
from kvmtui.core.model import GuestState
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.tags import TagDialog
from kvmtui.widgets.command_line import PromptLine
from tests.ui.helpers import (
    answer_to,
    guest,
    keys,
    notifications,
    screen_text,
    select,
    started,
    status,
    table_names,
    tags_cell,
    wait_for,
)

SIZE = (140, 40)
TIER_WEB = ["web-101@kvm01", "proxy-106@kvm01", "proxy-201@kvm02", "web-307@kvm03"]


async def _question(pilot) -> str:
    """The confirmation's text, once it has composed (pushed, a screen is empty a moment)."""
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.query("#question"),
        what="a question",
    )
    return screen_text(pilot.app)


async def test_tag_and_untag_show_in_the_tags_column(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        said = await answer_to(pilot, "tag mail-105 owner=alice pager")
        assert said == "mail-105 on kvm01: tags owner=alice pager"
        await wait_for(pilot, lambda: tags_cell(app, "mail-105@kvm01") == "owner=alice pager")

        said = await answer_to(pilot, "tag mail-105 owner=bob")  # one value per key
        assert said == "mail-105 on kvm01: tags owner=bob pager"
        said = await answer_to(pilot, "untag mail-105 owner")  # a bare key: any value
        assert said == "mail-105 on kvm01: tags pager"
        await wait_for(pilot, lambda: tags_cell(app, "mail-105@kvm01") == "pager")
        assert tags_cell(app, "db-102@kvm01") == "backup tier=db"  # read from the XML


async def test_bad_tags_and_unknown_tags_are_one_line_and_change_nothing(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        said = await answer_to(pilot, "untag mail-105 pager")
        assert said == 'untag: mail-105 on kvm01 has no tag "pager"'
        said = await answer_to(pilot, 'tag mail-105 "two words"')
        assert said.startswith('tag: tag "two words" is not a tag')
        said = await answer_to(pilot, "tag mail-105 tier=")
        assert said.startswith('tag: tag "tier=" is not a tag')
        assert guest(app, "mail-105").tags == ()


async def test_the_filter_takes_selectors_and_says_what_is_malformed(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("slash", *keys("tier=web"))
        await wait_for(pilot, lambda: sorted(table_names(app)) == sorted(TIER_WEB))
        await pilot.press(*keys(" state:running"))
        await wait_for(pilot, lambda: len(table_names(app)) == 3)
        assert "proxy-106@kvm01" not in table_names(app)
        await pilot.press(*keys(" host:kvm02"))
        await wait_for(pilot, lambda: table_names(app) == ["proxy-201@kvm02"])

        # Typed on from a plain word to a term: not a narrowing of the plain word's rows.
        await pilot.press("escape", "slash", *keys("tag:ci st"))
        await pilot.press(*keys("ate:shutoff"))
        await wait_for(
            pilot, lambda: sorted(table_names(app)) == ["build-310@kvm03", "ci-runner-204@kvm02"]
        )

        await pilot.press("escape", "slash", *keys("state:sleeping"))
        line = app.screen.query_one(PromptLine)
        await wait_for(pilot, lambda: 'no state "sleeping"' in str(line.border_subtitle))
        assert "sleeping" not in status(app)  # the filter stays as it was
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("filter: selector" in n for n in notifications(app)))


async def test_a_verb_takes_a_selector_and_asks_with_counts(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("colon", *keys("shutdown tier=web"), "enter")
        text = await _question(pilot)
        assert "Shut down 3 running guests on 3 hosts? 1 shut off is skipped" in text
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: all(
                guest(app, *r.split("@")).state is not GuestState.RUNNING for r in TIER_WEB
            ),
            what="the web tier down",
        )

        # One guest chosen by a selector is still asked about, by its count.
        await pilot.press("colon", *keys("start tier=web,host:kvm02"), "enter")
        assert "Start 1 guest on 1 host?" in await _question(pilot)
        await pilot.press("enter")  # Cancel is focused
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert guest(app, "proxy-201").state is GuestState.SHUTOFF


async def test_selectors_that_choose_nothing_or_are_malformed_are_one_line(demo_settings):
    async with started(demo_settings, SIZE) as (_app, pilot):
        said = await answer_to(pilot, "start tag:tier=wbe")
        assert said == 'no guest is tagged "tier=wbe" (did you mean "tier=web"?)'
        said = await answer_to(pilot, "start host:kvm9")
        assert said.startswith('no host named "kvm9"')
        said = await answer_to(pilot, "start tag:")
        assert said == 'selector "tag:" names no tag'
        said = await answer_to(pilot, "start tier=web state:crashed")
        assert said == 'selector "tier=web state:crashed" matches no guest'
        said = await answer_to(pilot, "console tier=web")
        assert said == 'selector "tier=web" chooses 4 guests on 3 hosts: name one guest'


async def test_the_tag_key_tags_the_marked_guests(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await select(pilot, "mail-105@kvm01")
        await pilot.press("space")
        await select(pilot, "dns-207@kvm02")
        await pilot.press("space", "number_sign")
        await wait_for(pilot, lambda: isinstance(app.screen, TagDialog), what="the tag dialog")
        assert "Tag 2 guests on 2 hosts" in screen_text(app)
        await pilot.press(*keys("bad,tag"))
        await wait_for(pilot, lambda: "is not a tag" in screen_text(app))
        await pilot.press(*(["backspace"] * 7), *keys("team=infra"), "enter")
        assert "Tag 2 guests on 2 hosts?" in await _question(pilot)
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: (
                guest(app, "mail-105").tags == ("team=infra",)
                and guest(app, "dns-207").tags == ("team=infra",)
            ),
            what="both tagged",
        )
        assert "+team=infra: 2 of 2 guests" in notifications(app)
        await pilot.press("slash", *keys("team=infra"), "enter")
        await wait_for(pilot, lambda: len(table_names(app)) == 2)
        assert "filter: team=infra" in status(app)


async def test_groups_by_host_state_and_tag_key_with_their_figures(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        table = app.screen.table
        await pilot.press("z")
        await wait_for(pilot, lambda: len(table.group_lines()) == 3)
        assert "grouped by host (z)" in status(app)
        kvm01 = [g for g in app.fleet.snapshot().guests if g.host == "kvm01"]
        running = [g for g in kvm01 if g.state.is_active]
        assert table.group_lines()[0] == (
            f" ▾ kvm01   {len(kvm01)} guests, {len(running)} running, "
            f"{sum(g.vcpus for g in running)} vCPUs, "
            f"{fmt.kib(sum(g.memory_kib for g in running))} in use"
        )
        await pilot.press("z")
        await wait_for(pilot, lambda: "grouped by state" in status(app))
        assert {line.split()[1] for line in table.group_lines()} >= {"running", "shut"}

        await pilot.press("z")  # the fleet's one tag key: tier
        await wait_for(pilot, lambda: "grouped by tag:tier" in status(app))
        assert [line.split("   ")[0] for line in table.group_lines()] == [
            " ▾ tier=db",
            " ▾ tier=web",
            " ▾ no tier",
        ]
        # Enter on a header folds its group; the figures stay on the header.
        await pilot.press("home", "enter")
        await wait_for(pilot, lambda: table.group_lines()[0].startswith(" ▸ tier=db   4 guests"))
        assert "db-102@kvm01" not in table_names(app)

        # A lifecycle key on a header acts on its guests: the shut-off one of the four.
        await pilot.press("s")
        assert "Start 1 shut off guest on 1 host? 3 already running are skipped" in (
            await _question(pilot)
        )
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: guest(app, "db-102").state is GuestState.RUNNING)

        await pilot.press("z")
        await wait_for(pilot, lambda: table.group_lines() == [] and "grouped" not in status(app))
        assert len(table_names(app)) == 35


async def test_start_order_starts_step_by_step_and_shutdown_in_reverse(demo_settings):
    """Three shut-off guests, ordered against their names and hosts: each step is up (or
    down) before the next begins, the unordered guests last up and first down."""
    order = {"search-108": 1, "backup-208": 2, "git-209": 3}
    async with started(demo_settings, SIZE) as (app, pilot):
        for name, n in order.items():
            await answer_to(pilot, f"tag {name} stack=a start-order={n}")
        await answer_to(pilot, "tag monitor-110 stack=a")
        await wait_for(pilot, lambda: all(guest(app, n).tags for n in order))
        seen: list[tuple[str, int]] = []
        app.fleet.add_event_listener(
            lambda e: seen.append((e.name, e.event)) if e.kind == "lifecycle" else None
        )
        await pilot.press("colon", *keys("start stack=a"), "enter")
        assert "Start 4 guests on 2 hosts?" in await _question(pilot)
        await pilot.press("tab", "enter")
        await wait_for(
            pilot, lambda: "started: 4 of 4 guests in 4 start-order steps" in notifications(app)
        )
        started_order = [name for name, event in seen if event == libvirt.VIR_DOMAIN_EVENT_STARTED]
        assert started_order == ["search-108", "backup-208", "git-209", "monitor-110"]

        seen.clear()
        await pilot.press("colon", *keys("shutdown stack=a"), "enter")
        await _question(pilot)
        await pilot.press("tab", "enter")
        await wait_for(
            pilot, lambda: any("shutdown requested: 4 of 4" in n for n in notifications(app))
        )
        stopped = [name for name, event in seen if event == libvirt.VIR_DOMAIN_EVENT_STOPPED]
        assert stopped == ["monitor-110", "git-209", "backup-208", "search-108"]


async def test_a_step_that_does_not_come_up_stops_the_sequence(demo_settings, monkeypatch):
    from kvmtui.core import start_order

    monkeypatch.setattr(start_order, "STEP_TIMEOUT", 0.3)
    monkeypatch.setitem(start_order.WAITS, "start", lambda state: False)  # never "up"
    async with started(demo_settings, SIZE) as (app, pilot):
        await answer_to(pilot, "tag search-108 stack=b start-order=1")
        await answer_to(pilot, "tag git-209 stack=b start-order=2")
        await wait_for(pilot, lambda: guest(app, "git-209").tags)
        await pilot.press("colon", *keys("start stack=b"), "enter")
        await _question(pilot)
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: (
                (
                    "start: search-108@kvm01 not running after 0s; stopped before the next "
                    "start-order step (1 more guests)"
                )
                in notifications(app)
            ),
        )
        assert guest(app, "git-209").state is GuestState.SHUTOFF


async def test_anti_keeps_guests_apart_in_the_evacuation_plan_and_says_when_it_cannot(
    demo_settings,
):
    async with started(demo_settings, SIZE) as (app, pilot):
        for ref in ("mail-105", "web-101"):
            await answer_to(pilot, f"tag {ref} anti=pair")
        for ref in ("dns-207", "web-307", "queue-107"):
            await answer_to(pilot, f"tag {ref} anti=trio")
        await wait_for(pilot, lambda: guest(app, "queue-107").tags == ("anti=trio",))
        await pilot.press("colon", *keys("evacuate kvm01"), "enter")
        await _question(pilot)
        # the plan's question, after the dirty-rate measurement's screen
        await wait_for(pilot, lambda: "queue-107 stays" in screen_text(app), what="the plan")
        text = screen_text(app)
        pair = [line for line in text.splitlines() if "mail-105 ->" in line or "web-101 ->" in line]
        assert len(pair) == 2 and len({line.split("->")[1].split()[0] for line in pair}) == 2
        assert "queue-107 stays: no host can take it" in text
        assert "runs another anti=trio guest" in text
        await pilot.press("enter")  # Cancel


async def test_the_migrate_advice_rules_out_a_host_with_the_same_anti_group(demo_settings):
    from kvmtui.core import advice

    async with started(demo_settings, SIZE) as (app, pilot):
        await answer_to(pilot, "tag web-101 anti=web")
        await answer_to(pilot, "tag web-307 anti=web")
        await wait_for(pilot, lambda: guest(app, "web-307").tags == ("anti=web", "tier=web"))
        ranked = await advice.advise_for(app.fleet, guest(app, "web-101"))
        kvm03 = next(fit for fit in ranked if fit.host == "kvm03")
        assert not kvm03.fits and kvm03.problem == "runs another anti=web guest"
        assert ranked[0].host == "kvm02" and ranked[0].fits


async def test_tab_completes_selector_terms_where_a_guest_is_named(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("colon", *keys("start tier="), "tab")
        line = app.screen.query_one(PromptLine)
        await wait_for(pilot, lambda: line.value == "start tier=db")
        await pilot.press("tab")
        await wait_for(pilot, lambda: line.value == "start tier=web")
        assert "host:kvm02" in app.complete_command("shutdown host:")


async def test_space_on_a_group_header_marks_its_guests(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        table = app.screen.table
        await pilot.press("z", "z", "z", "home", "space")  # tier=db's header
        await wait_for(pilot, lambda: len(table.marks) == 4)
        assert {g.name for g in table.marked_rows()} == {
            "db-102",
            "cache-103",
            "cache-309",
            "db-308",
        }
        assert "marked: 4" in status(app)
        await pilot.press("up", "space")  # again: unmarked
        await wait_for(pilot, lambda: not table.marks)
