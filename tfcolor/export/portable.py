"""Portable exports: the colorization of the SavedModel's `colorize_images` as one ONNX or
LiteRT (TFLite) file, for runtimes without TensorFlow (ONNX Runtime, the LiteRT interpreter).

The file holds what `colorize_images` runs, traced from the same function
(`tfcolor.export.inference.colorize_batch`): uint8 images -> Lab lightness (`tfcolor.color`)
-> the network -> the codec's decoding -> ab upsampled to the input's size -> the input's own
lightness with that ab -> RGB, colours outside sRGB brought in by the run's gamut (`chroma`:
lower chroma at constant L and hue). Its contract:

    images       uint8 [N, S, S, C], C 1 to 4 (gray, gray + alpha, RGB, RGBA), S the run's
                 render size (`render_side`): the file's spatial size is fixed, N is free
    colorized    uint8 [N, S, S, 3]
    class_probabilities   float32 [N, classes], for a network with a classification head

Three TensorFlow ops of that path have no builtin in one of the formats; the frozen graph is
rewritten before conversion (`portable_graph`), each into ops that compute the same values:
`ScaleAndTranslate` (the antialiased resize of the lightness to the render size, which at the
render size is the identity: checked on the graph, else the export fails naming it) becomes
`Identity`; `ClipByValue` (the saturating cast to uint8; no LiteRT builtin) becomes `Maximum`
and `Minimum`; and TensorFlow's `Bitcast` (the first guess of `color._cube_root`) becomes ONNX's
`BitCast`, which is ONNX opset 26's: tf2onnx (1.17) converts to opset 18, and onnx's version
converter raises the model to `ONNX_OPSET`. An op that still has no conversion fails the
export with `PortableExportError` naming the op, its node (the layer's name is the node's
scope) and the format.

Only image models export: a recurrent video model's state does not fit one file's call (its
SavedModel has `colorize_video_chunk`). A network taking user hints exports its automatic
mode (no hints), as `colorize_images` runs it.

`tfcolor.export.portable_runtime` runs the files (ONNX Runtime, LiteRT) without TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import tempfile

import tensorflow as tf

from tfcolor.export import inference
from tfcolor.media.files import write_atomic

__all__ = [
    "DEFAULT_LITERT_BATCH",
    "EXTENSIONS",
    "FORMATS",
    "ONNX_OPSET",
    "PortableExportError",
    "colorize_function",
    "export_litert",
    "export_onnx",
    "export_portable",
    "portable_graph",
    "render_side",
]

# The formats of `python -m tfcolor.export`, and the file name endings of the portable ones.
FORMATS = ("saved_model", "onnx", "litert")
EXTENSIONS = {"onnx": ".onnx", "litert": ".tflite"}
# ONNX's BitCast (the cube root's first guess) came with opset 26; ONNX Runtime 1.20+ runs it.
ONNX_OPSET = 26
# The newest opset tf2onnx 1.17 writes; the model is raised from it to ONNX_OPSET.
_TF2ONNX_OPSET = 18
_INPUT = "images"
# A LiteRT file's N (`export_litert`): one image a call, the usual use on a device.
DEFAULT_LITERT_BATCH = 1


class PortableExportError(RuntimeError):
    """A network (or the colorization around it) that a portable format cannot hold: the
    message names the format, the TensorFlow op and its node (under the layer's name)."""


def render_side(render_size: int, multiple: int) -> int:
    """The portable file's side: `render_size` rounded as `colorize_batch` rounds it (to a
    multiple of the network's down-sampling), so that the file's input is at the render size.

    Raises:
        ValueError: render_size is not positive (a portable file has a fixed size).
    """
    if int(render_size) < 1:
        raise ValueError(
            "a portable export has a fixed size: render_size must be positive. "
            f"Received: render_size={render_size}"
        )
    size = int(render_size)
    return int(inference.render_shape(size, [size, size], int(multiple))[0])


def colorize_function(
    model,
    codec,
    side: int,
    multiple: int,
    temperature: float,
    gamut: str | None = None,
    with_classes: bool = False,
    batch_size: int | None = None,
):
    """The colorization the portable file holds, as a `tf.function` of uint8 images
    [batch_size, side, side, None] (named `images`; batch_size None: any N):
    `inference.colorize_batch` at render size `side`, as the SavedModel's `colorize_images`
    calls it.

    Returns:
        The concrete function: {"colorized": uint8 [N, side, side, 3]} (and
        "class_probabilities" float32 [N, classes] with `with_classes`).
    """

    spec = tf.TensorSpec([batch_size, side, side, None], tf.uint8, _INPUT)

    @tf.function(input_signature=[spec])
    def colorize(images):
        outputs = inference.colorize_batch(
            model,
            codec,
            images,
            side,
            multiple,
            temperature,
            with_classes=with_classes,
            gamut=gamut,
        )
        if with_classes:
            return {"colorized": outputs[0], "class_probabilities": outputs[1]}
        return {"colorized": outputs}

    return colorize.get_concrete_function()


# --- the portable graph ------------------------------------------------------------------------


def _frozen(concrete):
    """(GraphDef with the variables as constants, {output name: tensor name})."""
    from tensorflow.python.framework import convert_to_constants

    frozen, graph_def = convert_to_constants.convert_variables_to_constants_v2_as_graph(concrete)
    names = sorted(concrete.structured_outputs)  # tf.nest flattens a dict by sorted keys
    outputs = dict(zip(names, [tensor.name for tensor in frozen.outputs], strict=True))
    return graph_def, outputs


def _input_spec(concrete) -> tf.TensorSpec:
    """The `images` spec of a `colorize_function`."""
    return concrete.structured_input_signature[0][0]


def _tensor_name(node_input: str) -> str:
    return node_input if ":" in node_input else node_input + ":0"


def _graph_function(graph_def, fetches, spec):
    """`graph_def` as a `tf.function` of `images` (`spec`) returning `fetches`
    ({name: tensor name})."""
    names = sorted(fetches)

    @tf.function(input_signature=[spec])
    def run(images):
        tensors = tf.graph_util.import_graph_def(
            graph_def,
            input_map={_INPUT + ":0": images},
            return_elements=[fetches[name] for name in names],
            name="",
        )
        return {
            name: tf.identity(tensor, name=name)
            for name, tensor in zip(names, tensors, strict=True)
        }

    return run


def _identity_resizes(graph_def, spec) -> set[str]:
    """The `ScaleAndTranslate` nodes (antialiased resizes) of `graph_def` that leave their
    input as it is (output size the input's, scale 1, translation 0), found by running the
    graph's size, scale and translation on one image (they depend on the shape only).

    Raises:
        PortableExportError: a resize that changes its input (no builtin in either format).
    """
    resizes = [node for node in graph_def.node if node.op == "ScaleAndTranslate"]
    if not resizes:
        return set()
    fetches = {}
    for index, node in enumerate(resizes):
        for part, position in (("input", 0), ("size", 1), ("scale", 2), ("translation", 3)):
            fetches[f"{part}{index}"] = _tensor_name(node.input[position])
    image = tf.zeros([spec.shape[0] or 1, *spec.shape[1:3], 3], tf.uint8)
    values = _graph_function(graph_def, fetches, spec)(image)
    identities = set()
    for index, node in enumerate(resizes):
        in_shape = values[f"input{index}"].shape[1:3]
        size = values[f"size{index}"].numpy().tolist()
        scale = values[f"scale{index}"].numpy().tolist()
        translation = values[f"translation{index}"].numpy().tolist()
        if list(in_shape) != size or scale != [1.0, 1.0] or translation != [0.0, 0.0]:
            raise PortableExportError(
                f"node {node.name}: an antialiased resize (TensorFlow op ScaleAndTranslate) "
                f"from {list(in_shape)} to {size} has no ONNX or LiteRT builtin; use "
                "antialias=False (bilinear) in the network"
            )
        identities.add(node.name)
    return identities


def _rewrite_unpack(node, node_def_pb2) -> list:
    """Unpack (`tf.unstack`) as one strided slice per output: the same values, and LiteRT's
    UNPACK refuses an empty input (the chroma search's colours outside the gamut, when there
    are none), where STRIDED_SLICE takes it. Output i is the node `{name}/part{i}`."""
    count, axis = node.attr["num"].i, node.attr["axis"].i
    parts = []
    for index in range(count):
        if axis >= 0:  # [:, ..., :, index] with `axis` full slices before it
            begin, end = [0] * axis + [index], [0] * axis + [index + 1]
            masks = {"begin_mask": (1 << axis) - 1, "end_mask": (1 << axis) - 1}
            masks["shrink_axis_mask"] = 1 << axis
        else:  # [..., index, :, ..., :] with -axis - 1 full slices after it
            after = -axis - 1
            begin, end = [0, index] + [0] * after, [0, index + 1] + [0] * after
            full = ((1 << after) - 1) << 2
            masks = {"ellipsis_mask": 1, "shrink_axis_mask": 2, "begin_mask": full}
            masks["end_mask"] = full
        name = f"{node.name}/part{index}"
        constants = []
        for role, values in (("begin", begin), ("end", end), ("strides", [1] * len(begin))):
            constant = node_def_pb2.NodeDef(name=f"{name}/{role}", op="Const")
            constant.attr["dtype"].type = tf.int32.as_datatype_enum
            constant.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(values, tf.int32))
            constants.append(constant)
        part = node_def_pb2.NodeDef(
            name=name, op="StridedSlice", input=[node.input[0], *(c.name for c in constants)]
        )
        part.attr["T"].CopyFrom(node.attr["T"])
        part.attr["Index"].type = tf.int32.as_datatype_enum
        for mask, value in masks.items():
            part.attr[mask].i = value
        parts += [*constants, part]
    return parts


def _unpack_renames(graph_def) -> dict[str, str]:
    """Input references to the Unpack nodes' outputs -> the parts that replace them."""
    renames = {}
    for node in graph_def.node:
        if node.op == "Unpack":
            renames[node.name] = f"{node.name}/part0"
            renames[f"^{node.name}"] = f"^{node.name}/part0"
            for index in range(node.attr["num"].i):
                renames[f"{node.name}:{index}"] = f"{node.name}/part{index}"
    return renames


def portable_graph(concrete):
    """The frozen graph of `concrete` (`colorize_function`) with the ops that a portable
    format lacks, or runs differently, rewritten into ops computing the same values (the
    module docstring): `ScaleAndTranslate` at the identity -> `Identity`, `ClipByValue` ->
    `Maximum` and `Minimum`, `Unpack` -> `StridedSlice`s.

    Returns:
        (GraphDef, {output name: tensor name}); the input is the tensor `images:0`.

    Raises:
        PortableExportError: a resize that is not the identity.
    """
    from tensorflow.core.framework import node_def_pb2

    graph_def, outputs = _frozen(concrete)
    identities = _identity_resizes(graph_def, _input_spec(concrete))
    renames = _unpack_renames(graph_def)
    rewritten = tf.compat.v1.GraphDef()
    rewritten.CopyFrom(graph_def)
    del rewritten.node[:]
    for original in graph_def.node:
        node = node_def_pb2.NodeDef()
        node.CopyFrom(original)
        renamed = [renames.get(name, name) for name in node.input]
        del node.input[:]
        node.input.extend(renamed)
        if node.name in identities:
            identity = node_def_pb2.NodeDef(name=node.name, op="Identity", input=[node.input[0]])
            identity.attr["T"].CopyFrom(node.attr["T"])
            rewritten.node.append(identity)
        elif node.op == "ClipByValue":
            # min(max(x, low), high): ClipByValue's value for every x but NaN.
            lower = node_def_pb2.NodeDef(
                name=node.name + "/at_least", op="Maximum", input=[node.input[0], node.input[1]]
            )
            upper = node_def_pb2.NodeDef(
                name=node.name, op="Minimum", input=[lower.name, node.input[2]]
            )
            for part in (lower, upper):
                part.attr["T"].CopyFrom(node.attr["T"])
            rewritten.node.extend([lower, upper])
        elif node.op == "Unpack":
            rewritten.node.extend(_rewrite_unpack(node, node_def_pb2))
        else:
            rewritten.node.append(node)
    outputs = {name: renames.get(tensor, tensor) for name, tensor in outputs.items()}
    return rewritten, outputs


# --- ONNX --------------------------------------------------------------------------------------


def _bitcast_placeholder(placeholders: list[str]):
    """A tf2onnx handler writing TensorFlow's Bitcast as an ONNX `Cast` with the same `to`
    (the same signature as ONNX 26's BitCast, valid at tf2onnx's opset), its name kept in
    `placeholders` to be turned into BitCast once the model is at `ONNX_OPSET`."""

    def handler(ctx, node, name, args):
        del name, args
        to = ctx.get_dtype(node.output[0])
        node.type = "Cast"
        node.domain = ""
        for attribute in list(node.attr):
            del node.attr[attribute]
        node.set_attr("to", to)
        placeholders.append(node.name)
        return node

    return handler


def _onnx_unconverted(model_proto) -> list[str]:
    """`op (node name)` of the nodes of `model_proto` that are no ONNX op (tf2onnx leaves a
    TensorFlow op it cannot convert in the graph, under its TensorFlow type)."""
    import onnx

    return [
        f"{node.op_type} (node {node.name})"
        for node in model_proto.graph.node
        if not onnx.defs.has(node.op_type, node.domain or "")
    ]


def _rename_onnx(model_proto, renames: dict[str, str]) -> None:
    """Renames tensors of `model_proto` (its inputs and outputs: `images:0` -> `images`)."""
    graph = model_proto.graph
    for node in graph.node:
        for names in (node.input, node.output):
            renamed = [renames.get(name, name) for name in names]
            del names[:]
            names.extend(renamed)
    for value in [*graph.input, *graph.output]:
        value.name = renames.get(value.name, value.name)


def _onnx_bytes(graph_def, outputs: dict[str, str], metadata: dict[str, str]) -> bytes:
    """The ONNX model (serialized) of the portable graph, at `ONNX_OPSET`.

    Raises:
        PortableExportError: an op without an ONNX conversion, or a model ONNX's checker
            refuses.
    """
    import onnx
    import tf2onnx
    from onnx import version_converter

    placeholders: list[str] = []
    names = sorted(outputs)
    try:
        model_proto, _ = tf2onnx.convert.from_graph_def(
            graph_def,
            input_names=[_INPUT + ":0"],
            output_names=[outputs[name] for name in names],
            opset=_TF2ONNX_OPSET,
            custom_op_handlers={"Bitcast": (_bitcast_placeholder(placeholders), [])},
        )
    except Exception as error:  # tf2onnx raises many kinds; the message names the node
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise PortableExportError(f"ONNX export failed in tf2onnx: {first}") from error
    unconverted = _onnx_unconverted(model_proto)
    if unconverted:
        raise PortableExportError(
            "ONNX export: TensorFlow ops without an ONNX conversion (tf2onnx "
            f"{tf2onnx.__version__}): {', '.join(unconverted)}"
        )
    model_proto = version_converter.convert_version(model_proto, ONNX_OPSET)
    for node in model_proto.graph.node:
        if node.name in placeholders:
            node.op_type = "BitCast"
            kept = [attribute for attribute in node.attribute if attribute.name == "to"]
            del node.attribute[:]
            node.attribute.extend(kept)
    renames = {_INPUT + ":0": _INPUT, **{outputs[name]: name for name in names}}
    _rename_onnx(model_proto, renames)
    for key, value in metadata.items():
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, value
    try:
        onnx.checker.check_model(model_proto, full_check=True)
    except onnx.checker.ValidationError as error:
        raise PortableExportError(f"ONNX export: the converted model is invalid: {error}") from None
    return model_proto.SerializeToString()


# --- LiteRT ------------------------------------------------------------------------------------

_TFLITE_UNSUPPORTED = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
# The converter's locations: `fused["Op:", callsite("node"...` or `fused["Op:", "node@fn"]`.
_TFLITE_NODE = re.compile(r'fused\["(\w+):", (?:callsite\()?"([^"@]+)')


def _litert_error(error: Exception) -> PortableExportError:
    """The converter's error as one message naming the ops and their nodes."""
    text = str(error)
    ops = sorted(set(_TFLITE_UNSUPPORTED.findall(text)))
    nodes = sorted({f"{op} (node {node})" for op, node in _TFLITE_NODE.findall(text)})
    if ops:
        where = f": {', '.join(nodes)}" if nodes else ""
        return PortableExportError(
            f"LiteRT export: TensorFlow ops without a LiteRT builtin: {', '.join(ops)}{where}"
        )
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return PortableExportError(f"LiteRT export failed in the TFLite converter: {first}")


def _litert_bytes(graph_def, outputs: dict[str, str], spec) -> bytes:
    """The LiteRT flatbuffer of the portable graph: one signature, `serving_default`
    (`images` -> the outputs by name), builtin ops only (no TensorFlow in the runtime).

    As Keras' LiteRT exporter: a SavedModel of the function, then
    `TFLiteConverter.from_saved_model`.

    Raises:
        PortableExportError: an op without a LiteRT builtin (named, with its node).
    """
    function = _graph_function(graph_def, outputs, spec)
    module = tf.Module()
    module.colorize = function
    with tempfile.TemporaryDirectory(prefix="tfcolor-litert-") as folder:
        tf.saved_model.save(
            module, folder, signatures={"serving_default": function.get_concrete_function()}
        )
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            return converter.convert()
        except Exception as error:  # ConverterError, or an MLIR pass's own
            raise _litert_error(error) from None


# --- writing -----------------------------------------------------------------------------------


def _check_image_network(model) -> None:
    if hasattr(model, "zero_state"):  # VideoUNet: frames and a recurrent state
        raise ValueError(
            "only image models export to onnx or litert: a recurrent video network's state "
            "does not fit one call (its SavedModel serves video: colorize_video_chunk)"
        )


def _export(
    model,
    codec,
    path: str,
    render_size: int,
    multiple: int,
    temperature: float,
    class_names,
    gamut: str | None,
    batch_size: int | None,
    format: str,
) -> str:
    _check_image_network(model)
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be positive or None. Received: {batch_size}")
    gamut = codec.config.gamut if gamut is None else gamut
    side = render_side(render_size, multiple)
    concrete = colorize_function(
        model,
        codec,
        side,
        multiple,
        temperature,
        gamut,
        with_classes=bool(class_names),
        batch_size=batch_size,
    )
    graph_def, outputs = portable_graph(concrete)
    if format == "onnx":
        metadata = {
            "render_size": str(side),
            "codec": codec.name,
            "temperature": str(float(temperature)),
            "gamut": gamut,
            "class_names": json.dumps(list(class_names or [])),
        }
        contents = _onnx_bytes(graph_def, outputs, metadata)
    else:
        contents = _litert_bytes(graph_def, outputs, _input_spec(concrete))
    # Readable by everyone (0644, as the SavedModel's files: a server often runs as another
    # user).
    return write_atomic(path, contents, mode=0o644)


def export_onnx(
    model,
    codec,
    path: str,
    render_size: int,
    multiple: int,
    temperature: float,
    class_names=None,
    gamut: str | None = None,
    batch_size: int | None = None,
) -> str:
    """Writes the colorization of `colorize_images` at `render_size` as an ONNX file.

    Args:
        model, codec, multiple, temperature, class_names, gamut: as
            `tfcolor.export.saved_model.export_saved_model`.
        path: the file to write (replaced whole if it exists).
        render_size: the file's side (rounded to `multiple`: `render_side`).
        batch_size: the file's N; None: any.

    Returns:
        The path. Input `images` uint8 [N, S, S, 1 to 4], output `colorized` uint8
        [N, S, S, 3] (and `class_probabilities` with class_names); the model's metadata
        (`metadata_props`) holds render_size, codec, temperature, gamut and class_names.

    Raises:
        ValueError: a video network, render_size or batch_size below 1.
        PortableExportError: an op ONNX cannot hold (named, with its node and layer).
    """
    return _export(
        model,
        codec,
        path,
        render_size,
        multiple,
        temperature,
        class_names,
        gamut,
        batch_size,
        "onnx",
    )


def export_litert(
    model,
    codec,
    path: str,
    render_size: int,
    multiple: int,
    temperature: float,
    class_names=None,
    gamut: str | None = None,
    batch_size: int | None = DEFAULT_LITERT_BATCH,
) -> str:
    """Writes the colorization of `colorize_images` at `render_size` as a LiteRT (.tflite)
    file with one signature, `serving_default`: `images` -> `colorized` (and
    `class_probabilities`), builtin ops only.

    The batch is fixed (`DEFAULT_LITERT_BATCH`, one image a call, by default): with a free
    N the TFLite converter loses the static shapes after Keras' UpSampling2D and leaves the
    next convolution unconverted (Iizuka's colorization network, measured); None asks for
    a free N anyway. Arguments, returns and raises as `export_onnx`.
    """
    return _export(
        model,
        codec,
        path,
        render_size,
        multiple,
        temperature,
        class_names,
        gamut,
        batch_size,
        "litert",
    )


def export_portable(
    run, format: str, output: str | None = None, batch_size: int | None = None
) -> str:
    """Exports a run (`tfcolor.training.Colorizer`) as `format` at its render size.

    Args:
        run: the opened run.
        format: `saved_model` (the run's versioned SavedModel export, as training writes it),
            `onnx` or `litert`.
        output: saved_model: the folder of versions (default the run's `export/`); onnx,
            litert: the file (ending in `.onnx` / `.tflite`), or a folder (existing, or
            ending in a separator) to write `colorizer.onnx` / `colorizer.tflite` in (default
            the run's `export/`).
        batch_size: the portable file's N; None: any N for onnx, `DEFAULT_LITERT_BATCH` for
            litert. Not for saved_model (any N).

    Returns:
        The SavedModel version's folder, or the file written.

    Raises:
        ValueError: an unknown format, a video run to onnx or litert, a batch_size for
            saved_model, or an output file named with another format's ending.
        PortableExportError: as `export_onnx`.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}. Received: {format!r}")
    if format == "saved_model":
        if batch_size is not None:
            raise ValueError("a SavedModel takes any batch: batch_size is for onnx and litert")
        return run.export_saved_model(output)
    if run.video:
        raise ValueError(
            f"{run.model_dir} holds a recurrent video model ({run.config.model.name}): only "
            "image models export to onnx or litert; --format saved_model serves video "
            "(colorize_video_chunk)"
        )
    extension = EXTENSIONS[format]
    path = run.export_dir_base if output is None else output
    if output is None or os.path.isdir(path) or path.endswith(os.sep):
        path = os.path.join(path, "colorizer" + extension)
    elif not path.endswith(extension):
        raise ValueError(f"output {path}: a {format} file's name ends in {extension}")
    if format == "litert" and batch_size is None:
        batch_size = DEFAULT_LITERT_BATCH
    config = run.config
    # Iizuka's presets render at each image's own size (render_size 0); their file takes
    # images at the training size.
    render_size = config.render_size or config.data.image_size
    export = export_onnx if format == "onnx" else export_litert
    return export(
        run.model,
        run.codec,
        path,
        render_size,
        getattr(run.model, "downsampling", 1),
        config.codec.temperature,
        class_names=run.class_names,
        gamut=config.codec.gamut,
        batch_size=batch_size,
    )
