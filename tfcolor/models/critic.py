"""The Wasserstein critic of the WGAN-GP refinement (`tfcolor.training.wgan`), after Zhang et
al. 2016 and Nazeri et al. 2018.

- `Critic`: a convolutional critic on Lab images (L / 100, ab / 128), blind to the outer
  `border` pixels (16 in the project: the generator's edges, where padding shows, are not
  judged), one score per image. No batch normalization: the gradient penalty is taken per
  image, which batch statistics would couple (Gulrajani et al., section 4).
- `lab_image`: the critic's input, from a colorizer's lightness and ab.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["Critic", "lab_image"]

# ab of 8-bit Lab lies in [-128, 127]: / 128 puts it in about [-1, 1], as L / 100 is in [0, 1].
_AB_SCALE = 128.0


def lab_image(lightness: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    """The critic's input: L / 100 [B, H, W, 1] in [0, 1] and ab [B, h, w, 2] -> [B, H, W, 3].

    ab at a lower resolution (a model with an output stride) is bilinearly upsampled to the
    lightness's size, as the colorized image is recombined.
    """
    lightness = tf.cast(lightness, tf.float32)
    ab = tf.cast(ab, tf.float32)
    size = tf.shape(lightness)[1:3]
    if ab.shape[1:3] != lightness.shape[1:3] or None in ab.shape[1:3]:
        ab = tf.image.resize(ab, size, method="bilinear")
    return tf.concat([lightness, ab / _AB_SCALE], axis=-1)


@keras.saving.register_keras_serializable(package="tfcolor")
class Critic(keras.Model):
    """Wasserstein critic: normalized Lab images [B, H, W, 3] -> float32 scores [B, 1].

    Args:
        filters: filters of the strided 4x4 convolutions (each halves the resolution),
            followed by LeakyReLU(0.2); a last 4x4 convolution to one channel, averaged over
            the positions.
        border: pixels ignored on every side (cropped before the first convolution).
        image_shape: spatial shape of the input; (None, None) for any size above 2 * border.

    Raises:
        ValueError: empty or non-positive filters, a negative border.
    """

    def __init__(self, filters=(64, 128, 256), border: int = 16, image_shape=(None, None), **kw):
        filters = tuple(int(f) for f in filters)
        if not filters or min(filters) < 1:
            raise ValueError(f"filters needs at least one positive level. Received: {filters}")
        if int(border) != border or border < 0:
            raise ValueError(f"border must be an integer >= 0. Received: border={border}")
        border = int(border)

        # === Functional Model ===
        lab = keras.Input(shape=(*image_shape, 3), name="lab")
        x = keras.layers.Cropping2D(border, name="critic_crop")(lab) if border else lab
        for level, level_filters in enumerate(filters):
            x = keras.layers.Conv2D(
                level_filters, 4, strides=2, padding="same", name=f"critic_conv{level}"
            )(x)
            x = keras.layers.LeakyReLU(0.2, name=f"critic_relu{level}")(x)
        # No bias: the Wasserstein loss (D(fake) - D(real)) and the penalty cancel a constant.
        x = keras.layers.Conv2D(
            1, 4, padding="same", use_bias=False, dtype="float32", name="critic_score"
        )(x)
        score = keras.layers.GlobalAveragePooling2D(dtype="float32", name="critic_mean")(x)
        super().__init__(inputs=lab, outputs=score, **kw)

        # === Config ===
        self.filters = filters
        self.border = border
        self.image_shape = tuple(image_shape)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "filters": list(self.filters),
            "border": self.border,
            "image_shape": list(self.image_shape),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
