"""Runs every signature of SavedModels in the session-based loader (TF Serving's, and
`saved_model_cli run`'s) and with `tf.saved_model.load`, and compares the outputs.

Run as a script in a fresh interpreter that never imports tfcolor:
`python session_check.py INPUTS.npz EXPORT...`; prints one JSON line per export.
"""

import io
import json
import sys

import numpy as np
import tensorflow as tf
from PIL import Image


def signature_inputs(names, inputs, loaded):
    """Feeds for one signature from the prepared arrays, by input name."""
    feeds = {}
    for key in names:
        if key in ("state_h", "state_c"):
            state = loaded.signatures["video_state"](frames=tf.constant(inputs["frames"]))
            feeds[key] = state[key].numpy()
        elif key == "image_bytes":
            feeds[key] = np.array([bytes(inputs["jpeg"]), bytes(inputs["png"])], dtype=object)
        else:
            feeds[key] = inputs[key]
    return feeds


def comparable(value):
    """A list of arrays: PNG strings as their pixels, anything else as itself."""
    if value.dtype == object:
        return [np.asarray(Image.open(io.BytesIO(item))) for item in value.ravel()]
    return [value]


def bounds_in_session(session, meta_graph, inputs):
    """What the session answers to input out of bounds (the error's class name per case) and
    to empty batches (each output's shape)."""
    png = bytearray(bytes(inputs["png"]))
    png[16:24] = (30000).to_bytes(4, "big") * 2  # IHDR claims 30000 x 30000
    cases = {
        "huge_png": ("serving_default", {"image_bytes": np.array([bytes(png)], dtype=object)}),
        "nan_temperature": (
            "colorize_images_at",
            {"images": inputs["images"], "render_size": 16, "temperature": float("nan")},
        ),
        "negative_render_size": (
            "colorize_images_at",
            {"images": inputs["images"], "render_size": -1, "temperature": 0.5},
        ),
        "empty_bytes": ("serving_default", {"image_bytes": np.array([], dtype=object)}),
        "empty_images": ("colorize_images", {"images": inputs["images"][:0]}),
    }
    if "video_state" in meta_graph.signature_def:
        frames = inputs["frames"]
        state = session.run(
            {
                key: info.name
                for key, info in meta_graph.signature_def["video_state"].outputs.items()
            },
            {meta_graph.signature_def["video_state"].inputs["frames"].name: frames[:0]},
        )
        cases["empty_chunk"] = ("colorize_video_chunk", {"frames": frames[:0], **state})
    answers = {}
    for case, (name, feeds) in cases.items():
        signature_def = meta_graph.signature_def[name]
        fetches = {key: info.name for key, info in signature_def.outputs.items()}
        try:
            outputs = session.run(
                fetches, {signature_def.inputs[k].name: v for k, v in feeds.items()}
            )
            answers[case] = {key: list(np.shape(value)) for key, value in outputs.items()}
        except tf.errors.OpError as error:
            answers[case] = type(error).__name__
    return answers


def session_config():
    """Grappler off: these graphs run once, optimizing them took most of the time."""
    config = tf.compat.v1.ConfigProto()
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    return config


def main():
    inputs = dict(np.load(sys.argv[1]))
    inputs["render_size"] = np.int32(16)
    inputs["temperature"] = np.float32(0.5)
    for export in sys.argv[2:]:
        loaded = tf.saved_model.load(export)
        feeds, objects = {}, {}
        for name, function in loaded.signatures.items():
            feeds[name] = signature_inputs(function.structured_input_signature[1], inputs, loaded)
            outputs = function(**{key: tf.constant(value) for key, value in feeds[name].items()})
            objects[name] = {key: value.numpy() for key, value in outputs.items()}
        report = {"export": export, "signatures": {}}
        with tf.Graph().as_default(), tf.compat.v1.Session(config=session_config()) as session:
            meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export)
            for name, signature_def in sorted(meta_graph.signature_def.items()):
                if name.startswith("__"):
                    continue
                fetches = {key: info.name for key, info in signature_def.outputs.items()}
                in_session = session.run(
                    fetches,
                    {signature_def.inputs[key].name: value for key, value in feeds[name].items()},
                )
                differences = {}
                for key in sorted(fetches):
                    a = comparable(np.asarray(in_session[key]))
                    b = comparable(objects[name][key])
                    differences[key] = {
                        "shapes": [list(x.shape) for x in a],
                        "same_shapes": [x.shape for x in a] == [y.shape for y in b],
                        "max_diff": max(
                            float(np.abs(x.astype(float) - y.astype(float)).max(initial=0))
                            for x, y in zip(a, b, strict=False)
                        ),
                    }
                report["signatures"][name] = differences
            report["bounds"] = bounds_in_session(session, meta_graph, inputs)
        report["tfcolor_imported"] = any(module.startswith("tfcolor") for module in sys.modules)
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
