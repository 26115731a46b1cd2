"""docs/cli-reference.md is what the CLI says about itself now."""

from __future__ import annotations

import importlib.util

from tests.docs.examples import REPO


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_reference", REPO / "scripts" / "gen_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current():
    gen = _generator()
    stale = "docs/cli-reference.md is stale: run python scripts/gen_cli_reference.py"
    assert gen.OUT.read_text() == gen.render(), stale


def test_cli_reference_covers_every_command():
    text = (REPO / "docs" / "cli-reference.md").read_text()
    for cmd in ("generate", "edit", "evaluate", "recognize", "retrieve", "render", "export", "represent",
                "train autoencoder", "train coamd", "train recognizer", "train evaluator", "train motionduet",
                "train video-encoder",
                "data build"):
        assert f"## `humo {cmd}`" in text, cmd
