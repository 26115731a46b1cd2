"""humo: human motion generation and understanding.

Layers (imported only downward): ``representations`` <- ``data``, ``metrics`` <- ``models`` <-
``guidance`` <- ``pipelines`` <- ``cli``.
"""

__version__ = "0.1.0"
