"""syncer: a SQL mirror, with full history, of the phone numbers rented from voice/SMS providers.

Data enters through `syncer.providers`, is decided in `syncer.sync`, lands in `syncer.store`
and leaves through `syncer.reports`. The command line (`syncer.cli`) only wires them together.
"""

from __future__ import annotations


def installed_version() -> str:
    """The installed syncer's version, from its package metadata (what `syncer --version`,
    the daemon's `syncer_build` metric and the statement show), or "unknown" when run from a
    tree that is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("syncer")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def __getattr__(name: str) -> str:
    """`syncer.__version__`, read from the same metadata (never a second copy of it)."""
    if name == "__version__":
        return installed_version()
    raise AttributeError(f"module 'syncer' has no attribute {name!r}")
