"""Where a media row's file lives: uploads under the service's ``media_root``, station drops under the
stations folder (``data/raw/stations``)."""

from __future__ import annotations

from pathlib import Path

from models.media.errors import MediaError
from models.store.db import Media


def media_path(media: Media, media_root: Path, stations_root: Path) -> Path:
    """The file of ``media``: ``media_root / filePath`` for uploads, ``stations_root / filePath`` otherwise.

    Raises:
        MediaError: reason ``unreadable`` when the row has no ``filePath`` or it points outside its root
            (``..`` or an absolute path; never followed), ``missing`` when the file is not there.
    """
    base = Path(media_root if media.origin == "upload" else stations_root).resolve()
    rel = media.filePath or ""
    if not rel:
        raise MediaError(media.mediaID, "unreadable", "the media row has no filePath")
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise MediaError(media.mediaID, "unreadable", f"filePath {rel!r} points outside {base}")
    if not path.is_file():
        raise MediaError(media.mediaID, "missing", f"media file not found: {rel}")
    return path
