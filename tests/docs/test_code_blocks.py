"""Code in the documentation is tested code.

The pages show Python only through ``{literalinclude}`` of ``docs/snippets/`` files, the
README's Python blocks are verbatim copies of those files, and every snippet is both
shown somewhere and driven by a test here. So no example can be shown without running.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from ..conftest import ROOT
from .conftest import DOCS, SNIPPETS

FENCE = re.compile(r"^(`{3,}|~{3,})\s*(\{[\w-]+\})?\s*(\S*)[^\n]*\n(.*?)^\1\s*$",
                   re.MULTILINE | re.DOTALL)
PYTHON = {"python", "py", "python3", "pycon", "ipython", "ipython3"}
PAGES = sorted(DOCS.glob("*.md"))
SNIPPET_FILES = sorted(p for p in SNIPPETS.iterdir() if p.suffix in {".py", ".ini"})


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(directive, language or argument, body) of each fenced block."""
    return [(d or "", lang, body) for _, d, lang, body in FENCE.findall(text)]


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_no_page_has_an_untested_python_block(path: pathlib.Path) -> None:
    for directive, language, body in blocks(path.read_text(encoding="utf-8")):
        if directive in ("", "{code-block}", "{code}", "{sourcecode}"):
            assert language.lower() not in PYTHON, (
                f"{path.name}: a {language} block that is not a literalinclude of "
                f"docs/snippets/ (move the code to a snippet file and test it):\n{body}")
        if directive == "{eval-rst}":
            assert not re.search(r"\.\. (code-block|code|sourcecode)::\s*py", body), path.name
            assert "::\n" not in body.replace(".. automodule::", ""), path.name


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_every_literalinclude_names_a_snippet(path: pathlib.Path) -> None:
    for directive, target, _ in blocks(path.read_text(encoding="utf-8")):
        if directive == "{literalinclude}":
            assert target.startswith("snippets/"), f"{path.name}: {target}"
            assert (DOCS / target).is_file(), f"{path.name}: no {target}"


def test_the_block_finder_sees_fences() -> None:
    sample = "x\n```python\nprint(1)\n```\n\n```{literalinclude} snippets/a.py\n:lines: 2\n```\n"
    assert blocks(sample) == [("", "python", "print(1)\n"),
                              ("{literalinclude}", "snippets/a.py", ":lines: 2\n")]


def shown_snippets() -> set[str]:
    shown = set()
    for path in PAGES:
        for directive, target, _ in blocks(path.read_text(encoding="utf-8")):
            if directive == "{literalinclude}":
                shown.add(pathlib.Path(target).name)
    return shown


@pytest.mark.parametrize("snippet", SNIPPET_FILES, ids=[p.name for p in SNIPPET_FILES])
def test_every_snippet_is_shown_and_tested(snippet: pathlib.Path) -> None:
    assert snippet.name in shown_snippets(), f"{snippet.name} is on no page"
    tests = "".join(p.read_text() for p in pathlib.Path(__file__).parent.glob("test_*.py")
                    if p.name != pathlib.Path(__file__).name)
    assert snippet.stem in tests or snippet.name in tests, f"no test drives {snippet.name}"


def readme_blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [body for d, lang, body in blocks(text) if not d and lang in language.split()]


def is_copy(block: str, files: list[pathlib.Path]) -> bool:
    """Whether *block* is a contiguous run of whole lines of one of *files*."""
    want = block.rstrip("\n").splitlines()
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        for start in range(len(lines) - len(want) + 1):
            if lines[start:start + len(want)] == want:
                return True
    return False


def test_readme_python_blocks_are_snippet_copies() -> None:
    found = readme_blocks("python py python3")
    assert len(found) >= 5
    py_files = [p for p in SNIPPET_FILES if p.suffix == ".py"]
    for block in found:
        assert is_copy(block, py_files), f"README block is no docs/snippets copy:\n{block}"


def test_readme_ini_blocks_are_snippet_copies() -> None:
    found = readme_blocks("ini")
    assert found
    for block in found:
        assert is_copy(block, [p for p in SNIPPET_FILES if p.suffix == ".ini"]), block


def test_the_copy_check_refuses_an_edited_block() -> None:
    snippet = SNIPPETS / "flask_quickstart.py"
    lines = snippet.read_text().splitlines()
    assert is_copy("\n".join(lines[2:6]), [snippet])
    assert not is_copy("\n".join([*lines[2:5], lines[5] + " # edited"]), [snippet])
