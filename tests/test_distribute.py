"""The tf.distribute code path of training, on two logical CPU devices."""

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

SCRIPT = textwrap.dedent(
    """
    import tempfile
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from stressvision.params import Section
    from stressvision.training import TrainConfig, distribution_strategy, train
    from tests.conftest import default_params, deep_update

    params = deep_update(default_params()["train"], {"distribute": "mirrored", "epochs": 2,
                                                      "input_size": 48, "batch_size": 16})
    config = TrainConfig.from_section(Section("train", params))
    assert distribution_strategy("mirrored").num_replicas_in_sync == 2
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (64, 48, 48), dtype=np.uint8)
    y = rng.integers(0, 3, 64).astype(np.int16)
    with tempfile.TemporaryDirectory() as work:
        model, history, summary = train(config, (x, y), (x[:16], y[:16]), 3, work)
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
    assert model.predict(x[:4, ..., None].astype("float32"), verbose=0).shape == (4, 3)
    print("REPLICAS_OK")
    """
)


def test_mirrored_strategy_trains_on_two_cpu_replicas():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mirrored strategy over 2 replicas" in result.stdout and "REPLICAS_OK" in result.stdout
