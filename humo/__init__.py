"""humo: human motion generation and understanding.

    from humo import CoAMD
    motion = CoAMD.from_pretrained().generate("a person runs")   # the bundled model, offline
    motion.save("run.mp4")

Top-level names (imported lazily, so ``import humo`` stays light):

* :class:`CoAMD` -- text -> motion pipeline (``humo.pipelines.coamd``); ``from_pretrained()`` loads the
  bundled model;
* :class:`MotionDuet` -- text (+ video) -> motion pipeline (``humo.pipelines.motionduet``);
* :class:`ActionRecognizer` -- recognition / retrieval (``humo.models.recognizer``); ``from_pretrained()``
  loads the bundled recognizer;
* :class:`Motion` -- one motion clip with its text and seed, saved by file suffix (``humo.motion``).

Layers (imported only downward): ``representations`` <- ``data``, ``metrics`` <- ``models`` <-
``guidance`` <- ``pipelines`` <- ``cli``.
"""

__version__ = "0.1.0"

_LAZY = {
    "ActionRecognizer": "humo.models.recognizer",
    "CoAMD": "humo.pipelines.coamd",
    "Motion": "humo.motion",
    "MotionDuet": "humo.pipelines.motionduet",
}

__all__ = ["ActionRecognizer", "CoAMD", "Motion", "MotionDuet", "__version__"]


def __getattr__(name: str):
    # Lazy export: `import humo` imports no torch until one of these is first used.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'humo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
