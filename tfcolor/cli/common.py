"""What the commands (`tfcolor.cli`: train, refine, evaluate, colorize, preprocess, bench)
share; the library never calls it.

Flags: `add_config_flags` makes one flag per field of a config dataclass from the field's
declaration (`tfcolor.config.base.option`: its help, choices, bounds and flag name), and
`config_values` reads them back; `add_run_flags` adds the flags that are no config field and
that train and refine share. Argument types: `positive_int`, `non_negative_int`,
`positive_float`, `frame_size`, `int_list`, `name_list`.

Outputs never destroy inputs: a command checks with `check_not_input` that its output folder
is not an input and holds none (real paths, so symlinks count as what they point at), checks
with `prepare_output_folder` that the folder can be written before any work, and writes each
result with `write_atomic` / `atomic_target` (a temporary file in the same folder, renamed
into place: a symlink at the final name is replaced, never followed).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tfcolor.config.base import field_type
from tfcolor.media import files

__all__ = [
    "add_config_flags",
    "add_run_flags",
    "atomic_target",
    "beam_parser",
    "parse_with_beam",
    "check_not_input",
    "config_values",
    "expand_source",
    "frame_size",
    "int_list",
    "name_list",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "prepare_output_folder",
    "quiet_tensorflow",
    "within",
    "write_atomic",
]


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0 (render sizes, where 0 means each image's own)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def quiet_tensorflow() -> None:
    """Hides TensorFlow's C++ info and warning lines; call before TensorFlow is imported.

    They (CPU features, XLA service) drown a command's own output; a user who wants them sets
    TF_CPP_MIN_LOG_LEVEL=0.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def frame_size(value: str) -> tuple[int, int]:
    """argparse type: WIDTHxHEIGHT (240x135) -> (width, height). A side of 0 leaves it free
    (240x0: 240 wide, the height that keeps the aspect ratio); 0x0 keeps each video's size."""
    parts = value.lower().split("x")
    try:
        width, height = (int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT such as 240x135, got {value!r}"
        ) from None
    if width < 0 or height < 0:
        raise argparse.ArgumentTypeError(f"sides must be >= 0, got {value!r}")
    return width, height


def int_list(example: str) -> Callable[[str], tuple[int, ...]]:
    """argparse type: comma-separated positive integers (`8,16,32`) -> a tuple; `example` is
    shown when the text is not that."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(part) for part in text.split(","))
        except ValueError:
            values = ()
        if not values or min(values) < 1:
            raise argparse.ArgumentTypeError(
                f"takes positive integers like {example}. Received: {text}"
            )
        return values

    return parse


def name_list(text: str) -> tuple[str, ...] | None:
    """argparse type: comma-separated names -> a tuple (blanks dropped); None when there are
    none (the flag then changes nothing)."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    return names or None


def expand_source(source: str | None) -> str | None:
    """A data source with `~` expanded in its folder (folder:, video:, tfrecord:)."""
    if source is None:
        return None
    source = os.path.expanduser(source)
    for kind in ("folder:", "video:", "tfrecord:"):
        if source.startswith(kind):
            return kind + os.path.expanduser(source[len(kind) :])
    return source


def _flag(field: dataclasses.Field) -> str:
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def _dest(kind: type, field: dataclasses.Field) -> str:
    return f"{kind.__name__}.{field.name}"


def _argument_type(kind: type, field: dataclasses.Field) -> Callable[[str], Any] | None:
    """The argparse type of a field, from its type and declared bounds."""
    base, _ = field_type(kind, field.name)
    meta = field.metadata
    if base is int:
        return {1: positive_int, 0: non_negative_int}.get(meta.get("ge"), int)
    if base is float:
        return positive_float if meta.get("gt") == 0 else float
    if base is str:
        return None
    if base == tuple[int, int]:
        return frame_size
    if base == tuple[int, ...]:
        default = field.default if isinstance(field.default, tuple) else (8, 16, 32)
        return int_list(",".join(str(value) for value in default))
    if base == tuple[str, ...]:
        return name_list
    raise TypeError(f"{kind.__name__}.{field.name}: no command-line type for {base}")


def add_config_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    kind: type,
    *,
    defaults: bool = False,
    only: Sequence[str] | None = None,
) -> None:
    """Adds one flag per field of the config dataclass `kind` that declares a `help` (of the
    fields named in `only`, where given).

    The flag is `--field-name` (or the field's `flag`), its help the field's, its choices the
    field's (None spelled as its `none`), its type from the field's type and bounds
    (`ge=1`: `positive_int`, `ge=0`: `non_negative_int`, `gt=0`: `positive_float`, tuples of
    integers: `int_list`, (width, height): `frame_size`, tuples of names: `name_list`), a
    bool a `--name / --no-name` pair. Read the values back with `config_values`.

    Args:
        parser: the parser or argument group.
        kind: a config dataclass (`tfcolor.config`).
        defaults: the flags default to the fields' defaults, shown in the help; without it
            they default to None, "not given" (a preset's value stays).
        only: the names of the fields to add flags for; None: every field with a help.
    """
    for field in _flagged_fields(kind, only):
        meta = field.metadata
        flag = _flag(field)
        options: dict[str, Any] = {"dest": _dest(kind, field), "help": meta["help"]}
        options["help"] = options["help"].replace("%", "%%")
        default = None
        if field_type(kind, field.name)[0] is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = _argument_type(kind, field)
            if "choices" in meta:
                none = meta.get("none")
                options["choices"] = [none if c is None else c for c in meta["choices"]]
            else:
                options["metavar"] = flag.lstrip("-").upper().replace("-", "_")
            if defaults and field.default is not None:
                default = field.default
                if isinstance(default, tuple):  # argparse passes a str default through type
                    default = ",".join(str(value) for value in default)
                text = options["help"]
                closing = text.endswith(")")  # "... (Gulrajani et al.: 5; default: 5)"
                text = text[:-1] + "; " if closing else text + " ("
                options["help"] = text + "default: %(default)s)"
        if defaults and "action" in options:
            default = field.default
        parser.add_argument(flag, default=default, **options)


def config_values(
    args: argparse.Namespace, kind: type, only: Sequence[str] | None = None
) -> dict[str, Any]:
    """The values of `kind`'s fields given on the command line (`add_config_flags`'s flags,
    with the same `only`): field name -> value, with a field's `none` spelling turned into
    None; a flag left out (None) is not in it."""
    values = {}
    for field in _flagged_fields(kind, only):
        value = getattr(args, _dest(kind, field))
        if value is None:
            continue
        none = field.metadata.get("none")
        if none is not None and _spells(value, none):
            value = None
        values[field.name] = value
    return values


def _flagged_fields(kind: type, only: Sequence[str] | None) -> list[dataclasses.Field]:
    """The fields of `kind` that have a flag (a `help`), of those in `only` where given."""
    fields = [field for field in dataclasses.fields(kind) if "help" in field.metadata]
    if only is None:
        return fields
    unknown = set(only) - {field.name for field in fields}
    if unknown:
        raise ValueError(f"{kind.__name__} has no flagged fields {sorted(unknown)}")
    return [field for field in fields if field.name in only]


def _spells(value: Any, word: str) -> bool:
    """Whether a parsed flag value is the word that means None (`none`, `0`)."""
    if isinstance(value, str):
        return value.lower() == word.lower()
    try:
        return value == type(value)(word)
    except ValueError:
        return False


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of the commands that train a run (train, refine) that are no config field."""
    parser.add_argument("--no-export", action="store_true", help="skip the SavedModel export")
    parser.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=[0, 1, 2],
        help="Keras progress output (0 silent, 1 bar, 2 a line per epoch)",
    )


def within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies inside it, compared as real paths."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_not_input(
    output: str, inputs: Sequence[str], flag: str, *, results_checked: bool = False
) -> None:
    """Refuses an output folder that is an input or holds one (compared as real paths).

    Args:
        output: the output folder (it need not exist yet).
        inputs: input files and folders.
        flag: the option that named `output`, for the message.
        results_checked: the caller checks each result's path against the input files
            (colorize), so the output may hold input files and lie inside an input folder;
            an input folder inside it, or the output being an input, is still refused.
            Without it (evaluate) any overlap is refused: its PNGs would become data.

    Raises:
        ValueError: one line naming both paths.
    """
    for item in inputs:
        folder = os.path.isdir(item)
        if within(item, output) and (folder or not results_checked or within(output, item)):
            what = "is" if within(output, item) else "holds"
            raise ValueError(f"{flag} {output} {what} the input {item}; choose another folder")
        if within(output, item) and not (results_checked and folder):
            raise ValueError(f"{flag} {output} lies inside the input {item}; choose another folder")


def prepare_output_folder(path: str, flag: str) -> None:
    """Makes the output folder and checks that a file can be created in it, before any work.

    Raises:
        ValueError: one line: the path is a file, or cannot be made or written (the reason).
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path} is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(prefix=".tfcolor-write-check-", dir=path)
        os.close(descriptor)
        os.remove(probe)
    except OSError as error:
        raise ValueError(f"{flag} {path}: cannot write there ({error.strerror or error})") from None


@contextlib.contextmanager
def atomic_target(target: str, root: str) -> Iterator[str]:
    """A temporary path beside `target` to write, renamed onto `target` if the block ends
    without an exception (and removed otherwise): `tfcolor.media.files.atomic_path`, in a
    folder that may not lead outside `root` through a symlink.

    `os.replace` replaces a symlink at `target` rather than writing where it points. The
    folders up to `target` are made.

    Raises:
        OSError: the folder cannot be made, leads outside `root`, or cannot be written.
    """
    folder = os.path.dirname(target) or "."
    # Checked before anything is made: realpath resolves the part of the path that exists,
    # so a symlink out of `root` is refused without a folder left behind where it points.
    if not within(folder, root):
        raise OSError(f"{folder} leads outside {root} through a symlink")
    with files.atomic_path(target) as partial:
        yield partial


def write_atomic(target: str, contents: bytes, root: str) -> None:
    """Writes `contents` to `target` through `atomic_target`.

    Raises:
        OSError: as `atomic_target`, or the write failed (disk full).
    """
    with atomic_target(target, root) as partial, open(partial, "wb") as f:
        f.write(contents)


def beam_parser() -> argparse.ArgumentParser:
    """Beam's own parser of every pipeline option it knows (its runners' included), for the
    commands that run a Beam pipeline (preprocess, colorize_beam) to parse theirs beside it."""
    from apache_beam.options.pipeline_options import PipelineOptions

    captured = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=captured.append)
    return captured[0]


def parse_with_beam(parser: argparse.ArgumentParser, add_arguments, argv: Sequence[str], prog: str):
    """A Beam command's flags and Beam's, from one command line, in any order.

    Both sets are parsed by one parser that knows them all (`beam_parser` with
    `add_arguments(parser)` on top), so that a Beam flag's value (`--runner DataflowRunner`) is
    never taken for an input; a flag neither knows is a usage error of `parser`. Beam gets
    only the options given on the command line.

    Returns:
        (the command's own `argparse.Namespace`, Beam's `PipelineOptions`).
    """
    argv = list(argv)
    if "-h" in argv or "--help" in argv:
        parser.parse_args(["--help"])  # exits, with or without Beam
    from apache_beam.options.pipeline_options import PipelineOptions

    combined = beam_parser()
    add_arguments(combined)
    combined.error = parser.error  # our usage line, not Beam's 170 options
    namespace, unknown = combined.parse_known_args(argv)
    if unknown:
        parser.error(
            f"unrecognized arguments: {' '.join(unknown)} (neither {prog}'s flags nor Beam "
            "pipeline options)"
        )
    ours = {action.dest for action in parser._actions}  # argparse has no public way
    beam_options = {
        dest: value
        for dest, value in vars(namespace).items()
        if dest not in ours and value != combined.get_default(dest)
    }
    own = argparse.Namespace(**{dest: getattr(namespace, dest) for dest in ours if dest != "help"})
    return own, PipelineOptions(flags=[], **beam_options)
