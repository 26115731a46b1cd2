"""humo: human motion generation and understanding.

Layers (imported only downward): ``representations`` <- ``data``, ``metrics`` <- ``models`` <-
``guidance`` <- ``pipelines`` <- ``cli``.
"""

__version__ = "0.1.0"

__all__ = ["Motion", "__version__"]


def __getattr__(name: str):
    # Lazy export: `import humo` stays light (no torch) until `humo.Motion` is first used.
    if name == "Motion":
        from humo.motion import Motion

        return Motion
    raise AttributeError(f"module 'humo' has no attribute {name!r}")
