"""Every example in README.md and docs/ runs (see ``tests/docs/examples.py`` for the rules), and every
concrete ``humo ...`` command line in the docs and in the CLI's ``--help`` examples parses."""

from __future__ import annotations

import re
import shlex

import pytest
import typer
import typer.core
import typer.main

from humo.cli.app import get_app
from tests.cli.runner import invoke
from tests.docs.examples import DOC_FILES, REPO, find_examples, inline_humo_commands, link_needs, run_example

EXAMPLES = {p: find_examples(p) for p in DOC_FILES}
FAST = [p for p, exs in EXAMPLES.items() if any(not e.slow and e.not_run is None for e in exs)]
SLOW = [e for exs in EXAMPLES.values() for e in exs if e.slow and e.not_run is None]


def _rel(p) -> str:
    return str(p.relative_to(REPO))


def test_docs_have_examples():
    assert REPO / "docs" / "quickstart.md" in FAST, "the quickstart must have runnable examples"
    assert sum(len(exs) for exs in EXAMPLES.values()) >= 10


@pytest.mark.parametrize("path", FAST, ids=_rel)
def test_doc_examples_run(path, tmp_path, monkeypatch):
    """The fast examples of one file, in order, in one empty folder and one namespace."""
    cwd = tmp_path / "repo"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    namespace: dict = {"__name__": "__docs__"}
    for ex in EXAMPLES[path]:
        if ex.slow or ex.not_run is not None:
            continue
        missing = link_needs(ex, cwd)
        if missing:
            pytest.skip(f"{ex.where} needs {', '.join(missing)} (absent here)")
        run_example(ex, cwd, namespace, invoke)


@pytest.mark.slow
@pytest.mark.parametrize("ex", SLOW, ids=lambda e: e.where)
def test_slow_doc_example_runs(ex, tmp_path, monkeypatch):
    cwd = tmp_path / "repo"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    missing = link_needs(ex, cwd)
    if missing:
        pytest.skip(f"{ex.where} needs {', '.join(missing)} (absent here)")
    run_example(ex, cwd, {"__name__": "__docs__"}, invoke)


def _parse(args: list[str], complete: bool = True):
    """Parse ``humo ARGS`` against the real command tree without running anything; returns the leaf
    command's context (typer ships its own click, hence the duck typing). ``complete=False`` checks
    the command names and the options given, not that required arguments are there."""
    cmd = typer.main.get_command(get_app())
    name, parent = "humo", None
    while True:
        ctx = cmd.make_context(name, list(args), parent=parent, resilient_parsing=not complete)
        if not isinstance(cmd, typer.core.TyperGroup):
            return ctx
        rest = [*ctx._protected_args, *ctx.args]
        if not rest and not complete:  # a mention of a command group (`humo train`)
            return ctx
        name, cmd, args = cmd.resolve_command(ctx, rest)
        parent = ctx


def _help_examples() -> list[tuple[str, str]]:
    """``(command path, example)`` for every ``Example: humo ...`` in the commands' help text."""
    out = []

    def walk(cmd, path):
        for m in re.finditer(r"(humo [^\n]+)", re.sub(r"\\\n\s*", " ", cmd.help or "")):
            out.append((path, m.group(1).rstrip(". "), True))
        if isinstance(cmd, typer.core.TyperGroup):
            for sub_name, sub in cmd.commands.items():
                walk(sub, f"{path} {sub_name}")

    walk(typer.main.get_command(get_app()), "humo")
    return out


COMMAND_LINES = [(f"{_rel(p)}:{n}", c, full) for p in DOC_FILES for n, c, full in inline_humo_commands(p)]


def test_parse_reaches_the_leaf_command_and_rejects_bad_lines():
    ctx = _parse(["train", "coamd", "corpus", "out", "--autoencoder", "ae", "--steps", "3"])
    assert ctx.info_name == "coamd" and ctx.params["steps"] == 3
    for bad in (["generate", "hi", "--no-such-option"], ["train", "coamd", "c", "o", "--steps", "many"],
                ["no-such-command"], ["train", "coamd", "corpus"]):
        with pytest.raises(typer.TyperException):
            _parse(bad)


@pytest.mark.parametrize(("where", "line", "complete"), COMMAND_LINES + _help_examples())
def test_documented_command_lines_parse(where, line, complete):
    try:
        _parse(shlex.split(line)[1:], complete)
    except typer.Exit as e:  # --help / --version: parsed, then exits
        assert e.exit_code == 0, f"{where}: `{line}` exited with {e.exit_code}"
    except typer.TyperException as e:  # bad option, missing argument, wrong type
        pytest.fail(f"{where}: `{line}` does not parse: {getattr(e, 'format_message', e.__str__)()}")
