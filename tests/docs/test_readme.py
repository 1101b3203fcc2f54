"""README.md is the landing page and the package's long description on the index."""

from __future__ import annotations

import configparser
import re

from ..conftest import ROOT
from .conftest import DOCS

DOCS_URL = "https://pomerium-wsgi.readthedocs.io/en/latest/"
SOURCE_URL = "https://github.com/pomerium-wsgi/pomerium-wsgi"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_at_most_300_lines() -> None:
    assert len(readme().splitlines()) <= 300


def test_links_are_absolute() -> None:
    """Relative links break on the package index, where the README is the description."""
    links = LINK.findall(readme())
    assert len(links) >= 10
    relative = [link for link in links if not link.startswith(("https://", "#"))]
    assert not relative, relative


def test_links_into_the_site_name_pages_that_exist() -> None:
    pages = [link[len(DOCS_URL):] for link in LINK.findall(readme())
             if link.startswith(DOCS_URL) and link != DOCS_URL]
    assert {"getting-started.html", "flask.html", "troubleshooting.html"} <= set(pages)
    for target in pages:
        assert target.endswith(".html") and (DOCS / target.replace(".html", ".md")).is_file(), \
            target


def test_links_into_the_repository_name_files_that_exist() -> None:
    for link in LINK.findall(readme()):
        if link.startswith(SOURCE_URL + "/blob/main/") or link.startswith(
                SOURCE_URL + "/tree/main/"):
            path = link.split("/main/", 1)[1]
            assert (ROOT / path).exists(), link


def test_project_urls_are_the_readme_s() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    urls = dict(line.split(" = ", 1) for line in
                config["metadata"]["project_urls"].strip().splitlines())
    assert urls == {"Documentation": DOCS_URL, "Source": SOURCE_URL,
                    "Changelog": DOCS_URL + "changelog.html", "Issues": SOURCE_URL + "/issues"}
    for url in urls.values():
        assert url in readme()


def test_mentions_the_two_commands() -> None:
    text = readme()
    assert "$ ./scripts/demo" in text and "$ ./scripts/test" in text
    for script in ("demo", "test"):
        assert (ROOT / "scripts" / script).stat().st_mode & 0o111


def test_the_install_line_names_every_extra() -> None:
    """A newcomer picks an extra from the README's install block: each one listed there
    exists, and the shipped adapters' are all there (Django had been left out)."""
    install = readme().split("## Install", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"\[(\w+)\]", install))
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    extras = set(config["options.extras_require"])
    assert named <= extras
    assert {"flask", "bottle", "pyramid", "django", "redis", "all"} <= named
