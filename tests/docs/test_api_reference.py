"""docs/api.md is generated from the docstrings (scripts/gen_api_reference.py) and kept in sync here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_api_reference.py"
API_MD = REPO / "docs" / "api.md"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_api_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def sections(gen):
    return gen.collect()


def test_api_reference_is_up_to_date(gen, sections):
    expected = gen.render(sections)
    current = API_MD.read_text(encoding="utf-8") if API_MD.is_file() else ""
    assert current == expected, (
        "docs/api.md is out of date with the docstrings: run `python scripts/gen_api_reference.py` "
        "and commit the result"
    )


def test_every_listed_class_and_function_has_a_docstring(gen, sections):
    listed = gen.documented_objects(sections)
    assert len(listed) > 100  # the walk found the API (a broken import or filter would empty it)
    missing = [f"{e.qualname} ({e.kind})" for e in listed if not gen.own_doc(e.obj)]
    assert not missing, "public API without a docstring:\n  " + "\n  ".join(missing)


def test_reference_covers_every_package_in_order(gen, sections):
    tops = [s.module for s in sections if s.module in gen.PACKAGES]
    assert tops == list(gen.PACKAGES)
    assert not any(s.module.startswith("humo.cli") for s in sections)
    modules = [s.module for s in sections]
    assert len(modules) == len(set(modules))


def test_rendering_is_deterministic_and_address_free(gen, sections):
    text = gen.render(sections)
    assert text == gen.render(gen.collect())
    assert " at 0x" not in text
    assert text.startswith("# humo API reference\n")
    assert "python scripts/gen_api_reference.py" in text.split("## Contents", 1)[0]


def test_check_mode_reports_staleness(gen, tmp_path, monkeypatch, capsys):
    stale = tmp_path / "api.md"
    stale.write_text("stale\n", encoding="utf-8")
    monkeypatch.setattr(gen, "OUTPUT", stale)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main(["--check"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "python scripts/gen_api_reference.py" in err
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
