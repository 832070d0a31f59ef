"""Installs tfcolor: `pip install -e .[test]`."""

import pathlib

import setuptools

HERE = pathlib.Path(__file__).parent


def _requirements(name: str) -> list[str]:
    lines = (HERE / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setuptools.setup(
    name="tfcolor",
    version="0.1.0",
    description="Colorize grayscale photos and videos with TensorFlow/Keras networks.",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["tfcolor", "tfcolor.*"]),
    python_requires=">=3.10,<3.14",
    install_requires=_requirements("requirements.txt"),
    extras_require={
        "test": _requirements("requirements-test.txt"),
        # Preprocessing at scale (`python -m tfcolor.preprocess`); any Beam runner.
        # WriteToTFRecord needs a CRC32C implementation (google-crc32c is the fast one).
        "beam": ["apache-beam[tfrecord]>=2.60", "google-crc32c>=1.5"],
        # Portable exports (`python -m tfcolor.export --format onnx|litert`) and their
        # runtimes: tf2onnx converts, onnx (1.21+) raises the model to opset 26 (BitCast), ONNX
        # Runtime runs it (1.32 tested), ai-edge-litert holds the LiteRT interpreter.
        "export": ["tf2onnx>=1.17", "onnx>=1.21", "onnxruntime>=1.32", "ai-edge-litert>=2.3"],
    },
    entry_points={
        "console_scripts": [
            "tfcolor-train=tfcolor.cli.train:main",
            "tfcolor-colorize=tfcolor.cli.colorize:main",
            "tfcolor-colorize-beam=tfcolor.cli.colorize_beam:main",
            "tfcolor-evaluate=tfcolor.cli.evaluate:main",
            "tfcolor-bench=tfcolor.cli.bench:main",
            "tfcolor-preprocess=tfcolor.cli.preprocess:main",
            "tfcolor-refine=tfcolor.cli.refine:main",
            "tfcolor-convert=tfcolor.cli.convert:main",
            "tfcolor-export=tfcolor.cli.export:main",
        ]
    },
)
