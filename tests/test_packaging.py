"""The distribution's metadata: licence, dependency groups, what the sdist carries."""

from __future__ import annotations

import configparser
import tomllib

from .conftest import ROOT


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_licence_is_mit_with_its_file() -> None:
    metadata = setup_cfg()["metadata"]
    assert metadata["license_expression"] == "MIT"
    assert metadata["license_files"].strip() == "LICENSE"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the pomerium-wsgi authors" in text
    assert not any(c.startswith("License ::") for c in metadata["classifiers"].splitlines())


def test_development_tools_are_a_dependency_group_not_an_extra() -> None:
    """Dev tools live in pyproject.toml's [dependency-groups] dev (PEP 735): an extra
    would be published as ``pomerium-wsgi[dev]``. Move any ``dev =`` extra there."""
    extras = setup_cfg()["options.extras_require"]
    assert "dev" not in extras, "move setup.cfg's dev extra into [dependency-groups] dev"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = pyproject["dependency-groups"]["dev"]
    names = {d.split("[")[0].split(">")[0] for d in dev if isinstance(d, str)}
    assert {"pytest", "mypy", "ruff", "build", "twine"} <= names
    assert {"include-group": "docs"} in dev
    docs = pyproject["dependency-groups"]["docs"]
    listed = [line for line in (ROOT / "docs" / "requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    assert sorted(docs) == sorted(listed)


def test_the_sdist_carries_the_test_suite_and_docs() -> None:
    manifest = (ROOT / "MANIFEST.in").read_text().split()
    for needed in ("LICENSE", "CHANGES.md", "SECURITY.md", "tests", "docs", "examples"):
        assert needed in manifest
