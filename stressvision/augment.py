"""Image augmentation shared by offline balancing and on-the-fly training augmentation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stressvision.errors import ParamsError
from stressvision.params import Section


@dataclass(frozen=True)
class AugmentConfig:
    rotation_deg: float = 12.0
    shift: float = 0.1
    zoom: float = 0.05
    flip: bool = True
    brightness: tuple[float, float] = (0.9, 1.1)

    @classmethod
    def from_section(cls, section: Section) -> AugmentConfig:
        brightness = section.raw("brightness")
        if (
            not isinstance(brightness, list)
            or len(brightness) != 2
            or not all(isinstance(v, (int, float)) and v > 0 for v in brightness)
            or brightness[0] > brightness[1]
        ):
            raise ParamsError(
                section.key("brightness"), f"expected [low, high] factors like [0.9, 1.1], got {brightness!r}"
            )
        config = cls(
            rotation_deg=section.float("rotation_deg", minimum=0, maximum=180),
            shift=section.float("shift", minimum=0, maximum=0.5),
            zoom=section.float("zoom", minimum=0, maximum=0.5),
            flip=section.bool("flip"),
            brightness=(float(brightness[0]), float(brightness[1])),
        )
        section.check_no_extra_keys()
        return config


def geometric_layers(config: AugmentConfig, seed: int, dtype: str | None = None) -> list:
    """Keras random flip, rotation, shift and zoom layers (reflect fill) for `config`, seeded."""
    import keras

    layers = []
    if config.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, dtype=dtype))
    if config.rotation_deg:
        layers.append(
            keras.layers.RandomRotation(
                config.rotation_deg / 360.0, fill_mode="reflect", seed=seed + 1, dtype=dtype
            )
        )
    if config.shift:
        layers.append(
            keras.layers.RandomTranslation(
                config.shift, config.shift, fill_mode="reflect", seed=seed + 2, dtype=dtype
            )
        )
    if config.zoom:
        layers.append(keras.layers.RandomZoom(config.zoom, fill_mode="reflect", seed=seed + 3, dtype=dtype))
    return layers


def build_augmenter(config: AugmentConfig, seed: int) -> Callable:
    """Return `augment(images)` for float32 batches (B, H, W, C) with pixel values in [0, 255]."""
    import keras
    import tensorflow as tf

    layers = geometric_layers(config, seed)
    geometric = keras.Sequential(layers) if layers else None
    low, high = config.brightness
    rng = tf.random.Generator.from_seed(seed + 4)

    def augment(images):
        images = tf.cast(images, tf.float32)
        if geometric is not None:
            images = geometric(images, training=True)
        if (low, high) != (1.0, 1.0):
            factor = rng.uniform([tf.shape(images)[0], 1, 1, 1], low, high)
            images = images * factor
        return tf.clip_by_value(images, 0.0, 255.0)

    return augment
