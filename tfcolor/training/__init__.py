"""Training: the Colorizer (train / evaluate / predict / export), its callbacks, compile
settings, distribution, the video and WGAN trainers."""
