"""The names of the files a command writes from an export's results: `output_names` (an
input's relative path -> a unique relative name: `.png` for images, `.mp4` for videos).

One rule for `python -m tfcolor.colorize` and its Beam pipeline
(`tfcolor.preprocessing.colorize_beam`), so the two write the same files.
"""

from __future__ import annotations

import os

__all__ = ["is_video", "output_names"]


def is_video(path: str) -> bool:
    """Whether `path` names a video (`tfcolor.media.video_io.VIDEO_EXTENSIONS`, any case)."""
    from tfcolor.media.video_io import VIDEO_EXTENSIONS

    return path.lower().endswith(tuple(VIDEO_EXTENSIONS))


def output_names(relatives: list[str]) -> list[str]:
    """Unique output names: `a/b.jpg` -> `a/b.png`, `a/c.avi` -> `a/c.mp4`.

    Where two inputs would share a name (`b.jpg` and `b.png`, compared case-insensitively for
    filesystems that do), each keeps its extension (`b.jpg.png`); names still shared after that
    (the same relative path from two input folders) get a counter (`b.jpg-2.png`).
    """
    suffixes = [".mp4" if is_video(relative) else ".png" for relative in relatives]
    plain = [
        os.path.splitext(relative)[0] + suffix
        for relative, suffix in zip(relatives, suffixes, strict=True)
    ]
    counts: dict[str, int] = {}
    for name in plain:
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    names = [
        name if counts[name.lower()] == 1 else relative + suffix
        for name, relative, suffix in zip(plain, relatives, suffixes, strict=True)
    ]
    taken: set[str] = set()
    unique = []
    for name, suffix in zip(names, suffixes, strict=True):
        candidate, number = name, 1
        while candidate.lower() in taken:
            number += 1
            candidate = f"{name[: -len(suffix)]}-{number}{suffix}"
        taken.add(candidate.lower())
        unique.append(candidate)
    return unique
