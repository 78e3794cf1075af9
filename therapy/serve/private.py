"""therapy serve's own files in the data folder, on the store's `Folder`: folders private to
the server's user (0700: no group, no second account, the server is the only way in), and
files made once and whole. The store's folders follow the umask (a group may share them)
and its files are replaced, never made once, so these two pieces are serve's own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from therapy.model import TherapyError
from therapy.store.files import TMP_SUFFIX, Folder, cannot_write

_MODE = 0o700


@contextmanager
def private(data_dir: Path, *parts: str) -> Iterator[Folder]:
    """The folder DATA/parts..., each step made 0700 where missing and opened without
    following a link; a folder of another user is refused."""
    folder = _data_folder(data_dir)
    try:
        for part in parts:
            inner = _inner(folder, part)
            folder.close()
            folder = inner
        yield folder
    finally:
        folder.close()


def make_once(folder: Folder, name: str, payload: bytes) -> bool:
    """Make the file NAME (mode 600) holding PAYLOAD; False if the name is taken. Written
    to a temp file and synced first, then linked to its name (which fails if it is taken):
    a reader never sees it empty or torn, even after a crash."""
    temp = f".{name}.{os.getpid()}.{os.urandom(4).hex()}{TMP_SUFFIX}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temp, flags, 0o600, dir_fd=folder.fd)
    except OSError as error:
        raise cannot_write(folder.path, error) from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.link(temp, name, src_dir_fd=folder.fd, dst_dir_fd=folder.fd, follow_symlinks=False)
    except FileExistsError:
        return False  # someone made it first
    except OSError as error:
        raise cannot_write(folder.path, error) from None
    finally:
        with suppress(OSError):
            os.unlink(temp, dir_fd=folder.fd)
    with suppress(OSError):  # the link is in place: a folder not synced is less durable only
        os.fsync(folder.fd)
    return True


def _data_folder(path: Path) -> Folder:
    """The data folder, made if missing and made 0700 if it is ours."""
    path.mkdir(parents=True, exist_ok=True, mode=_MODE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise TherapyError(
            f"The data folder {path} is a link or not a folder; serve a real folder of your own."
        ) from None
    folder = Folder(fd, path)
    if os.fstat(fd).st_uid != os.geteuid():
        folder.close()
        raise TherapyError(
            f"The data folder {path} belongs to another user; therapy serve serves only a "
            "folder of its own, private to you (give another --data-dir)."
        )
    os.fchmod(fd, _MODE)
    return folder


def _inner(parent: Folder, name: str) -> Folder:
    """The folder NAME in PARENT, made 0700 if missing (Folder.make_folder follows the
    umask), never through a link."""
    try:
        os.mkdir(name, _MODE, dir_fd=parent.fd)
    except FileExistsError:
        pass
    except OSError as error:
        raise cannot_write(parent.path, error) from None
    folder = parent.folder(name)
    if folder is None:
        raise TherapyError(f"{parent.path / name} went away while therapy serve made it.")
    if os.fstat(folder.fd).st_uid != os.geteuid():
        folder.close()
        raise TherapyError(f"{folder.path} is not yours; therapy serve keeps out.")
    os.fchmod(folder.fd, _MODE)  # made by hand, say: `therapy invite` reads only a private one
    return folder
