"""tfcolor.pretrained.pth: PyTorch state dicts read into numpy without torch and without running
their pickle: both file formats, views and shared storages, and the refusals (a global other
than tensors, a whole pickled model, a file that is no PyTorch file)."""

import collections
import os

import numpy as np
import pytest
import torch
from torch import nn

from tfcolor.pretrained import pth


def small_state_dict():
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4))
    state = network.state_dict()  # an OrderedDict carrying `_metadata`
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    state["transposed"] = base.t()  # a strided view
    state["tail"] = base.view(-1)[5:17]  # an offset into the same storage
    state["flags"] = torch.tensor([True, False, True])
    state["half"] = torch.linspace(-1, 1, 5, dtype=torch.float16)
    return state


def expected_arrays(state):
    return {key: value.numpy() for key, value in state.items()}


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_reads_what_torch_saves(tmp_path, zip_format):
    state = small_state_dict()
    path = str(tmp_path / "state.pth")
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    arrays = pth.read_state_dict(path)
    assert isinstance(arrays, collections.OrderedDict) and list(arrays) == list(state)
    for key, expected in expected_arrays(state).items():
        assert arrays[key].dtype == expected.dtype and arrays[key].shape == expected.shape, key
        np.testing.assert_array_equal(arrays[key], expected, err_msg=key)
    assert arrays["2.num_batches_tracked"].shape == () and arrays["2.num_batches_tracked"] == 0


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickled_command_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"
    path = str(tmp_path / "evil.pth")
    torch.save({"weight": torch.zeros(2), "payload": RunsACommand(marker)}, path)
    with pytest.raises(pth.PthError, match=r"names the global (posix|os|nt)\.system.*not loaded"):
        pth.read_state_dict(path)
    assert not marker.exists()
    legacy = str(tmp_path / "evil_legacy.pth")
    torch.save([RunsACommand(marker)], legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(pth.PthError, match=r"\.system"):
        pth.read_state_dict(legacy)
    assert not marker.exists()


def test_other_contents_are_named(tmp_path):
    whole_model = str(tmp_path / "model.pth")
    torch.save(nn.Conv2d(1, 1, 1), whole_model)  # the module, not its state dict
    with pytest.raises(pth.PthError, match=r"torch\.nn\.modules\.conv\.Conv2d"):
        pth.read_state_dict(whole_model)
    nested = str(tmp_path / "nested.pth")
    torch.save({"model": {"w": torch.zeros(1)}}, nested)
    with pytest.raises(pth.PthError, match="entry 'model' is a dict, not a tensor"):
        pth.read_state_dict(nested)
    tensor = str(tmp_path / "tensor.pth")
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(pth.PthError, match="holds a tensor, not a state dict"):
        pth.read_state_dict(tensor)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(pth.PthError, match="notes.pth"):
        pth.read_state_dict(str(text))
    truncated = tmp_path / "truncated.pth"
    good = tmp_path / "good.pth"
    torch.save(small_state_dict(), str(good), _use_new_zipfile_serialization=False)
    truncated.write_bytes(good.read_bytes()[:-40])
    # Cut in the storages or in the header after them, by the bytes torch wrote: named either way.
    with pytest.raises(pth.PthError, match="truncated.pth|ends inside storage"):
        pth.read_state_dict(str(truncated))
