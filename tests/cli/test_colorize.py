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


def test_overlapped_workers_give_the_same_files_and_failures(trained_run, photos, tmp_path, capsys):
    """--workers 3 (reading, the model and writing overlapped) writes exactly what one image at
    a time writes, fails the same files with the same lines, and leaves the umask alone."""
    from tfcolor.cli.colorize import main

    _, export = trained_run
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    for index, (name, photo) in enumerate(sorted(photos.items())):
        folder = inputs / "sub" if index % 2 else inputs
        (folder / f"{name}.jpg").write_bytes(encode(photo[: 40 + 7 * index, : 50 + 5 * index]))
        (folder / f"{name}_crop.png").write_bytes(encode(photo[10:45, 20:60], "PNG"))
    (inputs / "sub" / "broken.jpg").write_bytes(encode(photos["coffee"])[:300])
    (inputs / "text.png").write_text("not a PNG")
    mask = os.umask(0o027)
    try:
        outputs = {}
        for workers in (1, 3):
            output = tmp_path / f"out{workers}"
            code = main([str(inputs), "--model", export, "--output", str(output),
                         "--workers", str(workers)])  # fmt: skip
            captured = capsys.readouterr()
            assert code == 1, captured.err[-2000:]
            skipped = sorted(line for line in captured.err.splitlines() if "skipped" in line)
            outputs[workers] = (
                {
                    os.path.relpath(os.path.join(root, name), output): (
                        open(os.path.join(root, name), "rb").read(),
                        os.stat(os.path.join(root, name)).st_mode & 0o777,
                    )
                    for root, _, names in os.walk(output)
                    for name in names
                },
                skipped,
            )
        assert os.umask(0o027) == 0o027  # no writer thread left another umask behind
    finally:
        os.umask(mask)
    files, skipped = outputs[3]
    assert len(files) == 2 * len(photos) and len(skipped) == 2, (sorted(files), skipped)
    assert {mode for _, mode in files.values()} == {0o640}  # as open() under umask 027
    assert outputs[1] == outputs[3]
