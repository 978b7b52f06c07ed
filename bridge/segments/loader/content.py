"""Reading a block's ``content_file``: one descriptor, never a link, a device or a file
outside the mappings folder, at most ``MAX_CONTENT_BYTES``.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from bridge.segments.loader.messages import _Err, _os_reason
from bridge.segments.loader.schema import MAX_CONTENT_BYTES

OUTSIDE = "points outside the mappings folder (a .. or a link out of it)"


def _read_content(mappings_dir: Path, name: str) -> str | _Err:
    """The text of a block's ``content_file``, or why it cannot be published.

    The file becomes a CMS block on the storefront, so it must be a regular file inside
    the mappings folder: an absolute path, a ``..`` or a link out of it could publish
    ``/etc/passwd`` or ``/proc/self/environ``, and ``/dev/zero`` or a FIFO would never end.
    A path checked and then opened again could be swapped for a link in between, so the
    file is opened once (never following a final link) and everything is checked on that
    descriptor: what it is, its size, its single name (a hard link to a secret has the
    secret's inode) and where it lies. At most ``MAX_CONTENT_BYTES`` are ever read.
    """
    if "\0" in name:  # never reaches the OS (callers report it)
        return _Err("contains a NUL character")
    if Path(name).is_absolute() or name.startswith("~"):
        return _Err("is an absolute path: give a path inside the mappings folder")
    try:
        root = mappings_dir.resolve()
        target = (mappings_dir / name).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        return _Err(f"cannot be resolved ({_os_reason(exc)})")
    if not target.is_relative_to(root):
        return _Err(OUTSIDE)
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NOFOLLOW", 0)  # the resolved path's last part swapped for a link
        | getattr(os, "O_NONBLOCK", 0)  # swapped for a FIFO: the open cannot hang
        | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        fd = os.open(target, flags)
    except FileNotFoundError:
        return _Err(f"no such file in {mappings_dir}")
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # it became a link after the resolve
            return _Err(OUTSIDE)
        return _Err(f"cannot read: {_os_reason(exc)}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return _Err("is not a regular file")
        if info.st_nlink != 1:
            return _Err(
                f"is a hard link (the file has {info.st_nlink} names, perhaps one outside the "
                "mappings folder): give a file of its own"
            )
        if info.st_size > MAX_CONTENT_BYTES:
            return _Err(f"is larger than {MAX_CONTENT_BYTES // 1024} KiB ({info.st_size} bytes)")
        if not _opened_inside(fd, info, target, root):
            return _Err(OUTSIDE)
        chunks: list[bytes] = []
        left = MAX_CONTENT_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        return _Err(f"cannot read: {_os_reason(exc)}")
    finally:
        os.close(fd)
    if len(data) > MAX_CONTENT_BYTES:
        return _Err(f"is larger than {MAX_CONTENT_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Err(f"is not UTF-8 text (byte {exc.start})")


def _opened_inside(fd: int, info: os.stat_result, target: Path, root: Path) -> bool:
    """Whether the file open on ``fd`` lies inside ``root``: a folder on the way to it may
    have been swapped for a link out after the resolve (O_NOFOLLOW guards only the last
    part). Where /proc exists the descriptor's own path is read; elsewhere the resolved
    path must still lead to the very inode that was opened."""
    proc = f"/proc/self/fd/{fd}"
    try:
        opened = os.readlink(proc)
    except OSError:
        opened = None
    if opened is not None and opened.startswith("/"):
        return Path(opened).is_relative_to(root)
    try:
        now = os.stat(target, follow_symlinks=False)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino)
