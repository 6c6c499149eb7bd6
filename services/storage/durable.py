"""Directory entries that survive a power loss: a rename or a new folder is durable only once
the folder that holds the entry is fsynced (the file's own fsync covers its data, not its name).
"""

from __future__ import annotations

import os


def open_dir(path: str) -> int:
    """A descriptor of the folder ``path``, to fsync it (O_RDONLY is all fsync needs)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def fsync_dir(path: str) -> None:
    fd = open_dir(path)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs(path: str) -> None:
    """``os.makedirs(path, exist_ok=True)``, with every new folder's entry made durable in its
    parent. Costs nothing when the folder exists (the common case)."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        makedirs(parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
        return  # a concurrent commit made it (and fsyncs its parent itself)
    fsync_dir(parent or ".")
