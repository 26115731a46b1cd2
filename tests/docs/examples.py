"""Find the examples in README.md and docs/ and run them (used by ``test_examples.py``).

An example is a fenced ``python`` or ``bash`` block. An HTML comment on the line before a block steers it:

* ``<!-- example: slow -->``: runs only with ``-m slow`` (minutes of CPU), in its own empty folder;
* ``<!-- example: needs PATH ... -->``: paths (relative to the repository root, ``../shared/...`` too) the
  block reads; they are linked into its folder, and the test skips, naming them, where they are absent;
* ``<!-- example: not run: REASON -->``: never run by the tests (a multi-GPU launch, a job of an hour
  or more whose output the page shows); the reason is in the page. Its ``humo`` lines are still parsed.

The blocks of one file that are neither slow nor ``not run`` run in order in one folder and one Python
namespace, as a reader would type them. In ``bash`` blocks, ``pip install`` (the environment the tests
already run in) and ``python -m pytest`` (this very run) are left out; ``humo ...`` runs in-process
through Typer's runner; anything else runs in a shell. Generated ``docs/api.md`` has signatures, not
examples, and is not scanned.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC_FILES = [REPO / "README.md"] + sorted(p for p in (REPO / "docs").rglob("*.md") if p.name != "api.md")

_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*example:\s*(.*?)\s*-->\s*$")


@dataclass
class Example:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    slow: bool = False
    needs: list[str] = field(default_factory=list)
    not_run: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def parse_directive(text: str, ex: Example) -> None:
    for part in (p.strip() for p in text.split(";")):
        if part == "slow":
            ex.slow = True
        elif part.startswith("needs "):
            ex.needs += part[len("needs "):].split()
        elif part.startswith("not run:"):
            ex.not_run = part[len("not run:"):].strip()
        elif part:
            raise ValueError(f"{ex.where}: unknown example directive {part!r}")


def find_examples(path: Path) -> list[Example]:
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j == len(lines):
            raise ValueError(f"{path}:{start + 1}: unclosed code fence")
        if lang in ("python", "bash"):
            ex = Example(path, start + 1, lang, "\n".join(lines[start + 1:j]) + "\n")
            d = _DIRECTIVE.match(lines[start - 1]) if start else None
            if d:
                parse_directive(d.group(1), ex)
            out.append(ex)
        i = j + 1
    return out


def shell_commands(code: str) -> list[str]:
    """Join ``\\`` continuations, drop comments and blank lines, split ``&&`` chains."""
    joined = re.sub(r"\\\n\s*", " ", code)
    cmds = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            cmds += [c.strip() for c in line.split("&&")]
    return cmds


def inline_humo_commands(path: Path) -> list[tuple[int, str, bool]]:
    """Concrete ``humo ...`` command lines in inline code and bash blocks (synopses with ``[``, ``|``,
    ``...`` or CAPITAL placeholders are left out): ``[(line, command, complete)]``; ``complete`` is
    False for inline mentions of a command by name (no option, no quoted text), whose required
    arguments are not checked."""
    out = []
    for ex in find_examples(path):
        if ex.lang == "bash":
            out += [(ex.line, c, True) for c in shell_commands(ex.code) if c.startswith("humo ")]
    prose = re.sub(r"^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), path.read_text(),
                   flags=re.S | re.M)  # fenced blocks blanked, line numbers kept
    for m in re.finditer(r"`(humo [^`]+)`", prose):
        cmd = " ".join(m.group(1).replace("\\|", "|").split())  # inline code may wrap lines
        if not (any(s in cmd for s in ("[", "|", "...")) or re.search(r"(^| )[A-Z][A-Z_]+( |$)", cmd)):
            line = prose.count("\n", 0, m.start()) + 1  # (placeholders: a synopsis)
            out.append((line, cmd, "--" in cmd or '"' in cmd))
    return out


def link_needs(ex: Example, cwd: Path) -> list[str]:
    """Link ``ex.needs`` into ``cwd`` (same relative layout as from the repository root); returns the
    paths that are missing."""
    missing = [p for p in ex.needs if not (REPO / p).exists()]
    if missing:
        return missing
    for p in ex.needs:
        dst = cwd / p
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            dst.symlink_to((REPO / p).resolve())
    return []


def run_example(ex: Example, cwd: Path, namespace: dict, invoke) -> None:
    """Run one example in ``cwd`` (the caller chdirs); ``invoke(args)`` runs the humo app."""
    if ex.lang == "python":
        exec(compile(ex.code, ex.where, "exec"), namespace)  # noqa: S102 - running the docs is the point
        return
    for cmd in shell_commands(ex.code):
        if cmd.startswith("pip install") or cmd.startswith("python -m pytest"):
            continue
        if cmd.startswith("humo "):
            result = invoke(shlex.split(cmd)[1:])
            assert result.exit_code == 0, f"{ex.where}: `{cmd}` failed:\n{result.output}\n{result.exception!r}"
        else:
            proc = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True)
            assert proc.returncode == 0, f"{ex.where}: `{cmd}` failed:\n{proc.stdout}\n{proc.stderr}"
