"""kbridge.layers.TorchModuleWrapper (Keras's name and config rules) over from_torch."""

import copy

import numpy as np
import pytest

import kbridge
from kbridge.saving import registry
from tests.adapters import torch_net
from tests.conftest import BACKENDS

torch = pytest.importorskip("torch")
if "torch" not in BACKENDS:
    pytest.skip("needs the torch backend", allow_module_level=True)

X = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
Y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")


def test_fit_step_equals_a_torch_step():
    net = torch_net()
    reference = copy.deepcopy(net)
    with kbridge.backend.use("torch"):
        layer = kbridge.layers.TorchModuleWrapper(net)
        model = kbridge.Sequential([kbridge.Input((5,)), layer])
        assert len(model.trainable_weights) == 6 and len(model.non_trainable_weights) == 3
        model.compile(optimizer=kbridge.optimizers.SGD(0.1), loss="mse")
        model.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)

    opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    reference.train()
    loss = torch.nn.functional.mse_loss(reference(torch.from_numpy(X)), torch.from_numpy(Y))
    loss.backward()
    opt.step()
    for (name, got), want in zip(net.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=name)
    reference.eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(np.asarray(model.predict(X, verbose=0)), expected, rtol=1e-5,
                               atol=1e-6)
    assert list(layer.parameters()) == list(net.parameters())


def test_keras_archive_round_trip(tmp_path):
    with kbridge.backend.use("torch"):
        model = kbridge.Sequential([kbridge.Input((5,)),
                                    kbridge.layers.TorchModuleWrapper(torch_net().eval())])
    model.save(tmp_path / "m.keras")
    with pytest.raises(kbridge.KbridgeError, match="safe_mode=False"):
        kbridge.saving.load_model(tmp_path / "m.keras", backend="torch")
    loaded = kbridge.saving.load_model(tmp_path / "m.keras", backend="torch", safe_mode=False)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0),
                               rtol=1e-6)


def test_config_pickles_the_module_and_needs_safe_mode_off():
    with kbridge.backend.use("torch"):
        layer = kbridge.layers.TorchModuleWrapper(torch_net().eval(), name="wrapped",
                                                  output_shape=(None, 2))
        x = kbridge.Input((5,))
        assert layer(x).shape == (None, 2)
        config = registry.serialize(layer)
    assert isinstance(config["config"]["module"], str)
    with pytest.raises(registry.UnsafeDeserializationError, match="safe_mode=False"):
        registry.deserialize(config)
    with kbridge.backend.use("numpy"):
        with pytest.raises(kbridge.BackendError, match="active backend is 'numpy'"):
            registry.deserialize(config, safe_mode=False)
    with kbridge.backend.use("torch"):
        rebuilt = registry.deserialize(config, safe_mode=False)
        assert isinstance(rebuilt, kbridge.layers.TorchModuleWrapper)
        assert rebuilt.name == "wrapped"
        np.testing.assert_allclose(rebuilt(X).detach().numpy(), layer(X).detach().numpy(),
                                   rtol=1e-6)


def test_several_arguments_and_keywords():
    class Blend(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(2.0))

        def forward(self, a, b, *, weight=0.5):
            return self.scale * (weight * a + (1 - weight) * b)

    with kbridge.backend.use("torch"):
        layer = kbridge.layers.TorchModuleWrapper(Blend())
        out = layer(X, Y[:, :1].repeat(5, axis=1), weight=0.25)
    np.testing.assert_allclose(out.detach().numpy(), 2 * (0.25 * X + 0.75 * Y[:, :1]),
                               rtol=1e-6)


def test_wrapper_errors():
    with kbridge.backend.use("torch"):
        with pytest.raises(kbridge.KbridgeError, match="expects a torch.nn.Module"):
            kbridge.layers.TorchModuleWrapper(lambda x: x)
        with pytest.raises(kbridge.KbridgeError, match="lazy module"):
            kbridge.layers.TorchModuleWrapper(torch.nn.LazyLinear(3))
    with kbridge.backend.use("numpy"):
        with pytest.raises(kbridge.BackendError, match="torch-backend layer"):
            kbridge.layers.TorchModuleWrapper(torch.nn.Linear(2, 2))
