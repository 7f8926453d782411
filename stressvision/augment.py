"""Image augmentation shared by offline balancing and on-the-fly training augmentation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from stressvision.errors import ParamsError
from stressvision.params import Section

WARPS = ("layers", "single")
MAX_BLUR = 2.0  # px: 4x the sigma of 0.5 that already costs the shipped stress model 7 points


@dataclass(frozen=True)
class AugmentConfig:
    rotation_deg: float = 12.0
    shift: float = 0.1
    zoom: float = 0.05
    flip: bool = True
    brightness: tuple[float, float] = (0.9, 1.1)
    warp: str = "layers"  # layers: Keras' rotation, shift, zoom layers in turn | single: one warp
    contrast: tuple[float, float] = (1.0, 1.0)  # each face's deviations from its mean times this
    erasing: float = 0.0  # chance of blacking out one random rectangle of a face (random_erasing)
    blur: float = 0.0  # largest Gaussian blur sigma in pixels (random_blur); 0 = off

    @classmethod
    def from_section(cls, section: Section) -> AugmentConfig:
        config = cls(
            rotation_deg=section.float("rotation_deg", minimum=0, maximum=180),
            shift=section.float("shift", minimum=0, maximum=0.5),
            zoom=section.float("zoom", minimum=0, maximum=0.5),
            flip=section.bool("flip"),
            brightness=factor_range(section, "brightness"),
            warp=section.choice("warp", WARPS),
            contrast=factor_range(section, "contrast"),
            erasing=section.float("erasing", minimum=0, maximum=1),
            blur=section.float("blur", minimum=0, maximum=MAX_BLUR),
        )
        section.check_no_extra_keys()
        return config


def factor_range(section: Section, key: str) -> tuple[float, float]:
    """A `[low, high]` range of positive factors (brightness, contrast)."""
    value = section.raw(key)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and v > 0 for v in value)
        or value[0] > value[1]
    ):
        raise ParamsError(section.key(key), f"expected [low, high] factors like [0.9, 1.1], got {value!r}")
    return float(value[0]), float(value[1])


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


def reflect_coordinate(x, size: int):
    """Fold a pixel coordinate into [0, size - 1] by mirroring about the edges (d c b a | a b c d),
    as Keras' fill_mode="reflect" does."""
    import keras

    period = 2.0 * size
    folded = keras.ops.mod(x + 0.5, period)
    return keras.ops.clip(keras.ops.where(folded < size, folded, period - folded) - 0.5, 0.0, size - 1.0)


def affine_warp(images, angle, scale, shift_x, shift_y, mirror):
    """Warp (B, H, W, C) images by one affine map each, in one bilinear pass with reflected edges.

    Per image, (B, 1) arrays: rotation `angle` (radians), zoom `scale`, shift in pixels, and
    `mirror` (-1 flips left-right, 1 keeps). One resampling instead of one per Keras layer
    (rotation, translation, zoom) keeps 48-px faces sharper, and as Keras ops it runs in
    tf.data and on any backend.
    """
    import keras
    import numpy as np

    ops = keras.ops
    batch, height, width, channels = ops.shape(images)[0], images.shape[1], images.shape[2], images.shape[3]
    # output pixel -> source pixel, about the image centre: undo shift, zoom, rotation, flip
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    grid_y, grid_x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    yc = ops.convert_to_tensor(grid_y.reshape(1, -1) - cy, "float32") - shift_y
    xc = ops.convert_to_tensor(grid_x.reshape(1, -1) - cx, "float32") - shift_x
    cos, sin = ops.cos(angle) / scale, ops.sin(angle) / scale
    source_x = reflect_coordinate(mirror * (cos * xc + sin * yc) + cx, width)
    source_y = reflect_coordinate(-sin * xc + cos * yc + cy, height)

    x0, y0 = ops.floor(source_x), ops.floor(source_y)
    wx, wy = ops.expand_dims(source_x - x0, -1), ops.expand_dims(source_y - y0, -1)
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    x1, y1 = ops.minimum(x0 + 1, width - 1), ops.minimum(y0 + 1, height - 1)
    flat = ops.reshape(images, (batch, height * width, channels))

    def pixels(y, x):
        index = ops.expand_dims(y * width + x, -1)
        return ops.take_along_axis(flat, ops.repeat(index, channels, axis=-1), axis=1)

    top = pixels(y0, x0) * (1 - wx) + pixels(y0, x1) * wx
    bottom = pixels(y1, x0) * (1 - wx) + pixels(y1, x1) * wx
    return ops.reshape(top * (1 - wy) + bottom * wy, (batch, height, width, channels))


def warp_draws(config: AugmentConfig, uniform, height: int, width: int) -> tuple:
    """affine_warp's arguments for `config`, from `uniform(low, high)`, which draws a (B, 1) array:
    rotation +-rotation_deg, zoom 1 +- zoom, shift +- shift of the size, a flip half the time."""
    import keras

    angle = uniform(-1.0, 1.0) * (config.rotation_deg * math.pi / 180.0)
    scale = uniform(1.0 - config.zoom, 1.0 + config.zoom)
    shift_x = uniform(-config.shift, config.shift) * width
    shift_y = uniform(-config.shift, config.shift) * height
    mirror = keras.ops.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0) if config.flip else 1.0
    return angle, scale, shift_x, shift_y, mirror


def random_erasing(images, uniform, probability: float, area=(0.02, 0.33), aspect=(0.3, 3.3)):
    """Black out one rectangle in each of (B, H, W, C) `images` with `probability`.

    Random erasing (Zhong et al., AAAI 2020) as torchvision's RandomErasing draws it with
    value 0: a share `area` of the face, height/width `aspect` (log-uniform), anywhere inside
    it. It makes the network read the whole face instead of one cue (the mouth of `happy`);
    the 73.28 % FER-2013 VGG record trained with it at 0.5. `uniform(low, high)` draws a
    (B, 1) array; as Keras ops it runs in tf.data and on any backend.
    """
    import keras
    import numpy as np

    ops = keras.ops
    height, width = images.shape[1], images.shape[2]
    size = uniform(*area) * float(height * width)
    ratio = ops.exp(uniform(math.log(aspect[0]), math.log(aspect[1])))
    box_h = ops.minimum(ops.sqrt(size * ratio), float(height))
    box_w = ops.minimum(ops.sqrt(size / ratio), float(width))
    top = uniform(0.0, 1.0) * (height - box_h)
    left = uniform(0.0, 1.0) * (width - box_w)
    rows = ops.convert_to_tensor(np.arange(height, dtype="float32")[None, :])
    cols = ops.convert_to_tensor(np.arange(width, dtype="float32")[None, :])
    in_rows = ops.logical_and(rows >= top, rows < top + box_h)  # (B, H)
    in_cols = ops.logical_and(cols >= left, cols < left + box_w)  # (B, W)
    erase = uniform(0.0, 1.0) < probability  # (B, 1)
    box = ops.logical_and(in_rows[:, :, None], in_cols[:, None, :])
    box = ops.logical_and(box, erase[:, :, None])
    return ops.where(box[..., None], ops.zeros_like(images), images)


def random_blur(images, uniform, max_sigma: float):
    """Blur each of (B, H, W, C) `images` by a Gaussian whose sigma is drawn from [0, max_sigma] px.

    A camera's face, downscaled from a frame, defocused or moving, is softer than FER-2013's
    crops, and a model that never saw a soft face reads them badly: the shipped stress model
    scored 0.720 on PrivateTest, 0.653 on it blurred by sigma 0.5 and 0.522 on it brought down
    to 40 px and back (benchmarks/face_robustness.py).
    Separable taps to 3 sigma with reflected edges; `uniform(low, high)` draws a (B, 1) array;
    as Keras ops it runs in tf.data and on any backend.
    """
    import keras
    import numpy as np

    ops = keras.ops
    radius = max(1, math.ceil(3 * max_sigma))
    height, width = images.shape[1], images.shape[2]
    sigma = ops.maximum(uniform(0.0, max_sigma), 1e-3)  # (B, 1); ~0: all weight on the centre tap
    taps = ops.convert_to_tensor(np.arange(-radius, radius + 1, dtype="float32")[None, :])
    weights = ops.exp(-0.5 * ops.square(taps / sigma))
    weights = ops.reshape(weights / ops.sum(weights, axis=1, keepdims=True), (-1, 2 * radius + 1, 1, 1, 1))
    padded = ops.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="reflect")
    rows = sum(weights[:, k] * padded[:, :, k : k + width, :] for k in range(2 * radius + 1))
    return sum(weights[:, k] * rows[:, k : k + height, :, :] for k in range(2 * radius + 1))


def batch_seeds(seed: int):
    """A tf.data stream of int32 seed pairs, one per batch, for stateless random ops."""
    import tensorflow as tf

    return tf.data.Dataset.random(seed=seed).batch(2).map(lambda pair: tf.cast(pair % (2**31 - 1), tf.int32))


def mixup(tensors: tuple, alpha: float, seed):
    """Mix each example of a batch with another one of it, all `tensors` alike (mixup, Zhang et
    al. 2018): inputs and their one-hot or soft targets get the same partner and weight.

    One weight per batch, drawn from Beta(alpha, alpha) (small alpha: mostly near-pure
    examples); `seed` is a stateless int32 seed pair, so a rerun mixes exactly the same pairs.
    """
    import tensorflow as tf

    g1 = tf.random.stateless_gamma([1], seed + [3, 3], alpha)
    g2 = tf.random.stateless_gamma([1], seed + [4, 4], alpha)
    weight = g1 / (g1 + g2)
    partner = tf.argsort(tf.random.stateless_uniform([tf.shape(tensors[0])[0]], seed + [5, 5]))
    return tuple(weight * t + (1 - weight) * tf.gather(t, partner) for t in tensors)


def build_augmenter(config: AugmentConfig, seed: int) -> Callable:
    """Return `augment(images)` for float32 batches (B, H, W, C) with pixel values in [0, 255]."""
    import keras
    import tensorflow as tf

    layers = geometric_layers(config, seed) if config.warp == "layers" else []
    geometric = keras.Sequential(layers) if layers else None
    low, high = config.brightness
    rng = tf.random.Generator.from_seed(seed + 4)
    warp_rng = tf.random.Generator.from_seed(seed + 5)
    contrast_rng = tf.random.Generator.from_seed(seed + 6)
    erasing_rng = tf.random.Generator.from_seed(seed + 7)
    blur_rng = tf.random.Generator.from_seed(seed + 8)

    def augment(images):
        images = tf.cast(images, tf.float32)
        if geometric is not None:
            images = geometric(images, training=True)
        if config.warp == "single":
            batch = tf.shape(images)[0]
            draws = warp_draws(
                config, lambda lo, hi: warp_rng.uniform([batch, 1], lo, hi), images.shape[1], images.shape[2]
            )
            images = affine_warp(images, *draws)
        if config.blur:
            shape = [tf.shape(images)[0], 1]
            images = random_blur(images, lambda lo, hi: blur_rng.uniform(shape, lo, hi), config.blur)
        if (low, high) != (1.0, 1.0):
            factor = rng.uniform([tf.shape(images)[0], 1, 1, 1], low, high)
            images = images * factor
        if config.contrast != (1.0, 1.0):
            factor = contrast_rng.uniform([tf.shape(images)[0], 1, 1, 1], *config.contrast)
            mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
            images = (images - mean) * factor + mean
        images = tf.clip_by_value(images, 0.0, 255.0)
        if config.erasing:
            shape = [tf.shape(images)[0], 1]
            images = random_erasing(images, lambda lo, hi: erasing_rng.uniform(shape, lo, hi), config.erasing)
        return images

    return augment
