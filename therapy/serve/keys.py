"""therapy serve's keys: its host key, made once and kept (DATA/serve, private to the
serving user), the facilitators' keys read from an authorized_keys-format file, and what the
door calls a key: the SHA-256 of its public blob, in hex.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cryptography deprecates DSA, which asyncssh still names
    import asyncssh

from therapy.model import TherapyError
from therapy.serve.private import make_once, private
from therapy.store.files import Folder
from therapy.text import shown

HOST_KEY = "ssh_host_ed25519_key"


def key_id(key: asyncssh.SSHKey) -> str:
    return hashlib.sha256(key.public_data).hexdigest()


def host_key(data_dir: Path) -> asyncssh.SSHKey:
    """DATA/serve/ssh_host_ed25519_key: made once (mode 600), then reused."""
    with private(data_dir, "serve") as folder:
        text = _read_key(folder)
        if text is None:
            new = asyncssh.generate_private_key("ssh-ed25519", comment="therapy serve")
            make_once(folder, HOST_KEY, new.export_private_key())
            text = _read_key(folder)  # ours, or another server's that was first
    try:
        return asyncssh.import_private_key(text or b"")
    except (asyncssh.KeyImportError, ValueError):
        raise TherapyError(
            f"{data_dir / 'serve' / HOST_KEY} is not a private key; move it away and a new "
            "one is made (people will be told the host key changed)."
        ) from None


def _read_key(folder: Folder) -> bytes | None:
    # opened rather than Folder.read: its owner is checked and its mode kept 600 on that fd
    fd = folder.open_file(HOST_KEY, os.O_RDONLY, "the SSH host key")
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as file:
        if os.fstat(fd).st_uid != os.geteuid():
            raise TherapyError(f"{folder.path / HOST_KEY} is not a key file of yours.")
        os.fchmod(fd, 0o600)
        return file.read(64 * 1024)


def read_facilitators(path: Path) -> frozenset[str]:
    """The key ids in an authorized_keys-format file. A line with options before its key
    (from=, expiry-time=, cert-authority, ...) is refused: they narrow what the key may do,
    and therapy serve does not honour them, so the key would facilitate without them."""
    ids = set()
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        for at in range(len(words) - 1):
            try:
                key = asyncssh.import_public_key(f"{words[at]} {words[at + 1]}")
            except (asyncssh.KeyImportError, ValueError):
                continue
            if at > 0:
                options = shown(" ".join(words[:at]), 60)
                raise TherapyError(
                    f"Line {number} of {path} gives its key options ({options}), which "
                    "therapy serve does not honour: list the key alone, or not at all."
                )
            ids.add(key_id(key))
            break
        else:
            raise TherapyError(f"Line {number} of {path} holds no public key.")
    return frozenset(ids)
