"""Segment files written by someone who means harm, or by an editor that leaves files
behind: what the loader refuses, and what it never reads (attack review F1, F7, F8, F15,
F17). Each problem is one line naming file and key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.config import Config
from bridge.errors import ConfigError
from bridge.segments.loader import load_segments

CFG = Config()
SECRET = "MAGENTO_TOKEN=s3cr3t-from-outside"
GOOD = "<p>hello</p>"
BLOCK_SEGMENT = """code = "{code}"
priority = {priority}
[conditions]
rules = [{{ attribute = "sales.orders_count", operator = ">=", value = 1 }}]
[group]
code = "G {code}"
[[cms_blocks]]
identifier = "hero"
content_file = "{content_file}"
"""


def problems_of(d: Path) -> list[str]:
    """The loader's problems, with the folder taken off each file name."""
    with pytest.raises(ConfigError) as exc:
        load_segments(d, CFG)
    return [p.removeprefix(f"{d}/") for p in exc.value.problems]


def segment(code: str, priority: int = 1, **top: str) -> str:
    """A small valid segment file; ``top`` and ``group``/``rule`` override names."""
    lines = [f'code = "{code}"', f"priority = {priority}"]
    lines += [f"{k} = {v}" for k, v in top.items() if k not in ("group", "rule")]
    lines += [
        "[conditions]",
        'rules = [{ attribute = "sales.orders_count", operator = ">=", value = 1 }]',
        "[group]",
        "code = " + top.get("group", f'"G {code}"'),
    ]
    if "rule" in top:
        lines += [
            "[[cart_rules]]",
            f"name = {top['rule']}",
            'simple_action = "by_percent"',
            "discount_amount = 10",
        ]
    return "\n".join(lines) + "\n"


# --- F1: content_file read through one descriptor -----------------------------------------

FLIPPER = r"""
import os, sys, time
mode, mappings, outside = sys.argv[1:4]
blocks = os.path.join(mappings, "blocks")
target = os.path.join(blocks, "hero.html")
deadline = time.monotonic() + 60  # never outlives a stuck test
open(os.path.join(mappings, "flipping"), "w").close()
while time.monotonic() < deadline:
    if mode == "file":
        # a link out, then a fresh regular file inside (one name: not a hard link)
        link, regular = os.path.join(blocks, ".l"), os.path.join(blocks, ".r")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.join(outside, "hero.html"), link)
        os.replace(link, target)
        with open(regular, "w") as fh:
            fh.write("<p>hello</p>")
        os.replace(regular, target)
    else:
        # the folder on the way swapped for a link to a folder outside, then back
        os.rename(blocks, blocks + ".away")
        os.symlink(outside, blocks)
        os.unlink(blocks)
        os.rename(blocks + ".away", blocks)
"""


@pytest.mark.parametrize("mode", ["file", "dir"])
def test_a_link_swapped_in_while_loading_never_publishes_the_outside_file(
    tmp_path: Path, mode: str
) -> None:
    """F1: blocks/hero.html (or the blocks folder) flips between the real thing inside the
    mappings folder and a link to a secret outside it, in another process, while the
    loader loads 3,000 times (at most ~10 s). Checking the path and then opening it again
    published the secret in 0.25–1 % of the loads; now every load gives the block or a
    refusal."""
    d = tmp_path / "mappings"
    (d / "blocks").mkdir(parents=True)
    (d / "blocks" / "hero.html").write_text(GOOD, encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "hero.html").write_text(SECRET, encoding="utf-8")
    (d / "s.toml").write_text(
        BLOCK_SEGMENT.format(code="s", priority=1, content_file="blocks/hero.html"),
        encoding="utf-8",
    )
    flipper = subprocess.Popen(
        [sys.executable, "-c", FLIPPER, mode, str(d), str(outside)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    counts = {"secret": 0, "ok": 0, "refused": 0}
    try:
        started = time.monotonic()
        while not (d / "flipping").exists():
            assert time.monotonic() - started < 10, "the flipper did not start"
            time.sleep(0.01)
        started = time.monotonic()
        for _ in range(3000):
            if time.monotonic() - started > 10:
                break
            try:
                segments = load_segments(d, CFG)
            except ConfigError as exc:
                assert not any("s3cr3t" in p for p in exc.problems)
                counts["refused"] += 1
                continue
            content = segments[0].cms_blocks[0].content
            counts["secret" if "s3cr3t" in content else "ok"] += 1
            assert content == GOOD
        elapsed = time.monotonic() - started
    finally:
        flipper.kill()
        flipper.wait()
    assert counts["secret"] == 0, counts
    # the race really ran: some loads saw the file, some the link
    assert counts["ok"] > 0 and counts["refused"] > 0, counts
    assert elapsed < 12, elapsed


def test_a_hard_link_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    """F1: a hard link to a file the daemon can read (its .env) is the secret's own inode:
    no path check sees it. A content_file with more than one name is refused."""
    d = tmp_path / "mappings"
    d.mkdir()
    (tmp_path / ".env").write_text(SECRET + "\n", encoding="utf-8")
    os.link(tmp_path / ".env", d / "hero.html")
    (d / "own.html").write_text(GOOD, encoding="utf-8")
    (d / "s.toml").write_text(
        BLOCK_SEGMENT.format(code="s", priority=1, content_file="hero.html"), encoding="utf-8"
    )
    (d / "t.toml").write_text(
        BLOCK_SEGMENT.format(code="t", priority=2, content_file="own.html"), encoding="utf-8"
    )
    assert problems_of(d) == [
        's.toml: cms_blocks[0].content_file: "hero.html": is a hard link (the file has 2 '
        "names, perhaps one outside the mappings folder): give a file of its own"
    ]
    (d / "s.toml").unlink()
    assert load_segments(d, CFG)[0].cms_blocks[0].content == GOOD


# --- F7: codes and names that read like another -------------------------------------------

def test_group_codes_and_rule_names_that_look_like_another_are_refused(tmp_path: Path) -> None:
    """F7: "Retailer " (and a zero-width space, a right-to-left override, a tab, a no-break
    space) shows in Magento's admin exactly like the merchant's "Retailer": the push would
    make a look-alike group (on MySQL, refused on every push). Refused, saying why."""
    cases = {
        "trailing": '"Retailer "',
        "leading": '" VIP"',
        "tab": '"VIP\\t"',
        "zw": '"VIP\\u200b"',
        "rtl": '"\\u202ePIV"',
        "nbsp": '"Big\\u00a0Cart"',
        "linesep": '"Big\\u2028Cart"',
    }
    for i, (code, group) in enumerate(cases.items(), 1):
        (tmp_path / f"{code}.toml").write_text(segment(code, i, group=group), encoding="utf-8")
    (tmp_path / "rule.toml").write_text(
        segment("rule", 20, rule='"VIP\\n10% off"'), encoding="utf-8"
    )
    (tmp_path / "fine.toml").write_text(
        segment("fine", 21, group='"Big Cart"', rule='"Big Cart 10% off"'), encoding="utf-8"
    )
    (tmp_path / "hero.html").write_text(GOOD, encoding="utf-8")
    (tmp_path / "code.toml").write_text(
        BLOCK_SEGMENT.format(code="vip\\u200b", priority=22, content_file="hero.html"),
        encoding="utf-8",
    )
    (tmp_path / "slot.toml").write_text(
        BLOCK_SEGMENT.format(code="slot", priority=23, content_file="hero.html").replace(
            '"hero"', '"he\\u200bro"'
        ),
        encoding="utf-8",
    )
    shows = "which Magento's admin shows as nothing or as a plain space"
    edge = "begins or ends with white space, which Magento's admin does not show"
    assert sorted(problems_of(tmp_path)) == sorted([
        f'code.toml: code: "vip\\u200b" contains \\u200b ZERO WIDTH SPACE at position 4, '
        f'{shows}: it would read like the segment "vip"',
        f'code.toml: group.code: "G vip\\u200b" contains \\u200b ZERO WIDTH SPACE at position '
        f'6, {shows}: it would read like the group "G vip"',
        f'slot.toml: cms_blocks[0].identifier: "he\\u200bro" contains \\u200b ZERO WIDTH SPACE '
        f'at position 3, {shows}: it would read like the block "hero"',
        f'leading.toml: group.code: " VIP" {edge}: it would read like the group "VIP"',
        f'linesep.toml: group.code: "Big\\u2028Cart" contains \\u2028 LINE SEPARATOR at '
        f'position 4, {shows}: it would read like the group "Big Cart"',
        f'nbsp.toml: group.code: "Big\\xa0Cart" contains \\u00a0 NO-BREAK SPACE at position 4, '
        f'{shows}: it would read like the group "Big Cart"',
        f'rtl.toml: group.code: "\\u202ePIV" contains \\u202e RIGHT-TO-LEFT OVERRIDE at '
        f'position 1, {shows}: it would read like the group "PIV"',
        f'rule.toml: cart_rules[0].name: "VIP\\n10% off" contains \\u000a a control character '
        f'at position 4, {shows}: it would read like the cart rule "VIP10% off"',
        f'tab.toml: group.code: "VIP\\t" {edge}: it would read like the group "VIP"',
        f'trailing.toml: group.code: "Retailer " {edge}: it would read like the group '
        '"Retailer"',
        f'zw.toml: group.code: "VIP\\u200b" contains \\u200b ZERO WIDTH SPACE at position 4, '
        f'{shows}: it would read like the group "VIP"',
    ])


# --- F8: personal data typed with any dash, space or invisible character ------------------

def test_personal_data_behind_unicode_dashes_spaces_and_invisible_characters(
    tmp_path: Path,
) -> None:
    """F8: phones typed with an en dash (autocorrect), no-break spaces (a copy from a web
    page), zero-width spaces or underscores, and emails with a full-width ＠ or without a
    dot-TLD passed the personal-data check. ISO dates stay allowed."""
    names = {
        "endash": "Call 070\u2013123\u20134567",
        "spaced_endash": "Call 070 \u2013 123 \u2013 4567",
        "nbsp": "Call 070\u00a0123\u00a04567",
        "thin": "Call 070\u2009123\u20094567",
        "zw": "Call 070\u200b123\u200b4567",
        "underscore": "Call 070_123_4567",
        "minus": "Call 070\u2212123\u22124567",
        "fullwidth_at": "jane.doe\uff20example.com",
        "no_tld": "jane.doe@localhost",
    }
    for i, (code, name) in enumerate(names.items(), 1):
        (tmp_path / f"{code}.toml").write_text(
            segment(code.replace("_", "-"), i, name=json.dumps(name)), encoding="utf-8"
        )
    (tmp_path / "dates.toml").write_text(
        segment("dates", 30, name='"Spring 2026-03-01 to 2026\\u201004\\u201030, from 1999"'),
        encoding="utf-8",
    )
    tail = "; it shows in Magento's admin and pages, so personal data does not belong here"
    phone = "contains a phone-like number (7 or more digits)" + tail
    email = "contains an email address" + tail
    emails = ("fullwidth_at", "no_tld")
    assert sorted(problems_of(tmp_path)) == sorted(
        f"{code}.toml: name: {email if code in emails else phone}" for code in names
    )


# --- F15: editor files, and files named as found --------------------------------------------

def test_editor_and_hidden_files_are_not_segment_files(tmp_path: Path) -> None:
    """F15: Emacs leaves .#vip.toml (a dangling link to "user@host.pid") while vip.toml is
    edited; it stopped every run with a line naming the link's target. Hidden files,
    swap files and backups are not segment files."""
    (tmp_path / "vip.toml").write_text(segment("vip"), encoding="utf-8")
    (tmp_path / ".#vip.toml").symlink_to("admin@laptop.12345:1700000000")
    (tmp_path / ".vip.toml.swp").write_bytes(b"\x00\x01swap")
    (tmp_path / ".hidden.toml").write_text("not toml [", encoding="utf-8")
    (tmp_path / "vip.toml~").write_text("not toml [", encoding="utf-8")
    (tmp_path / "~vip.toml").write_text("not toml [", encoding="utf-8")
    assert [s.code for s in load_segments(tmp_path, CFG)] == ["vip"]


def test_a_problem_names_the_file_as_found_not_a_links_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F15: mappings/a.toml -> ../secret.toml was reported as "secret.toml: …", and a
    dangling link by its target: the line names the file in the folder."""
    monkeypatch.chdir(tmp_path)  # names are shown relative to the working folder
    d = tmp_path / "mappings"
    d.mkdir()
    (tmp_path / "elsewhere.toml").write_text("not toml [", encoding="utf-8")
    (d / "a.toml").symlink_to(tmp_path / "elsewhere.toml")
    (d / "b.toml").symlink_to("user@host.42:1700000000")
    with pytest.raises(ConfigError) as exc:
        load_segments(d, CFG)
    problems = exc.value.problems
    assert [p.split(":", 1)[0] for p in problems] == ["mappings/a.toml", "mappings/b.toml"]
    assert "cannot read: No such file or directory" in problems[1]
    assert not any("elsewhere" in p or "user@host" in p for p in problems)


# --- F17: "did you mean" tells look-alikes apart --------------------------------------------

def test_did_you_mean_shows_look_alike_characters_escaped(tmp_path: Path) -> None:
    """F17: "sаles.amount" with a Cyrillic а printed exactly like its suggestion; the
    line now spells the odd character out."""
    (tmp_path / "t.toml").write_text(
        'code = "t"\n[conditions]\nrules = [\n'
        '  { attribute = "s\\u0430les.amount", operator = ">=", value = 1 },\n'
        '  { attribute = "sales.amount\\u200b", operator = ">=", value = 1 },\n'
        '  { attribute = "sales.amout", operator = ">=", value = 1 },\n]\n',
        encoding="utf-8",
    )
    tail = "(`segbridge attributes` lists them; see docs/segments.md)"
    assert problems_of(tmp_path) == [
        't.toml: conditions.rules[0].attribute: "sаles.amount" is not an attribute; did you '
        'mean "sales.amount"? ("s\\u0430les.amount" has \\u0430 CYRILLIC SMALL LETTER A) '
        + tail,
        't.toml: conditions.rules[1].attribute: "sales.amount\\u200b" is not an attribute; '
        'did you mean "sales.amount"? ("sales.amount\\u200b" has \\u200b ZERO WIDTH SPACE) '
        + tail,
        't.toml: conditions.rules[2].attribute: "sales.amout" is not an attribute; did you '
        'mean "sales.amount"? ' + tail,
    ]


def test_check_online_did_you_mean_tells_a_homoglyph_group_apart() -> None:
    """F17: `push.movable_groups: 'Generаl' is not a customer group of the shop (did you
    mean 'General'?)` printed two identical names."""
    from bridge.checks import did_you_mean

    assert did_you_mean("Gener\u0430l", ["General", "Wholesale"]) == (
        " (did you mean 'General'? 'Gener\\u0430l' has \\u0430 CYRILLIC SMALL LETTER A)"
    )
    assert did_you_mean("Retailer\u200b", ["Retailer"]) == (
        " (did you mean 'Retailer'? 'Retailer\\u200b' has \\u200b ZERO WIDTH SPACE)"
    )
    assert did_you_mean("Generl", ["General"]) == " (did you mean 'General'?)"
