"""The README and the pages of `docs/` hold: their Python examples run as written, and every
link to a file of the repository (and to a heading of a Markdown page) leads somewhere.

Each ```python block is executed in a fresh process from a folder that holds the repository's
`assets/`, so its relative paths resolve and what it writes stays out of the checkout. The API
example talks to a real demo server, whose address replaces the page's default one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from app_server import LIMITS, serving

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINKED_FROM = [*PAGES, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
DEFAULT_URL = "http://127.0.0.1:7860/"
# [text](target) outside code; images too. External addresses and mail are not checked here.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


BLOCKS = [
    pytest.param(code, id=f"{page.relative_to(ROOT)}-{i}")
    for page in PAGES
    for i, code in enumerate(python_blocks(page))
]


def run_block(code: str, folder: Path) -> subprocess.CompletedProcess:
    (folder / "assets").symlink_to(ROOT / "assets")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True
    )


def test_the_pages_have_the_examples_this_file_runs():
    assert len(python_blocks(README)) >= 1
    assert len(BLOCKS) >= 3
    assert sum(DEFAULT_URL in block.values[0] for block in BLOCKS) == 1


def test_the_readme_is_a_front_page():
    assert len(README.read_text().splitlines()) <= 300


@pytest.mark.slow
@pytest.mark.parametrize("code", BLOCKS)
def test_python_block_runs(code, tmp_path):
    if DEFAULT_URL in code:
        with serving(LIMITS, tmp_path / "outputs") as url:
            done = run_block(code.replace(DEFAULT_URL, url), tmp_path)
    else:
        done = run_block(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


def anchor(heading: str) -> str:
    """The anchor a Markdown heading gets: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    return {anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def local_links(page: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in local_links(page):
        path, _, fragment = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(target)
        elif fragment and where.suffix == ".md" and fragment not in anchors(where):
            broken.append(target)
    return broken


@pytest.mark.parametrize("page", LINKED_FROM, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_local_link_leads_somewhere(page):
    assert page.exists()
    assert broken_links(page) == []


def test_the_link_check_finds_a_broken_link(tmp_path):
    """The check can fail: a missing file and a missing heading are both reported."""
    (tmp_path / "other.md").write_text("# A heading: with punctuation, 1.3B\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-heading-with-punctuation-13b) [gone](missing.md) "
        "[no heading](other.md#nowhere) [web](https://example.org/x) `[code](not-a-link.md)`\n"
    )
    assert broken_links(page) == ["missing.md", "other.md#nowhere"]


def test_the_readme_links_every_page_of_the_docs():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in local_links(README)}
    pages = set((ROOT / "docs").glob("*.md"))
    assert {p.resolve() for p in pages} <= linked
