"""Which file names a bundle may hold: relative POSIX paths that are safe as object keys.

Names arrive from the CLI as posix paths relative to the uploaded folder. Anything that could
escape the bundle's prefix, confuse a file system or hide characters from a person is refused
with a message that says what is wrong with which name.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from flageval_platform.errors import Unprocessable

#: A bundle file is stored as ``bundles/<bundle uuid>/files/<name>``; object keys may be at most
#: 1024 bytes, so names get what is left, rounded down.
MAX_NAME_BYTES = 960
#: Longest folder or file name on common file systems (NAME_MAX).
MAX_SEGMENT_BYTES = 255
#: The folder only tokens allowed to (``can_send_targets``) may write into.
TARGETS_DIR = "targets"


def shown(name: str, limit: int = 80) -> str:
    """``name`` quoted for a message: control characters escaped, long names shortened."""
    text = name if len(name) <= limit else name[:limit] + "…"
    return repr(text)


def check_filename(name: str) -> str:
    """Return ``name`` when it is a safe relative path; else raise 422 saying why not."""
    if not name:
        raise Unprocessable("A file name is empty.")
    what = f"File name {shown(name)} is not allowed"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise Unprocessable(f"{what}: it is not valid UTF-8.") from None
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise Unprocessable(f"{what}: it contains a control character (such as NUL or newline).")
    if "\\" in name:
        raise Unprocessable(f"{what}: it contains a backslash; separate folders with '/'.")
    if name.startswith("/"):
        raise Unprocessable(f"{what}: it is an absolute path; give paths relative to the folder.")
    if len(encoded) > MAX_NAME_BYTES:
        raise Unprocessable(
            f"{what}: it is {len(encoded)} bytes long; the limit is {MAX_NAME_BYTES} bytes."
        )
    for segment in name.split("/"):
        if segment == "":
            raise Unprocessable(f"{what}: it has an empty folder name ('//' or a trailing '/').")
        if segment in (".", ".."):
            raise Unprocessable(f"{what}: '.' and '..' are not allowed in paths.")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise Unprocessable(
                f"{what}: a file or folder name in it is longer than {MAX_SEGMENT_BYTES} bytes."
            )
    return name


def is_target(name: str) -> bool:
    """Whether ``name`` is the protected ``targets`` folder or inside it."""
    return name == TARGETS_DIR or name.startswith(TARGETS_DIR + "/")


def under(name: str, path: str) -> bool:
    """Whether ``name`` is ``path`` itself or inside the folder ``path`` ("" is everything)."""
    return not path or name == path or name.startswith(path + "/")


def normalize_remote_path(path: str) -> str:
    """A path given to ``ls``/``rm``: without leading and trailing slashes (like the CLI's)."""
    return path.strip("/")


def find_file_folder_clash(names: Iterable[str]) -> tuple[str, str] | None:
    """A pair (file, name inside it) when some name is also used as a folder by another one."""
    files = set(names)
    for name in files:
        parts = name.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder in files:
                return folder, name
    return None
