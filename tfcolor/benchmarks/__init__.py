"""tfcolor's benchmarks, one module per benchmark; `python -m tfcolor.bench` runs them.

- `pipeline`: images/s of the image input pipeline against decoding + resizing alone.
- `train`: training images/s of image presets, synthetic-fed (XLA off and on) and
  pipeline-fed.
- `video_pipeline`: frames/s of the multi-stream video loader against decoding alone.
- `flicker`: the stateful ConvLSTM against the same network frame by frame, trained and
  measured (CDC, warp error, ...) on the same clips.
- `quality`: a preset trained on real clips' earlier frames, measured on their later ones.
- `timing` (how throughput is counted) and `data` (the data a benchmark makes for itself, so
  that it runs anywhere) are shared.

Each benchmark returns its figures; the command (`tfcolor.cli.bench`) prints them. The
measurements and what they taught are in benchmarks/README.md.
"""
