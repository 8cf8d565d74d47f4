"""The library's version, in a module of its own so submodules can read it without importing
the ``explain`` package (whose ``__init__`` refers to them: that would be an import cycle)."""

__version__ = "0.1.0"
