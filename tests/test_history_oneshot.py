"""`kvmtui events` and `kvmtui audit` on the one-shot line, after changes made by earlier
runs: what a script reads back from the database, as text and as JSON."""

from __future__ import annotations

import dataclasses
import json

from kvmtui.config import Settings
from kvmtui.core.audit import command_words
from kvmtui.core.commands import Command
from tests.nodes import node_specs
from tests.test_oneshot import Terminal, _run


def _settings(tmp_path) -> Settings:
    return Settings(
        hosts=tuple(node_specs(tmp_path, "kvm1")),
        readonly=False,
        refresh=60.0,
        theme=None,
        demo=False,
        history_path=tmp_path / "state" / "kvmtui.db",
    )


async def test_a_destroy_yes_is_in_the_audit_and_its_event_in_the_timeline(tmp_path):
    settings = _settings(tmp_path)
    status, out, _ = await _run(settings, "destroy", "web", "--yes")
    assert status == 0 and "destroyed" in out
    status, out, err = await _run(settings, "events", "--since", "1h", "--guest", "web")
    assert status == 0 and err == ""
    header, _rule, *lines = out.splitlines()
    assert header.split() == ["Time", "Host", "Guest", "Event", "Detail", "Alert"]
    assert [line.split()[2:] for line in lines] == [["kvm1", "web", "stopped", "destroyed"]]

    status, out, _ = await _run(settings, "audit", "--json")
    (entry,) = json.loads(out)
    assert entry["verb"] == "destroy" and entry["args"] == "destroy web"
    assert entry["ok"] is True and entry["via"] == "cli" and entry["guests"] == "web@kvm1"
    assert entry["user"] and "destroyed" in entry["message"]


async def test_a_failed_change_is_kept_with_libvirts_error(tmp_path):
    settings = _settings(tmp_path)
    status, _, err = await _run(settings, "domrename", "web", "web2")
    assert status == 1
    status, out, _ = await _run(settings, "audit", "--json")
    (entry,) = json.loads(out)
    assert entry["ok"] is False and entry["message"] in err


async def test_a_change_refused_read_only_is_kept_as_who_tried(tmp_path):
    settings = dataclasses.replace(_settings(tmp_path), readonly=True)
    status, _, err = await _run(settings, "destroy", "web", "--yes")
    assert status == 1 and "read-only" in err
    status, out, _ = await _run(settings, "audit", "--json", "--guest", "web")
    (entry,) = json.loads(out)
    assert entry["verb"] == "destroy" and entry["guests"] == "web@kvm1"
    assert entry["ok"] is False and entry["message"] in err and entry["user"]


async def test_a_change_declined_at_its_question_is_not_in_the_audit(tmp_path):
    settings = _settings(tmp_path)
    status, _, _ = await _run(settings, "destroy", "web", stdin=Terminal("n\n", tty=True))
    assert status == 1
    status, out, _ = await _run(settings, "audit", "--json")
    assert status == 0 and json.loads(out) == []


async def test_filters_narrow_and_a_bad_since_is_one_line(tmp_path):
    settings = _settings(tmp_path)
    await _run(settings, "destroy", "web", "--yes")
    status, out, _ = await _run(settings, "events", "--type", "network", "--json")
    assert status == 0 and json.loads(out) == []
    status, _, err = await _run(settings, "events", "--since", "last tuesday")
    assert status == 1 and "--since" in err and len(err.splitlines()) == 1


async def test_a_corrupt_database_is_said_and_the_change_still_runs(tmp_path):
    settings = _settings(tmp_path)
    assert settings.history_path is not None
    settings.history_path.parent.mkdir(parents=True)
    settings.history_path.write_bytes(b"garbage, not SQLite" * 500)
    status, out, _ = await _run(settings, "destroy", "web", "--yes")
    assert status == 0 and "destroyed" in out
    status, _, err = await _run(dataclasses.replace(settings), "events")
    assert status == 1 and "corrupt" in err and "runs without history" in err


def test_a_secret_argument_is_never_recorded():
    words = command_words(Command("desc", ("web", "hunter2"), {"title": True}), frozenset({"TEXT"}))
    assert "hunter2" not in words and words == "desc web '***' --title"
