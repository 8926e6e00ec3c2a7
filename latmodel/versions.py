"""Installed versions of distributions, from package metadata (nothing imported): the one reading the device
record, the device cache key and the feature fingerprint share."""
from __future__ import annotations

__all__ = ["installed_versions"]


def installed_versions(packages) -> dict[str, str]:
    """Installed version of each distribution in ``packages`` (``absent`` when it is not installed); reads
    package metadata only, imports nothing."""
    from importlib import metadata

    out = {}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out
