"""Released weights of other frameworks, read and turned into tfcolor runs.

- `pth`: reads a PyTorch state dict into numpy arrays without PyTorch and without running the
  file's pickle (an allow-list unpickler).
- `zhang`: Zhang et al.'s released colorizers (ECCV 2016, SIGGRAPH 2017): their state-dict
  layout mapped onto `tfcolor.models.zhang`, and `convert`, which writes a normal run
  (`python -m tfcolor.convert`).
"""
