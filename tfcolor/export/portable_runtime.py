"""Running a portable export (`tfcolor.export.portable`) without TensorFlow: ONNX Runtime for
an `.onnx` file, the LiteRT interpreter (`ai_edge_litert`) for a `.tflite` one. Imports
numpy and the runtime only, so a benchmark or a server can time or use a file as its real
consumer does (`pip install -e '.[export]'`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

__all__ = ["images_per_second", "open_portable"]


def _in_batches(run: Callable[[np.ndarray], dict], batch: int | None):
    """`run` on any N: a file with a fixed N (`batch`) gets the images `batch` at a time, the
    last call filled up with copies of its last image and the outputs cut back."""
    if not batch:
        return run

    def run_in_batches(images: np.ndarray) -> dict:
        if len(images) == 0:  # the outputs' shapes, from one call on a batch of black
            empty = run(np.zeros((batch, *images.shape[1:]), np.uint8))
            return {name: value[:0] for name, value in empty.items()}
        parts = []
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            filled = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), 0)])
            parts.append({name: value[: len(chunk)] for name, value in run(filled).items()})
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    return run_in_batches


def _with_uint8(run: Callable[[np.ndarray], dict]):
    return lambda images: run(np.asarray(images, np.uint8))


def open_portable(path: str, threads: int | None = None) -> Callable[[np.ndarray], dict]:
    """A function running the portable file at `path` on uint8 images [N, S, S, C]
    (S the file's side, C 1 to 4) and returning its outputs by name ({"colorized": uint8
    [N, S, S, 3]} and, with a classification head, "class_probabilities"). Any N: a file
    exported with a fixed N (a LiteRT file's default) is called on batches of that N.

    Args:
        path: an `.onnx` or `.tflite` file.
        threads: the runtime's intra-op threads; None: the runtime's default.

    Raises:
        ValueError: a file that is neither.
    """
    extension = os.path.splitext(path)[1].lower()
    if extension == ".onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        names = [output.name for output in session.get_outputs()]
        images_input = session.get_inputs()[0]

        def run_onnx(images: np.ndarray) -> dict:
            values = session.run(names, {images_input.name: images})
            return dict(zip(names, values, strict=True))

        batch = images_input.shape[0]
        return _with_uint8(_in_batches(run_onnx, batch if isinstance(batch, int) else None))
    if extension == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=path, num_threads=threads)
        runner = interpreter.get_signature_runner("serving_default")

        def run_litert(images: np.ndarray) -> dict:
            # The runner resizes its input to each call's shape (N where it is free, C).
            return runner(images=images)

        batch = int(runner.get_input_details()["images"]["shape_signature"][0])
        return _with_uint8(_in_batches(run_litert, batch if batch > 0 else None))
    raise ValueError(f"a portable export is an .onnx or .tflite file. Received: {path}")


def images_per_second(
    colorize: Callable[[np.ndarray], dict], images: np.ndarray, calls: int
) -> float:
    """Images/s of `colorize(images)` over `calls` calls, after one untimed call (the
    runtime's first call allocates)."""
    colorize(images)
    start = time.perf_counter()
    for _ in range(calls):
        colorize(images)
    return len(images) * calls / (time.perf_counter() - start)
