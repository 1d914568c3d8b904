"""to_torch state_dict keys do not depend on process-wide layer-name counters: a checkpoint
of one build loads into another build of the same architecture (plain torch and Lightning)."""

import numpy as np
import pytest

import kbridge
from tests.conftest import BACKENDS

torch = pytest.importorskip("torch")
if "torch" not in BACKENDS:
    pytest.skip("needs the torch backend", allow_module_level=True)

X = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
Y = np.random.default_rng(1).normal(size=(16, 2)).astype("float32")


def build(name=None):
    with kbridge.backend.use("torch"):
        inputs = kbridge.Input((5,))
        x = kbridge.layers.Dense(8, activation="relu")(inputs)
        x = kbridge.layers.BatchNormalization()(x)
        x = kbridge.layers.Dense(8, activation="relu", name=name)(x)
        outputs = kbridge.layers.Dense(2)(x)
        return kbridge.Model(inputs, outputs)


def test_two_builds_share_state_dict_keys():
    first, second = build("hidden"), build("hidden")
    assert first.layers[1].name != second.layers[1].name  # the counters did move
    a, b = kbridge.adapters.to_torch(first), kbridge.adapters.to_torch(second)
    keys = list(a.state_dict())
    assert keys == list(b.state_dict())
    assert keys[:2] == ["dense/kernel", "dense/bias"]
    assert "hidden/kernel" in keys and "dense_1/kernel" in keys  # user names are kept
    assert "batch_normalization/moving_mean" in keys
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x = torch.from_numpy(X)
    torch.testing.assert_close(b(x), a(x))


def test_lightning_checkpoint_loads_into_a_new_build(tmp_path):
    pl = pytest.importorskip("pytorch_lightning")

    class Regressor(pl.LightningModule):
        def __init__(self, model):
            super().__init__()
            self.net = kbridge.adapters.to_torch(model)

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _):
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)), batch_size=8)
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[checkpoint])
    trained = Regressor(build())
    trainer.fit(trained, data)
    restored = Regressor.load_from_checkpoint(checkpoint.last_model_path, model=build())
    trained.eval(), restored.eval()
    x = torch.from_numpy(X)
    torch.testing.assert_close(restored(x), trained(x))
    for got, want in zip(restored.net.model.get_weights(), trained.net.model.get_weights()):
        np.testing.assert_array_equal(got, want)
