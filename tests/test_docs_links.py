"""The project documents itself: every link of the README points at a file of this repository,
and every relative link of ``docs/`` resolves."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# [text](target), the target possibly broken over a line as Markdown allows.
LINK = re.compile(r"\]\(\s*([^)\s]+)\s*\)")


def _links(path):
    return [m.group(1) for m in LINK.finditer(path.read_text(encoding="utf-8"))]


def test_readme_links_stay_inside_the_repository():
    links = _links(ROOT / "README.md")
    assert links, "the README links its docs"
    outside = [t for t in links if re.match(r"[a-z][a-z0-9+.-]*:", t) or t.startswith("/")]
    assert not outside, f"README links leave the repository: {outside}"
    missing = [t for t in links if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


@pytest.mark.parametrize("page", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_relative_links_of_the_docs_resolve(page):
    relative = [t for t in _links(page) if not re.match(r"[a-z][a-z0-9+.-]*:", t)
                and not t.startswith("#")]
    missing = [t for t in relative if not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.name} links to files that do not exist: {missing}"


def test_docs_cover_the_architecture_the_hub_format_and_the_adapters():
    for name in ("architecture.md", "hub.md", "adapters.md"):
        assert (ROOT / "docs" / name).stat().st_size > 2000, name
