"""The documentation's links hold: every relative link in the Markdown files points to a file that
exists, every ``#anchor`` names a heading of the file it points to (GitHub's anchors), every page
under docs/ can be reached from the README, and the README stays a short landing page."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 220
FILES = sorted(
    {
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "CHANGELOG.md",
        ROOT / "bench" / "README.md",
        ROOT / "k8s" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    }
)

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target "title") and ![alt](target): the target up to a space or the closing parenthesis
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_TARGET = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
HTML_ID = re.compile(r"""<[a-z][^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.I)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, …


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The file's lines outside fenced code blocks, with inline code removed, numbered from 1."""
    lines, in_fence = [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line)
        if fence:
            if in_fence is None:
                in_fence = fence.group(1)
            elif fence.group(1) == in_fence:
                in_fence = None
            continue
        if in_fence is None:
            lines.append((number, INLINE_CODE.sub("", line)))
    return lines


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in prose_lines(path):
        for pattern in (INLINE_LINK, HTML_TARGET):
            found += [(number, m.group(1)) for m in pattern.finditer(line)]
        ref = REFERENCE_DEF.match(line)
        if ref:
            found.append((number, ref.group(1)))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text as shown (code, emphasis and link syntax dropped),
    lower-case, punctuation dropped (letters, digits, '-', '_' and spaces kept), spaces → '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) → text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)  # _emphasis_, not snake_case
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor GitHub makes for the file: one per heading (a repeated one gets -1, -2, …)
    plus explicit ``id``/``name`` attributes."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    previous = ""
    for _, line in prose_lines(path):
        heading = HEADING.match(line)
        text = heading.group(2) if heading else None
        if text is None and previous.strip() and SETEXT.match(line):
            text = previous.strip()
        if text is not None:
            base = slug(text)
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(m.group(1) for m in HTML_ID.finditer(line))
        previous = line
    return frozenset(found)


def problem(source: Path, target: str) -> str | None:
    """Why ``target`` (as written in ``source``) is broken, or None when it holds."""
    if EXTERNAL.match(target):
        return None
    file_part, _, anchor = target.partition("#")
    dest = (source.parent / unquote(file_part)).resolve() if file_part else source
    if file_part and not dest.exists():
        return f"{dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest} does not exist"
    if anchor and dest.suffix == ".md":
        if unquote(anchor) not in anchors(dest):
            known = ", ".join(sorted(anchors(dest))) or "none"
            return f"no heading with anchor #{anchor} in {dest.relative_to(ROOT)} (it has: {known})"
    return None


def test_the_pages_checked_exist():
    for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md", "bench/README.md"):
        assert (ROOT / name).is_file(), f"{name} is missing"
    assert len(list((ROOT / "docs").glob("*.md"))) >= 5, "the docs/ pages are missing"


@pytest.mark.parametrize("page", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    assert page.is_file(), f"{page.relative_to(ROOT)} is missing"
    broken = []
    for number, target in links(page):
        why = problem(page, target)
        if why:
            broken.append(f"{page.relative_to(ROOT)}:{number}: ({target}): {why}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_docs_page_is_reachable_from_the_readme():
    reached, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in reached:
            continue
        reached.add(page)
        for _, target in links(page):
            file_part = target.partition("#")[0]
            if file_part and not EXTERNAL.match(target):
                dest = (page.parent / unquote(file_part)).resolve()
                if dest.suffix == ".md" and dest.is_file():
                    todo.append(dest)
    orphans = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md") if p.resolve() not in reached
    )
    assert not orphans, f"no link leads from README.md to: {', '.join(orphans)}"


def test_readme_is_a_short_landing_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines, more than {README_MAX_LINES}: move the details to a page "
        "under docs/ and link it"
    )


@pytest.mark.parametrize(
    "heading, anchor",
    [
        (
            "Where the time goes: server, model and path time",
            "where-the-time-goes-server-model-and-path-time",
        ),
        ("4. Capacity from inside the cluster", "4-capacity-from-inside-the-cluster"),
        ("`tfcompare run` options", "tfcompare-run-options"),
        (
            "Capacity from inside the cluster (`tfcompare load --in-cluster`)",
            "capacity-from-inside-the-cluster-tfcompare-load---in-cluster",
        ),
        ("Pointing it at your backends", "pointing-it-at-your-backends"),
        ("TLS, headers and timeouts", "tls-headers-and-timeouts"),
        (
            "Qt: “could not load the Qt platform plugin xcb”",
            "qt-could-not-load-the-qt-platform-plugin-xcb",
        ),
        ("snake_case and _emphasis_", "snake_case-and-emphasis"),
    ],
)
def test_anchors_follow_githubs_rules(heading, anchor):
    assert slug(heading) == anchor
