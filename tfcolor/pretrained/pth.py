"""Reads a PyTorch state dict (`torch.save(model.state_dict(), path)`) into numpy arrays,
without PyTorch and without running the file's pickle.

A `.pth` file is a pickle, and unpickling runs whatever functions the file names. This reader
unpickles with an allow-list: the only globals it resolves are `collections.OrderedDict`,
PyTorch's tensor-rebuild functions (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`)
and the storage types (`torch.FloatStorage`, ...), each replaced by a function of its own that
builds a numpy array; any other global is refused with `PthError` naming it, before anything
of it runs. Tensor data are read as raw bytes, never unpickled.

Both of PyTorch's formats are read: the zip archive `torch.save` writes since PyTorch 1.6
(`<name>/data.pkl` and one file per storage under `<name>/data/`) and the older sequential
format (magic number, protocol, system info, the pickle, then the storages' bytes).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from typing import Any, BinaryIO

import numpy as np

__all__ = ["PthError", "read_state_dict"]

# torch's storage types and their element types (torch/storage.py).
_STORAGE_DTYPES = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
# The legacy format's first pickled value and protocol version (torch/serialization.py).
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class PthError(ValueError):
    """The file is not a PyTorch state dict this reader takes (named in the message)."""


class _StorageType:
    """Stands for a torch storage class in the pickle: only its element type is used."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A storage named by the pickle; its bytes are attached once read (`array`)."""

    def __init__(self, storage_type: _StorageType, key: str, numel: int | None):
        self.storage_type = storage_type
        self.key = key
        self.numel = numel
        self.array: np.ndarray | None = None


class _Tensor:
    """A tensor named by the pickle: a strided view of a storage, built once it is read."""

    def __init__(self, storage: _Storage, offset: int, size, stride):
        if not isinstance(storage, _Storage):
            raise PthError(f"a tensor's storage is a {type(storage).__name__}, not a storage")
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(side) for side in size)
        self.stride = tuple(int(step) for step in stride)
        if len(self.size) != len(self.stride) or min(self.size + self.stride, default=0) < 0:
            raise PthError(f"a tensor has size {self.size} and stride {self.stride}")

    def to_numpy(self) -> np.ndarray:
        data = self.storage.array
        if self.size and min(self.size) == 0:
            return np.zeros(self.size, data.dtype)
        last = self.offset + sum(
            (side - 1) * step for side, step in zip(self.size, self.stride, strict=True)
        )
        if self.offset < 0 or last >= len(data):
            raise PthError(
                f"a tensor of size {self.size} at offset {self.offset} reaches past its "
                f"storage {self.storage.key!r} of {len(data)} elements"
            )
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(step * data.itemsize for step in self.stride),
            writeable=False,
        )
        return np.array(view)  # a copy: the storage's buffer is not kept alive


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, *rest):
    del requires_grad, rest  # backward hooks (an empty OrderedDict) and metadata
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest):
    del requires_grad, backward_hooks, rest
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allow-listed globals; storages through `persistent_load`."""

    def __init__(self, file: BinaryIO, storages: dict[str, _Storage], path: str):
        super().__init__(file)
        self._storages = storages
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise PthError(
            f"{self._path}: the pickle names the global {module}.{name}, which a state dict "
            "of tensors does not hold; the file was not loaded (only ordered dicts, tensors "
            "and their storages are read)"
        )

    def persistent_load(self, pid) -> _Storage:
        # Zip: ("storage", type, key, location, numel); legacy: the same and view metadata.
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise PthError(f"{self._path}: an unknown persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(storage_type, _StorageType):
            raise PthError(f"{self._path}: storage {key!r} has no storage type ({storage_type!r})")
        if len(pid) > 5 and pid[5] is not None:
            raise PthError(f"{self._path}: storage views (legacy PyTorch < 0.4) are not read")
        if key not in self._storages:
            self._storages[key] = _Storage(storage_type, key, numel)
        return self._storages[key]


def _tensors_of(obj, path: str) -> collections.OrderedDict:
    """The state dict's arrays, in the file's order."""
    if not isinstance(obj, dict):
        kind = "tensor" if isinstance(obj, _Tensor) else type(obj).__name__
        raise PthError(f"{path} holds a {kind}, not a state dict")
    arrays = collections.OrderedDict()
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, _Tensor):
            raise PthError(
                f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor (a state "
                "dict maps parameter names to tensors)"
            )
        arrays[key] = value.to_numpy()
    return arrays


def _read_zip(archive: zipfile.ZipFile, path: str):
    names = archive.namelist()
    pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
    if len(pickles) != 1:
        raise PthError(f"{path}: a PyTorch zip archive holds one data.pkl. Found: {pickles}")
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = "little"
    if f"{prefix}byteorder" in names:
        byteorder = archive.read(f"{prefix}byteorder").decode().strip()
    if byteorder not in ("little", "big"):
        raise PthError(f"{path}: unknown byte order {byteorder!r}")
    storages: dict[str, _Storage] = {}
    unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), storages, path)
    obj = unpickler.load()
    for key, storage in storages.items():
        record = f"{prefix}data/{key}"
        if record not in names:
            raise PthError(f"{path}: storage {key!r} is named but not in the archive")
        dtype = storage.storage_type.dtype.newbyteorder("<" if byteorder == "little" else ">")
        raw = archive.read(record)
        if len(raw) % dtype.itemsize:
            raise PthError(f"{path}: storage {key!r} is not a whole number of {dtype} values")
        storage.array = np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="))
    return obj


def _read_legacy(file: BinaryIO, path: str):
    def plain(what: str):
        # The header holds plain values only: no global is admitted at all.
        value = _RestrictedUnpickler(file, {}, path).load()
        if not isinstance(value, (int, dict)):
            raise PthError(f"{path}: the {what} is a {type(value).__name__}")
        return value

    if plain("magic number") != _LEGACY_MAGIC:
        raise PthError(f"{path} is neither a PyTorch zip archive nor a legacy PyTorch file")
    if plain("protocol version") != _LEGACY_PROTOCOL:
        raise PthError(f"{path}: an unknown legacy PyTorch protocol version")
    system = plain("system info")
    if not system.get("little_endian", True):
        raise PthError(f"{path}: a big-endian legacy file is not read")
    storages: dict[str, _Storage] = {}
    obj = _RestrictedUnpickler(file, storages, path).load()
    keys = _RestrictedUnpickler(file, {}, path).load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
        raise PthError(f"{path}: the storage list does not match the storages named")
    for key in map(str, keys):
        storage = storages[key]
        (numel,) = struct.unpack("<q", file.read(8))
        dtype = storage.storage_type.dtype.newbyteorder("<")
        raw = file.read(numel * dtype.itemsize)
        if len(raw) != numel * dtype.itemsize:
            raise PthError(f"{path}: the file ends inside storage {key!r}")
        storage.array = np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="))
    return obj


def read_state_dict(path: str) -> collections.OrderedDict:
    """The tensors of a PyTorch state dict file, as numpy arrays, in the file's order.

    Args:
        path: a `.pth` / `.pt` file written by `torch.save(model.state_dict(), path)` (the zip
            format of PyTorch 1.6 and later, or the legacy format before it).

    Returns:
        An OrderedDict of parameter name -> numpy array (the tensor's dtype and shape;
        0-d for scalars such as batch norm's `num_batches_tracked`).

    Raises:
        PthError: the file names a global other than ordered dicts, tensors and storages (it
            is not loaded), is not a PyTorch file, or is not a flat dict of tensors.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as file:
        try:
            if zipfile.is_zipfile(file):
                file.seek(0)
                with zipfile.ZipFile(file) as archive:
                    obj = _read_zip(archive, path)
            else:
                file.seek(0)
                obj = _read_legacy(file, path)
        except PthError:
            raise
        except (
            pickle.UnpicklingError,
            EOFError,
            struct.error,
            zipfile.BadZipFile,
            TypeError,
            ValueError,
            KeyError,
            IndexError,
            AttributeError,
        ) as error:
            raise PthError(f"{path} is not a readable PyTorch file: {error}") from error
    return _tensors_of(obj, path)
