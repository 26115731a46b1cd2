"""Generate ``docs/api.md``, the humo API reference, from the code's own docstrings.

    python scripts/gen_api_reference.py           # (re)write docs/api.md
    python scripts/gen_api_reference.py --check   # exit 1 if docs/api.md is out of date

What is documented, per top-level package (in the order of :data:`PACKAGES`):

* a package with ``__all__``: exactly those names, grouped under the submodule that defines them;
* a package without ``__all__``: every public submodule (``pkgutil``, names not starting with ``_``),
  recursively; in each, the classes and functions it defines (``obj.__module__`` is that module) and
  its UPPERCASE dict / tuple constants (by name: keys or items, not values). A module with its own
  ``__all__`` is restricted to those names.

Classes get their constructor signature, their docstring and their public methods / properties
(``__call__`` included) defined on the class itself. Members inherited from undocumented humo bases,
and public members of third-party mixins (e.g. ``save_pretrained`` / ``from_pretrained`` of
``huggingface_hub``'s mixin, on ``HubModel``), are documented on the humo class that inherits them.

Only the standard library and humo are used; nothing is run beyond importing the modules (no CUDA, no
weights). The output is deterministic: ``__all__`` or source order, memory addresses stripped.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import enum
import importlib
import inspect
import pkgutil
import re
import sys
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "api.md"
PACKAGES = ("humo.representations", "humo.data", "humo.metrics", "humo.models", "humo.guidance",
            "humo.schedulers", "humo.pipelines", "humo.training", "humo.viz", "humo.motion")
SKIP_MODULES = ("humo.cli",)  # the CLI has its own reference, docs/cli.md + docs/cli-reference.md
COMMAND = "python scripts/gen_api_reference.py"
# Bases whose members are never documented on humo classes (torch.nn.Module, object, Enum, tuple, ...).
_FOREIGN_ROOTS = frozenset(sys.stdlib_module_names) | {"builtins", "torch", "numpy"}
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_WRAP = 100  # signatures longer than this get one parameter per line


@dataclasses.dataclass
class Entry:
    """One documented object: a function, a class or a constant (``kind``), as ``module.name``."""

    kind: str
    name: str
    module: str
    obj: object
    source_name: str = ""  # the name a constant has in its defining module, when re-exported under another

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclasses.dataclass
class Section:
    """One ``## module`` heading: the module, the first paragraph of its docstring and its entries."""

    module: str
    doc: str
    entries: list[Entry]


# --------------------------------------------------------------------------------------------- helpers


def first_paragraph(doc: str | None) -> str:
    """The first blank-line-separated paragraph of a cleaned docstring ("" for none)."""
    if not doc:
        return ""
    return inspect.cleandoc(doc).split("\n\n", 1)[0].strip()


def own_doc(obj) -> str:
    """``obj``'s own docstring, cleaned: never inherited, and never the one dataclasses / namedtuple invent."""
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        obj = obj.fget
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return ""
    if isinstance(obj, type):
        auto = set()
        if dataclasses.is_dataclass(obj):
            try:
                auto.add(obj.__name__ + str(inspect.signature(obj)).replace(" -> None", ""))
            except (TypeError, ValueError):
                pass
        fields = getattr(obj, "_fields", None)
        if isinstance(fields, tuple):
            auto.add(f"{obj.__name__}({', '.join(fields)})")
        if doc.strip() in auto:
            return ""
    return inspect.cleandoc(doc)


def is_public(name: str) -> bool:
    return not name.startswith("_")


def is_humo(obj) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == "humo" or module.startswith("humo.")


def _root(module: str | None) -> str:
    return (module or "builtins").split(".", 1)[0]


def assigned_names(module) -> dict[str, str]:
    """Top-level names a module assigns (not imports), with the attribute docstring that follows each."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return {}
    names: dict[str, str] = {}
    body = tree.body
    for i, node in enumerate(body):
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        else:
            continue
        doc = ""
        nxt = body[i + 1] if i + 1 < len(body) else None
        if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
            doc = inspect.cleandoc(nxt.value.value)
        for name in targets:
            names[name] = doc
    return names


def is_constant_name(name: str) -> bool:
    return is_public(name) and name.upper() == name and any(c.isalpha() for c in name)


def public_path(cls: type) -> str:
    """The shortest importable dotted path of a class (``torch.nn.Module``, ``humo.models.hub.HubModel``)."""
    module = cls.__module__ or "builtins"
    if module == "builtins":
        return cls.__qualname__
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        mod = sys.modules.get(prefix)
        if mod is not None and vars(mod).get(cls.__qualname__) is cls:
            return f"{prefix}.{cls.__qualname__}"
    return f"{module}.{cls.__qualname__}"


class _Verbatim:
    """Renders as the given text inside ``inspect.Signature`` (string annotations, stable default reprs)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


_CONSTANTS: dict[int, str] = {}  # set by render(): id -> name of the documented modules' constants


def _constant_names(sections: list[Section]) -> dict[int, str]:
    """id -> name of the UPPERCASE module-level containers / objects (not scalars) the documented modules
    assign, so that a default such as ``skeleton=SMPL22`` renders as written, not as a long repr."""
    names: dict[int, str] = {}
    for mod_name in sorted({s.module for s in sections}):
        module = sys.modules[mod_name]
        for name in sorted(assigned_names(module)):
            value = vars(module).get(name)
            if is_constant_name(name) and not isinstance(value, (type(None), bool, int, float, str, bytes)):
                names.setdefault(id(value), name)
    return names


def _default_repr(value) -> str:
    """A default value: the name of the humo constant it is (``SMPL22``), else its stable repr."""
    name = _CONSTANTS.get(id(value))
    return name if name is not None else _stable_repr(value)


def _stable_repr(value) -> str:
    if isinstance(value, enum.Enum):
        text = f"{type(value).__qualname__}.{value.name}"
    else:
        text = repr(value)
    return _ADDRESS.sub("", text)


def _annotation(annotation) -> _Verbatim:
    if isinstance(annotation, str):
        return _Verbatim(annotation)  # `from __future__ import annotations`: as written
    if isinstance(annotation, typing.ForwardRef):
        return _Verbatim(annotation.__forward_arg__)  # NamedTuple fields under the same import
    return _Verbatim(_ADDRESS.sub("", inspect.formatannotation(annotation)))


def signature_text(func, name: str, prefix: str = "def ") -> str:
    """``def name(params) -> ret`` with annotations as written and defaults as stable reprs.

    For a class (``prefix=""``): ``Name(params)``, the constructor without its ``-> None``; "" when the
    constructor takes only ``*args, **kwargs`` (a Protocol, or ``nn.Module``'s when a class defines none).
    """
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return f"{prefix}{name}(...)"
    if inspect.isclass(func):
        sig = sig.replace(return_annotation=inspect.Signature.empty)
        if all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()):
            return ""
    params = []
    for p in sig.parameters.values():
        changes = {}
        if p.annotation is not inspect.Parameter.empty:
            changes["annotation"] = _annotation(p.annotation)
        if p.default is not inspect.Parameter.empty:
            changes["default"] = _Verbatim(_default_repr(p.default))
        params.append(p.replace(**changes))
    parts = _param_parts(params)
    ret = "" if sig.return_annotation is inspect.Signature.empty else f" -> {_annotation(sig.return_annotation)!r}"
    text = f"{prefix}{name}({', '.join(parts)}){ret}"
    if len(text) <= _WRAP or not parts:
        return text
    return f"{prefix}{name}(\n" + "".join(f"    {part},\n" for part in parts) + f"){ret}"


def _param_parts(params: list[inspect.Parameter]) -> list[str]:
    """The rendered parameters with the ``/`` and ``*`` markers, as ``inspect.Signature.__str__`` places them."""
    parts, pos_only, kw_marker = [], False, True
    for p in params:
        if p.kind is p.POSITIONAL_ONLY:
            pos_only = True
        elif pos_only:
            parts.append("/")
            pos_only = False
        if p.kind is p.VAR_POSITIONAL:
            kw_marker = False
        elif p.kind is p.KEYWORD_ONLY and kw_marker:
            parts.append("*")
            kw_marker = False
        parts.append(str(p))
    if pos_only:
        parts.append("/")
    return parts


def text_block(doc: str) -> list[str]:
    """A docstring as a fenced ``text`` block (verbatim; markdown does not touch it)."""
    fence = "````" if "```" in doc else "```"
    return [f"{fence}text", *doc.splitlines(), fence, ""]


def code_block(code: str) -> list[str]:
    return ["```python", *code.splitlines(), "```", ""]


# ------------------------------------------------------------------------------------------ collection


def _defining_module(package, name: str, obj) -> tuple[str, str]:
    """(module, name there) of an ``__all__`` entry of ``package``."""
    module = getattr(obj, "__module__", None)
    if (inspect.isclass(obj) or is_function(obj)) and module:
        return module, name
    # A constant (or type alias): the submodule that assigns it at top level.
    prefix = package.__name__ + "."
    for mod_name in sorted(m for m in sys.modules if m.startswith(prefix)):
        mod = sys.modules[mod_name]
        for src_name in assigned_names(mod):
            if vars(mod).get(src_name) is obj:
                return mod_name, src_name
    return package.__name__, name


def is_function(obj) -> bool:
    """A plain function, also behind a ``functools.wraps`` wrapper object (``lru_cache``)."""
    if inspect.isclass(obj) or not callable(obj):
        return False
    try:
        return inspect.isfunction(inspect.unwrap(obj))
    except ValueError:  # a __wrapped__ cycle
        return False


def _kind(obj) -> str:
    if inspect.isclass(obj):
        return "class"
    if is_function(obj) or inspect.isbuiltin(obj):
        return "function"
    return "constant"


def _module_entries(module) -> list[Entry]:
    """Classes and functions ``module`` defines, plus its UPPERCASE dict / tuple constants (source order)."""
    names = list(getattr(module, "__all__", None) or vars(module))
    assigned = assigned_names(module)
    entries = []
    for name in names:
        obj = vars(module).get(name)
        if obj is None or not is_public(name):
            continue
        if inspect.isclass(obj) or is_function(obj):
            if getattr(obj, "__module__", None) == module.__name__:
                entries.append(Entry(_kind(obj), name, module.__name__, obj))
        elif is_constant_name(name) and name in assigned and isinstance(obj, (dict, tuple)):
            entries.append(Entry("constant", name, module.__name__, obj))
    return entries


def _all_sections(package) -> list[Section]:
    """A package with ``__all__``: its names, grouped by defining submodule (sorted), in ``__all__`` order."""
    groups: dict[str, list[Entry]] = {}
    for name in package.__all__:
        obj = getattr(package, name)
        module, src_name = _defining_module(package, name, obj)
        if not (module == package.__name__ or module.startswith(package.__name__ + ".")):
            module = package.__name__  # re-exported from elsewhere: documented under the package itself
        entry = Entry(_kind(obj), name, module, obj, source_name=src_name if src_name != name else "")
        groups.setdefault(module, []).append(entry)
    sections = [Section(package.__name__, first_paragraph(package.__doc__), groups.pop(package.__name__, []))]
    for module in sorted(groups):
        sections.append(Section(module, first_paragraph(sys.modules[module].__doc__), groups[module]))
    return sections


def _walk(name: str) -> list[Section]:
    if name in SKIP_MODULES:
        return []
    module = importlib.import_module(name)
    is_package = hasattr(module, "__path__")
    if is_package and hasattr(module, "__all__"):
        return _all_sections(module)
    sections = [Section(name, first_paragraph(module.__doc__), _module_entries(module))]
    if is_package:
        for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda i: i.name):
            if is_public(info.name):
                sections.extend(_walk(f"{name}.{info.name}"))
    return sections


def collect() -> list[Section]:
    """Every documented module, in order, with its entries."""
    sections = []
    for name in PACKAGES:
        sections.extend(_walk(name))
    return sections


def documented_objects(sections: list[Section] | None = None) -> list[Entry]:
    """The classes and functions the reference lists (the ones that must have a docstring)."""
    sections = collect() if sections is None else sections
    return [e for s in sections for e in s.entries if e.kind in ("class", "function")]


# ------------------------------------------------------------------------------------------- rendering


def _members(cls: type, documented: set[int]) -> list[tuple[str, object, type]]:
    """(name, raw attribute, owner) of the public members to document on ``cls``.

    Its own members, then those of undocumented humo bases and of third-party (non-stdlib, non-torch)
    bases ``cls`` derives from directly; never members of torch / stdlib classes or of documented bases.
    """
    sources: list[type] = [cls]
    for base in cls.__mro__[1:]:
        if is_humo(base) and id(base) not in documented:
            sources.append(base)
    for base in cls.__bases__:
        if not is_humo(base) and _root(base.__module__) not in _FOREIGN_ROOTS:
            sources.extend(b for b in base.__mro__ if _root(b.__module__) not in _FOREIGN_ROOTS)
    seen: set[str] = set()
    members = []
    for owner in sources:
        for name, attr in vars(owner).items():
            if name in seen or not (is_public(name) or name == "__call__"):
                continue
            if not isinstance(attr, (property, classmethod, staticmethod)) and not is_function(attr):
                continue
            if owner is not cls and any(name in vars(k) for k in cls.__mro__[: cls.__mro__.index(owner)]):
                continue  # overridden by a class nearer to cls
            seen.add(name)
            members.append((name, attr, owner))
    return members


def _member_lines(cls: type, name: str, attr, owner: type) -> list[str]:
    lines = [f"#### {cls.__name__}.{name}", ""]
    if owner is not cls:
        lines += [f"*Inherited from `{public_path(owner)}`.*", ""]
    if isinstance(attr, property):
        code = "@property\n" + signature_text(attr.fget, name) if attr.fget else f"@property\n{name}"
    elif isinstance(attr, classmethod):
        code = "@classmethod\n" + signature_text(attr.__func__, name)
    elif isinstance(attr, staticmethod):
        code = "@staticmethod\n" + signature_text(attr.__func__, name)
    else:
        code = signature_text(attr, name)
    lines += code_block(code)
    doc = first_paragraph(own_doc(attr))
    if doc:
        lines += text_block(doc)
    return lines


def _class_lines(entry: Entry, documented: set[int]) -> list[str]:
    cls = entry.obj
    bases = [public_path(b) for b in cls.__bases__ if b is not object]
    lines = [f"### class {entry.name}({', '.join(bases)})" if bases else f"### class {entry.name}", ""]
    if issubclass(cls, enum.Enum):
        members = "\n".join(f"{entry.name}.{m.name} = {_stable_repr(m.value)}" for m in cls)
        lines += code_block(members)
    else:
        ctor = signature_text(cls, entry.name, prefix="")
        if ctor:
            lines += code_block(ctor)
    doc = own_doc(cls)
    if doc:
        lines += text_block(doc)
    for name, attr, owner in _members(cls, documented):
        lines += _member_lines(cls, name, attr, owner)
    return lines


def _constant_code(name: str, value) -> str:
    if isinstance(value, dict):
        keys = list(value)
        listed = ", ".join(_stable_repr(k) for k in keys)
        if all(isinstance(k, (str, int)) for k in keys) and len(listed) <= 400:
            return f"{name}: dict  # keys: {listed}"
        return f"{name}: dict  # {len(keys)} entries"
    if isinstance(value, tuple):
        scalars = all(isinstance(v, (str, int, float, bool)) for v in value)
        listed = _stable_repr(value)
        if scalars and len(listed) <= 400:
            return f"{name}: tuple = {listed}"
        return f"{name}: tuple  # {len(value)} items"
    if isinstance(value, (bool, int, float, str)):
        return f"{name}: {type(value).__name__} = {_stable_repr(value)}"
    if type(value).__module__ in ("typing", "types", "collections.abc") or isinstance(value, typing.TypeVar):
        return f"{name} = {_stable_repr(value)}"
    return f"{name}: {public_path(type(value))}"


def _constant_lines(entry: Entry) -> list[str]:
    lines = [f"### {entry.name}", ""]
    if entry.source_name:
        lines += [f"*Defined as `{entry.module}.{entry.source_name}`.*", ""]
    lines += code_block(_constant_code(entry.name, entry.obj))
    doc = assigned_names(sys.modules[entry.module]).get(entry.source_name or entry.name, "")
    if doc:
        lines += text_block(doc)
    return lines


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading (lowercase, punctuation other than ``-`` / ``_`` dropped)."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def render(sections: list[Section]) -> str:
    """The whole ``docs/api.md`` text."""
    _CONSTANTS.clear()
    _CONSTANTS.update(_constant_names(sections))
    documented = {id(e.obj) for e in documented_objects(sections) if e.kind == "class"}
    n_cls = sum(e.kind == "class" for s in sections for e in s.entries)
    n_fn = sum(e.kind == "function" for s in sections for e in s.entries)
    n_const = sum(e.kind == "constant" for s in sections for e in s.entries)
    lines = [
        "# humo API reference",
        "",
        f"This file is generated by `{COMMAND}` from the docstrings in the code and must not be edited by "
        "hand: change the docstrings and rerun the script (`tests/docs/test_api_reference.py` fails when it "
        f"is out of date). It covers {len(sections)} modules, {n_cls} classes, {n_fn} functions and {n_const} "
        "constants: for a package "
        "with `__all__` exactly those names, grouped by the module that defines them; otherwise every public "
        "submodule's classes, functions and UPPERCASE dict / tuple constants (listed by name). Signatures keep "
        "annotations as written; methods show the first paragraph of their docstring. The command line is "
        "documented in [cli.md](cli.md) and [cli-reference.md](cli-reference.md).",
        "",
        "## Contents",
        "",
    ]
    for section in sections:
        top = next(p for p in PACKAGES if section.module == p or section.module.startswith(p + "."))
        depth = section.module.count(".") - top.count(".")
        lines.append(f"{'  ' * depth}- [{section.module}](#{_anchor(section.module)})")
    lines.append("")
    for section in sections:
        lines += [f"## {section.module}", ""]
        if section.doc:
            lines += [section.doc, ""]
        for entry in section.entries:
            if entry.kind == "class":
                lines += _class_lines(entry, documented)
            elif entry.kind == "function":
                lines += [f"### {entry.name}", ""]
                lines += code_block(signature_text(entry.obj, entry.name))
                doc = own_doc(entry.obj)
                if doc:
                    lines += text_block(doc)
            else:
                lines += _constant_lines(entry)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def generate() -> str:
    """The text ``docs/api.md`` should hold now."""
    return render(collect())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is out of date")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.is_file() else None
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
        print(f"{OUTPUT.relative_to(ROOT)} is up to date")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(text.encode('utf-8'))} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
