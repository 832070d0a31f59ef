"""`python -m tfcolor.colorize` over a folder mixing good and bad files."""

import os

import pytest

from tests.helpers import encode, run_python


@pytest.mark.slow
def test_colorize_folder_with_bad_files(trained_run, photos, tmp_path):
    colorizer, _ = trained_run
    inputs = tmp_path / "in"
    (inputs / "nested" / "deeper").mkdir(parents=True)
    (inputs / "cat.jpg").write_bytes(encode(photos["chelsea"][:60, :80]))
    (inputs / "nested" / "coffee.png").write_bytes(encode(photos["coffee"][:40, :50], "PNG"))
    (inputs / "nested" / "deeper" / "china.bmp").write_bytes(
        encode(photos["china"][:33, :47], "BMP")
    )
    (inputs / "nested" / "empty.jpg").write_bytes(b"")
    (inputs / "notes.jpg").write_text("this is text, not a JPEG")
    truncated = encode(photos["astronaut"])
    (inputs / "nested" / "truncated.jpg").write_bytes(truncated[: len(truncated) // 3])
    (inputs / "readme.txt").write_text("ignored: not an image extension")
    single = tmp_path / "single.jpg"
    single.write_bytes(encode(photos["flower"][:20, :30]))
    output = tmp_path / "out"

    # --model is the model_dir: its latest export is used.
    result = run_python(
        [
            "-m",
            "tfcolor.colorize",
            str(inputs),
            str(single),
            "--model",
            colorizer.model_dir,
            "--output",
            str(output),
        ],
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for bad in ("empty.jpg", "notes.jpg", "truncated.jpg"):
        assert bad in result.stderr
    made = sorted(
        os.path.relpath(os.path.join(root, name), output)
        for root, _, names in os.walk(output)
        for name in names
    )
    assert made == sorted(["cat.png", "nested/coffee.png", "nested/deeper/china.png", "single.png"])
    from PIL import Image

    assert Image.open(output / "cat.png").size == (80, 60)
    assert Image.open(output / "nested" / "deeper" / "china.png").size == (47, 33)
    assert "colorized 4 of 7" in result.stdout
    # The reason is the decoder's own line, not "Graph execution error".
    (empty,) = [line for line in result.stderr.splitlines() if "empty.jpg: cannot" in line]
    assert "Graph execution" not in empty and "assertion failed" not in empty
    assert "Input is empty" in empty or "not a JPEG" in empty, empty


def test_colorize_reports_missing_model(tmp_path):
    result = run_python(
        [
            "-m",
            "tfcolor.colorize",
            str(tmp_path),
            "--model",
            str(tmp_path / "nope"),
            "--output",
            str(tmp_path / "out"),
        ],
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "nope" in result.stderr


def test_output_names_never_collide():
    from tfcolor.cli.colorize import output_names

    assert output_names(["a/b.jpg", "c.png"]) == ["a/b.png", "c.png"]
    assert output_names(["b.jpg", "b.png", "x/b.gif"]) == ["b.jpg.png", "b.png.png", "x/b.png"]
    # The same relative path from two input folders, and a case-insensitive clash.
    assert output_names(["a.jpg", "a.jpg", "A.PNG"]) == ["a.jpg.png", "a.jpg-2.png", "A.PNG.png"]
    assert output_names(["b.jpg", "b.png", "b.jpg.png"]) == [
        "b.jpg.png",
        "b.png.png",
        "b.jpg-2.png",
    ]
