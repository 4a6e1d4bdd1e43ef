"""Settings of the filesystem store."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .._options import LargePayloadStorageOptions, check_bool

__all__ = ["FileSystemPayloadStoreOptions", "filesystem_options"]


@dataclass(eq=True)
class FileSystemPayloadStoreOptions(LargePayloadStorageOptions):
    """Settings of :class:`~durabletask_payloads.FileSystemPayloadStore`.

    Size and compression settings are those of
    :class:`~durabletask_payloads.LargePayloadStorageOptions`.

    Attributes:
        fsync: Flush each file to disk before it becomes visible, so that a crash
            cannot leave a token pointing at an empty file. Default True; turn it
            off for scratch directories where speed matters more. (Formerly the
            store's ``fsync=`` keyword, still accepted with a :class:`DeprecationWarning`.)

    """

    fsync: bool = True

    def _validate(self) -> None:
        super()._validate()
        check_bool("fsync", self.fsync)


def filesystem_options(
    options: LargePayloadStorageOptions | None, fsync: bool | None
) -> LargePayloadStorageOptions:
    """Return the options a filesystem store keeps: *options*, with *fsync* (the old keyword) folded in.

    Options of another class (this package's base class, or durabletask's own)
    are kept as given when no *fsync* is given, and copied into
    :class:`FileSystemPayloadStoreOptions` when one is, so that ``store.options.fsync``
    always tells the truth.
    """
    if options is None:
        options = FileSystemPayloadStoreOptions()
    if fsync is None:
        return options
    if isinstance(options, FileSystemPayloadStoreOptions):
        return dataclasses.replace(options, fsync=fsync)
    shared = {
        item.name: getattr(options, item.name)
        for item in dataclasses.fields(LargePayloadStorageOptions)
        if hasattr(options, item.name)
    }
    return FileSystemPayloadStoreOptions(**shared, fsync=fsync)
