"""Fixtures of the input pipeline tests: a folder of real photos, odd files and broken ones."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

# Files the pipeline must skip, count and name.
CORRUPT_FILES = ("broken/truncated.jpg", "broken/empty.jpg", "broken/text.jpg")
GRAY_FILES = ("odd/gray.png", "odd/gray16.png")


def _save(image: np.ndarray, path: str, fmt: str, **options) -> None:
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(image).save(path, format=fmt, **options)


def _shrink(image: np.ndarray, factor: int) -> np.ndarray:
    return np.ascontiguousarray(image[::factor, ::factor])


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory, photos) -> str:
    """Real photos as JPEG/PNG/BMP/GIF/WebP in nested class folders, odd and broken files.

    Returns the folder; `usable_files` lists its decodable images.
    """
    from PIL import Image

    root = str(tmp_path_factory.mktemp("photos"))
    join = os.path.join
    # china stays full size (427 x 640): the JPEG scaled decoding path runs on it.
    _save(photos["china"], join(root, "places", "china.jpg"), "JPEG", quality=90)
    _save(_shrink(photos["flower"], 4), join(root, "places", "flower.gif"), "GIF")
    _save(_shrink(photos["coffee"], 4), join(root, "places", "coffee.webp"), "WEBP")
    _save(_shrink(photos["chelsea"], 3), join(root, "animals", "chelsea.bmp"), "BMP")
    _save(_shrink(photos["astronaut"], 4), join(root, "animals", "space", "astronaut.png"), "PNG")
    _save(_shrink(photos["chelsea"], 4), join(root, "animals", "CHELSEA.JPEG"), "JPEG")
    _save(_shrink(photos["coffee"], 5), join(root, "top.jpg"), "JPEG")
    astronaut = _shrink(photos["astronaut"], 8)
    _save(
        np.asarray(Image.fromarray(astronaut).convert("L")),
        join(root, *GRAY_FILES[0].split("/")),
        "PNG",
    )
    rgba = np.concatenate([astronaut, np.full(astronaut.shape[:2] + (1,), 128, np.uint8)], -1)
    _save(rgba, join(root, "odd", "rgba.png"), "PNG")
    Image.fromarray(astronaut).convert("P").save(join(root, "odd", "palette.png"))
    gray16 = astronaut[..., 0].astype(np.uint16) * 257
    Image.fromarray(gray16).save(join(root, *GRAY_FILES[1].split("/")))
    with open(join(root, "odd", "rgb16.png"), "wb") as f:
        import tensorflow as tf

        f.write(tf.io.encode_png(astronaut.astype(np.uint16) * 257).numpy())
    # Broken files and a file that is not an image at all.
    buffer = io.BytesIO()
    Image.fromarray(_shrink(photos["chelsea"], 2)).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    os.makedirs(join(root, "broken"))
    with open(join(root, *CORRUPT_FILES[0].split("/")), "wb") as f:
        f.write(data[: len(data) // 2])
    open(join(root, *CORRUPT_FILES[1].split("/")), "wb").close()
    with open(join(root, *CORRUPT_FILES[2].split("/")), "w") as f:
        f.write("this is not a JPEG\n")
    with open(join(root, "notes.txt"), "w") as f:
        f.write("not an image extension: never listed\n")
    return root


@pytest.fixture(scope="session")
def usable_files(photo_folder) -> set[str]:
    """Relative paths of the decodable images in `photo_folder`."""
    found = set()
    for directory, _, filenames in os.walk(photo_folder):
        for filename in filenames:
            path = os.path.join(directory, filename)
            relative = os.path.relpath(path, photo_folder).replace(os.sep, "/")
            if not filename.endswith(".txt") and relative not in CORRUPT_FILES:
                found.add(relative)
    return found


@pytest.fixture(scope="session")
def corrupt_files() -> tuple[str, ...]:
    """The undecodable files of `photo_folder`."""
    return CORRUPT_FILES


@pytest.fixture(scope="session")
def gray_files() -> tuple[str, ...]:
    """The gray images of `photo_folder`."""
    return GRAY_FILES
