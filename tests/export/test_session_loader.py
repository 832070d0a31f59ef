"""Exports run in the session-based loader of TF Serving's C++ server and `saved_model_cli run`
(issue 14): every variable tracked, every signature giving what `tf.saved_model.load` gives."""

from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.helpers import encode, run_python, saved_model_cli_run

pytestmark = pytest.mark.reliability

SESSION_CHECK = os.path.join(os.path.dirname(__file__), "session_check.py")


@pytest.mark.slow
def test_every_signature_runs_in_the_session_loader(
    small_budget_export, classifier_export, video_export, photos, tmp_path
):
    """Image, classification-head and recurrent video exports: each signature in a
    `tf.compat.v1.Session` gives what the object loader gives (PNGs as pixels, exactly)."""
    photo = photos["chelsea"]
    inputs = tmp_path / "inputs.npz"
    np.savez(
        inputs,
        jpeg=np.frombuffer(encode(photo[:40, :56], "JPEG"), np.uint8),
        png=np.frombuffer(encode(photo[50:83, :61], "PNG"), np.uint8),
        images=photo[None, :20, :28, :1].copy(),
        frames=np.stack([photo[:20, :28, :1], photo[5:25, :28, :1]])[None],
    )
    exports = [small_budget_export, classifier_export, video_export]
    result = run_python([SESSION_CHECK, str(inputs), *exports], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [report["export"] for report in reports] == exports
    expected = {
        small_budget_export: {
            "serving_default": ["colorized_png_bytes"],
            "colorize_bytes_at_size": ["colorized_png_bytes"],
            "colorize_images": ["colorized"],
            "colorize_images_at": ["colorized"],
        },
    }
    expected[classifier_export] = {
        **expected[small_budget_export],
        "colorize_images": ["class_probabilities", "colorized"],
    }
    expected[video_export] = {
        **expected[small_budget_export],
        "colorize_video_chunk": ["colorized", "state_c", "state_h"],
        "video_state": ["state_c", "state_h"],
    }
    for report in reports:
        assert report["tfcolor_imported"] is False
        # The bounds hold in the session too, as InvalidArgument; empty batches stay empty.
        bounds = report["bounds"]
        for case in ("huge_png", "nan_temperature", "negative_render_size"):
            assert bounds[case] == "InvalidArgumentError", (case, bounds)
        assert bounds["empty_bytes"] == {"colorized_png_bytes": [0]}, bounds
        assert bounds["empty_images"]["colorized"] == [0, 20, 28, 3], bounds
        if "class_probabilities" in bounds["empty_images"]:
            assert bounds["empty_images"]["class_probabilities"] == [0, 2], bounds
        signatures = report["signatures"]
        outputs = {name: sorted(signatures[name]) for name in signatures}
        assert outputs == expected[report["export"]], report
        for name, keys in signatures.items():
            for key, compared in keys.items():
                assert compared["same_shapes"], (report["export"], name, key, compared)
                assert compared["max_diff"] <= 1e-5, (report["export"], name, key, compared)
    video_bounds = reports[2]["bounds"]
    assert video_bounds["empty_chunk"]["colorized"] == [0, 2, 20, 28, 3], video_bounds
    assert video_bounds["empty_chunk"]["state_h"][0] == 0, video_bounds
    # The PNGs keep each input's own size.
    video_report = reports[2]["signatures"]
    assert video_report["serving_default"]["colorized_png_bytes"]["shapes"] == [
        [40, 56, 3],
        [33, 61, 3],
    ]
    assert video_report["colorize_video_chunk"]["colorized"]["shapes"] == [[1, 2, 20, 28, 3]]


def test_saved_model_cli_run_serves_the_default_signature(
    small_budget_export, small_budget_loaded, photos, tmp_path
):
    """The command of issue 14's report, which failed with "Could not find variable"."""
    jpeg = encode(photos["coffee"][:45, :70], "JPEG")
    np.save(tmp_path / "bytes.npy", np.array([jpeg], dtype=object))
    result = saved_model_cli_run(
        small_budget_export,
        "serving_default",
        f"image_bytes={tmp_path / 'bytes.npy'}",
        tmp_path / "out",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    from_cli = np.load(tmp_path / "out" / "colorized_png_bytes.npy", allow_pickle=True)
    expected = small_budget_loaded.signatures["serving_default"](image_bytes=tf.constant([jpeg]))
    cli_pixels = np.asarray(Image.open(io.BytesIO(from_cli[0])))
    object_pixels = tf.io.decode_png(expected["colorized_png_bytes"][0]).numpy()
    assert cli_pixels.shape == (45, 70, 3)
    np.testing.assert_array_equal(cli_pixels, object_pixels)


def _tf_serving_rest_inputs(body: str, signature) -> dict:
    """What TF Serving's REST front end makes of a predict request body (its json_tensor.cc,
    row format): each instance is one batch element; a JSON object whose only key is "b64" is
    base64-decoded into the bytes of a string input; with one input, bare values feed it."""
    request = json.loads(body)
    names = list(signature.structured_input_signature[1])
    values = {name: [] for name in names}
    for instance in request["instances"]:
        if isinstance(instance, dict) and set(instance) != {"b64"}:
            items = instance.items()
        else:
            assert len(names) == 1, "a plain instance list needs a single-input signature"
            items = [(names[0], instance)]
        for name, value in items:
            if isinstance(value, dict):
                assert set(value) == {"b64"}
                value = base64.b64decode(value["b64"])
            values[name].append(value)
    return {name: tf.constant(value) for name, value in values.items()}


def test_readme_rest_request_runs_through_serving_default(small_budget_loaded, photos):
    """README: POST `{"instances": [{"b64": "<base64 JPEG>"}]}` to the default signature."""
    jpeg = encode(photos["astronaut"][:48, :40], "JPEG")
    body = json.dumps({"instances": [{"b64": base64.b64encode(jpeg).decode("ascii")}]})
    signature = small_budget_loaded.signatures["serving_default"]
    outputs = signature(**_tf_serving_rest_inputs(body, signature))
    assert tf.io.decode_png(outputs["colorized_png_bytes"][0]).shape == (48, 40, 3)
    # Named inputs, as a client that names them sends: the same bytes, the same answer.
    named = json.dumps({"instances": [{"image_bytes": {"b64": base64.b64encode(jpeg).decode()}}]})
    again = signature(**_tf_serving_rest_inputs(named, signature))
    assert again["colorized_png_bytes"][0].numpy() == outputs["colorized_png_bytes"][0].numpy()


def _tf_serving_rest_response(outputs: dict) -> str:
    """What TF Serving's REST front end makes of a predict response (its json_tensor.cc, row
    format): a string output whose name ends in `_bytes` is sent as {"b64": ...}; any other
    string output is put into the JSON as text (raw PNG bytes are not text: it fails)."""

    def value(name, item):
        if isinstance(item, bytes):
            if name.endswith("_bytes"):
                return {"b64": base64.b64encode(item).decode("ascii")}
            return item.decode("utf-8")  # UnicodeDecodeError for binary data
        return item.tolist()

    arrays = {name: tensor.numpy() for name, tensor in outputs.items()}
    rows = len(next(iter(arrays.values())))
    if len(arrays) == 1:
        ((name, array),) = arrays.items()
        predictions = [value(name, array[row]) for row in range(rows)]
    else:
        predictions = [
            {name: value(name, array[row]) for name, array in arrays.items()} for row in range(rows)
        ]
    return json.dumps({"predictions": predictions})


def test_rest_response_carries_the_png_as_b64(small_budget_loaded, photos):
    """README: each prediction of the REST recipe is {"b64": "<base64 PNG>"}."""
    jpeg = encode(photos["chelsea"][:40, :56], "JPEG")
    body = json.dumps({"instances": [{"b64": base64.b64encode(jpeg).decode("ascii")}]})
    signature = small_budget_loaded.signatures["serving_default"]
    outputs = signature(**_tf_serving_rest_inputs(body, signature))
    response = json.loads(_tf_serving_rest_response(outputs))
    (prediction,) = response["predictions"]
    png = base64.b64decode(prediction["b64"])
    assert png == outputs["colorized_png_bytes"][0].numpy()
    assert tf.io.decode_png(png).shape == (40, 56, 3)
