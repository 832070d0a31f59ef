"""benchmarks/reproduce_seeds.py: the seeds' comparisons are the ones their documents make."""

from __future__ import annotations

import importlib.util
import os
import sys

from tests.helpers import REPO


def _script():
    path = os.path.join(REPO, "benchmarks", "reproduce_seeds.py")
    spec = importlib.util.spec_from_file_location("reproduce_seeds", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_the_thesis_runs_differ_from_its_run_in_one_setting_each():
    script = _script()
    runs = script.thesis_runs(epochs=3, steps=None)
    (_, base, temperatures), *others = runs
    assert temperatures == (0.0, 0.8, 1.0)
    assert (base.preset, base.codec.n_bins, base.codec.rebalance, base.model.filters) == (
        "unet_thesis",
        324,
        None,
        (8, 16, 32),
    )
    assert (base.train.learning_rate, base.data.batch_size, base.train.epochs) == (1e-3, 64, 3)
    changed = {}
    for name, config, _ in others:
        differences = {
            f"{section}.{key}"
            for section in ("data", "codec", "model", "train")
            for key, value in vars(getattr(config, section)).items()
            if vars(getattr(base, section)).get(key) != value
        }
        changed[name] = differences
    assert changed["36 bins"] == {"codec.n_bins"}
    assert changed["rebalanced CE (lambda 0.5)"] == {"codec.rebalance"}
    assert changed["16/32/64 filters"] == {"model.filters"}
    assert "codec.name" in changed["MSE regression (unet_mse)"]


def test_the_photo_folders_share_no_photo(tmp_path):
    script = _script()
    train, validation = script.write_photo_folders(str(tmp_path), size=16)
    names = {
        folder: {f.split("_")[0] for f in os.listdir(folder)} for folder in (train, validation)
    }
    assert len(os.listdir(train)) == 7 * 24 and len(os.listdir(validation)) == 2 * 16
    assert not names[train] & names[validation]


def test_the_table_sets_each_figure_beside_its_baseline():
    script = _script()
    results = {"bin_accuracy": 0.5, "colored_bin_accuracy": 0.25, "psnr": 20.0, "gray_psnr": 18.0}
    results |= {"colorfulness": 30.0, "colorfulness_true": 40.0}
    (line,) = script.table([script.Row("g", "r", results, 12.4)])[2:]
    assert line == "| g | r | 50.0 % (25.0 %) | 20.000 / 18.000 | - | - | 30.000 / 40.000 | 12 s |"


def test_the_report_runs_differ_only_in_the_global_network(tmp_path):
    script = _script()
    basic, full = (config for _, config, _ in script.report_runs(str(tmp_path), 3, None, "/p"))
    assert (basic.preset, full.preset) == ("iizuka_basic", "iizuka")
    assert basic.data == full.data and basic.train == full.train
    assert (basic.data.source, basic.data.validation_source) == ("folder:/p", None)
    assert (basic.model.global_network, full.model.global_network) == (False, True)
    for config in (basic, full):
        config.validate()
