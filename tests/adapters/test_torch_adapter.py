"""to_torch / from_torch: a model as a torch.nn.Module (optimizers, compile, functional_call,
export, DDP, pickling) and a torch module as a kbridge layer (Functional models, fit, hub)."""

import copy
import os
import pickle
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.errors import BackendError, KbridgeError
from tests.adapters import torch_net
from tests.conftest import BACKENDS

torch = pytest.importorskip("torch")

X = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
Y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _model(backend, batch_norm=True, dropout=True):
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(0)
        layers = [kbridge.Input((5,)), kbridge.layers.Dense(16, activation="relu")]
        if batch_norm:
            layers.append(kbridge.layers.BatchNormalization())
        if dropout:
            layers.append(kbridge.layers.Dropout(0.3))
        layers.append(kbridge.layers.Dense(2))
        return kbridge.Sequential(layers)


def _mlp(backend="torch"):
    return _model(backend, batch_norm=False, dropout=False)


def _weights(model):
    return [w.copy() for w in model.get_weights()]  # torch get_weights() shares memory


# --- to_torch ---------------------------------------------------------------------------
@pytest.mark.parametrize("source", BACKENDS)
def test_round_trip_from_every_backend(source):
    model = _model(source)
    expected = ops.convert_to_numpy(model(X))
    module = kbridge.adapters.to_torch(model).eval()
    assert isinstance(module, torch.nn.Module)
    y = module(torch.from_numpy(X))
    assert isinstance(y, torch.Tensor)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    # no seed states
    assert set(module.state_dict()) == {module.key_of(v) for v in model.weights}


def test_parameters_are_shared_with_the_model():
    model = _model("torch")
    module = kbridge.adapters.to_torch(model)
    params = dict(module.named_parameters())
    assert list(params) == [module.key_of(v) for v in model.trainable_variables]
    assert list(params)[:2] == ["dense/kernel", "dense/bias"]
    for v in model.trainable_variables:
        assert params[module.key_of(v)] is v.value
    buffers = dict(module.named_buffers())
    assert {k for k in buffers if "moving" in k} == {
        module.key_of(v) for v in model.non_trainable_weights}
    before = _weights(model)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-2)
    module.train()
    loss = torch.nn.functional.mse_loss(module(torch.from_numpy(X)), torch.from_numpy(Y))
    loss.backward()
    opt.step()
    after = _weights(model)
    changed = [not np.allclose(a, b) for a, b in zip(before, after)]
    assert all(changed)  # every kernel/bias/gamma/beta and both batch-norm statistics


def test_gradients_equal_a_hand_written_torch_model():
    model = _mlp()
    module = kbridge.adapters.to_torch(model)
    k1, b1, k2, b2 = _weights(model)
    reference = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    with torch.no_grad():
        for linear, k, b in ((reference[0], k1, b1), (reference[2], k2, b2)):
            linear.weight.copy_(torch.from_numpy(k.T))
            linear.bias.copy_(torch.from_numpy(b))
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    for net in (module, reference):
        torch.nn.functional.mse_loss(net(x), y).backward()
    grads = [p.grad.numpy() for p in module.parameters()]
    expected = [reference[0].weight.grad.T, reference[0].bias.grad,
                reference[2].weight.grad.T, reference[2].bias.grad]
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-5, atol=1e-6)
    # And a few SGD steps keep the two in lockstep.
    opt_a = torch.optim.SGD(module.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(reference.parameters(), lr=0.1)
    for _ in range(3):
        for net, opt in ((module, opt_a), (reference, opt_b)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x), y).backward()
            opt.step()
    np.testing.assert_allclose(module(x).detach().numpy(), reference(x).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_train_and_eval_drive_training_argument():
    model = _model("torch")
    module = kbridge.adapters.to_torch(model)
    x = torch.from_numpy(X)
    mean_path = next(module.key_of(v) for v in model.non_trainable_weights
                     if "moving_mean" in v.path)
    module.eval()
    first, second = module(x), module(x)
    torch.testing.assert_close(first, second)  # no dropout, statistics untouched
    assert np.allclose(module.state_dict()[mean_path].numpy(), 0.0)
    module.train()
    a, b = module(x), module(x)
    assert not torch.allclose(a, b)  # a fresh dropout mask each call
    moved = module.state_dict()[mean_path].numpy()
    assert not np.allclose(moved, 0.0)
    # The buffer update is the kbridge model's variable too.
    variable = next(v for v in model.non_trainable_weights if module.key_of(v) == mean_path)
    np.testing.assert_array_equal(variable.numpy(), moved)


def test_state_dict_round_trip_and_dotted_paths():
    model = _mlp()
    module = kbridge.adapters.to_torch(model)
    state = {k: v.clone() + 1.0 for k, v in module.state_dict().items()}
    module.load_state_dict(state)
    for v in model.weights:
        np.testing.assert_array_equal(v.numpy(), state[module.key_of(v)].numpy())
    with kbridge.backend.use("torch"):
        dotted = kbridge.Sequential([kbridge.Input((5,)),
                                     kbridge.layers.Dense(3, name="block.0")])
    module = kbridge.adapters.to_torch(dotted)
    keys = list(module.state_dict())
    assert keys == [module.key_of(v) for v in dotted.weights] == ["block.0/kernel",
                                                                  "block.0/bias"]
    assert any("block.0/" in k for k in keys)
    registered = [n for n, _ in module.named_parameters()]
    assert all("." not in n for n in registered)
    assert [module.paths[n] for n in registered] == keys
    module.load_state_dict({k: torch.zeros_like(v) for k, v in module.state_dict().items()})
    assert all(not np.any(w) for w in dotted.get_weights())
    with pytest.raises(RuntimeError, match="Missing key"):
        module.load_state_dict({})


def test_torch_compile_matches_eager():
    module = kbridge.adapters.to_torch(_model("torch")).eval()
    x = torch.from_numpy(X)
    torch._dynamo.reset()
    compiled = torch.compile(module, backend="eager")
    torch.testing.assert_close(compiled(x), module(x))
    torch._dynamo.reset()


def test_functional_call():
    model = _mlp()
    module = kbridge.adapters.to_torch(model)
    x = torch.from_numpy(X)
    params = {k: torch.zeros_like(v) for k, v in module.named_parameters()}
    out = torch.func.functional_call(module, params, (x,))
    torch.testing.assert_close(out, torch.zeros(8, 2))
    assert not np.allclose(ops.convert_to_numpy(model(X)), 0.0)  # the model is untouched
    # Per-parameter gradients with torch.func.grad.
    def loss(p):
        return torch.func.functional_call(module, p, (x,)).square().mean()

    grads = torch.func.grad(loss)(dict(module.named_parameters()))
    module.zero_grad()
    loss(dict(module.named_parameters())).backward()
    for name, p in module.named_parameters():
        torch.testing.assert_close(grads[name], p.grad)


def test_torch_export():
    module = kbridge.adapters.to_torch(_model("torch")).eval()
    x = torch.from_numpy(X)
    program = torch.export.export(module, (x,))
    assert isinstance(program, torch.export.ExportedProgram)
    torch.testing.assert_close(program.module()(x), module(x))
    other = torch.randn(8, 5)
    torch.testing.assert_close(program.module()(other), module(other))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_to_dtype_keeps_the_model_working(dtype):
    model = _model("torch")
    module = kbridge.adapters.to_torch(model).eval()
    reference = module(torch.from_numpy(X)).detach()
    module.to(dtype)
    assert all(p.dtype == dtype for p in module.parameters())
    assert all(b.dtype == dtype for n, b in module.named_buffers() if "moving" in n)
    assert all(v.dtype == str(dtype).split(".")[-1] for v in model.weights)
    out = module(torch.from_numpy(X).to(dtype))
    assert out.dtype == dtype
    tol = 1e-6 if dtype == torch.float64 else 2e-2
    np.testing.assert_allclose(out.float().detach().numpy(), reference.numpy(), atol=tol,
                               rtol=tol)
    direct = model(torch.from_numpy(X).to(dtype), training=False)  # the kbridge model works
    torch.testing.assert_close(direct, out)
    module.train()
    module(torch.from_numpy(X).to(dtype))  # buffers updated in place after the cast
    mean = next(v for v in model.non_trainable_weights if "moving_mean" in v.path)
    assert mean.value is dict(module.named_buffers())[module.key_of(mean)]


def test_dict_and_multiple_inputs():
    with kbridge.backend.use("torch"):
        a, b = kbridge.Input((3,), name="a"), kbridge.Input((2,), name="b")
        out = kbridge.layers.Dense(4)(kbridge.layers.Concatenate()([a, b]))
        model = kbridge.Model({"a": a, "b": b}, out)
        listed = kbridge.Model([a, b], out)
    xa, xb = torch.randn(6, 3), torch.randn(6, 2)
    expected = model({"a": xa, "b": xb})
    torch.testing.assert_close(kbridge.adapters.to_torch(model)({"a": xa, "b": xb}), expected)
    torch.testing.assert_close(kbridge.adapters.to_torch(listed)(xa, xb), expected)


def test_pickle_and_deepcopy():
    model = _model("torch")
    module = kbridge.adapters.to_torch(model).eval()
    x = torch.from_numpy(X)
    for clone in (copy.deepcopy(module), pickle.loads(pickle.dumps(module))):
        torch.testing.assert_close(clone(x), module(x))
        for name, p in clone.named_parameters():
            assert p is clone._variables[name].value  # still shared inside the copy
            assert p is not dict(module.named_parameters())[name]
        with torch.no_grad():
            next(clone.parameters()).add_(1.0)
        assert not torch.allclose(clone(x), module(x))


def test_write_back_to_a_model_on_another_backend():
    source = _mlp("numpy")
    module = kbridge.adapters.to_torch(source)
    assert module.model is not source and module.model.backend_name == "torch"
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(2.0)
    module.write_back()
    for s, v in zip(source.get_weights(), module.model.get_weights()):
        np.testing.assert_array_equal(s, v)


def test_errors():
    with pytest.raises(KbridgeError, match="expects a kbridge model"):
        kbridge.adapters.to_torch(torch.nn.Linear(2, 2))
    module = kbridge.adapters.to_torch(_mlp())
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(BackendError, match="Received a jax"):
        module(jnp.ones((2, 5)))


_DDP_WORKER = textwrap.dedent("""
    import os, sys
    import numpy as np
    import torch
    import torch.distributed as dist
    sys.path.insert(0, {repo!r})
    import kbridge

    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo", rank=rank, world_size=2)
    with kbridge.backend.use("torch"):
        kbridge.utils.set_random_seed(0)
        model = kbridge.Sequential([kbridge.Input((5,)),
                                    kbridge.layers.Dense(16, activation="relu"),
                                    kbridge.layers.Dense(2)])
    module = kbridge.adapters.to_torch(model)
    ddp = torch.nn.parallel.DistributedDataParallel(module)
    x = torch.from_numpy(np.load({data!r})["x"][rank * 4:(rank + 1) * 4])
    y = torch.from_numpy(np.load({data!r})["y"][rank * 4:(rank + 1) * 4])
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x), y).backward()
        opt.step()
    np.savez({out!r}.format(rank), *model.get_weights())
    dist.destroy_process_group()
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_distributed_data_parallel_two_processes(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    data = str(tmp_path / "data.npz")
    np.savez(data, x=X, y=Y)
    script = _DDP_WORKER.format(repo=REPO, data=data, out=str(tmp_path / "rank{}.npz"))
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()),
               WORLD_SIZE="2", OMP_NUM_THREADS="1", KBRIDGE_BACKEND="torch")
    procs = [subprocess.Popen([sys.executable, "-c", script], env=dict(env, RANK=str(r)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for r in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out.decode()[-3000:]
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    ranks = [[f[f"arr_{i}"] for i in range(len(f.files))] for f in ranks]
    # Single process: the mean loss over the whole batch has the averaged gradient of the
    # two halves (equal sizes), which is what DDP all-reduces.
    model = _mlp()
    module = kbridge.adapters.to_torch(model)
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.mse_loss(module(torch.from_numpy(X)), torch.from_numpy(Y)).backward()
        opt.step()
    for a, b, single in zip(ranks[0], ranks[1], model.get_weights()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, single, rtol=1e-5, atol=1e-6)


# --- from_torch -------------------------------------------------------------------------

def test_from_torch_shares_storage():
    net = torch_net()
    layer = kbridge.adapters.from_torch(net)
    assert layer.backend_name == "torch"
    params = dict(net.named_parameters())
    assert [v.name for v in layer.trainable_variables] == list(params)
    for v in layer.trainable_variables:
        assert v.value is params[v.name]
    buffers = dict(net.named_buffers())
    assert {v.name for v in layer.non_trainable_variables} == set(buffers)
    for v in layer.non_trainable_variables:
        assert v.value is buffers[v.name]
    x = torch.from_numpy(X)
    torch.testing.assert_close(layer(x, training=False), net.eval()(x))
    layer.trainable_variables[0].assign(np.zeros((16, 5), "float32"))
    assert not net[0].weight.any()


def test_from_torch_training_flag_and_buffers():
    net = torch_net()
    layer = kbridge.adapters.from_torch(net)
    x = torch.from_numpy(X)
    layer(x, training=False)
    assert not net[1].running_mean.any()
    layer(x, training=True)
    mean = next(v for v in layer.non_trainable_variables if v.name == "1.running_mean")
    assert net[1].running_mean.any()
    np.testing.assert_array_equal(mean.numpy(), net[1].running_mean.numpy())
    assert net.training  # the module's own mode (train, torch's default) is restored
    net.eval()
    layer(x, training=True)
    assert not net.training


def test_from_torch_stateless_call_is_pure():
    net = torch_net()
    layer = kbridge.adapters.from_torch(net)
    trainable = [v.value for v in layer.trainable_variables]
    state = [v.value.clone() for v in layer.non_trainable_variables]
    y, new_state = layer.stateless_call(trainable, state, torch.from_numpy(X), training=True)
    assert not net[1].running_mean.any()  # nothing in the module changed
    assert not state[0].any()
    names = [v.name for v in layer.non_trainable_variables]
    assert new_state[names.index("1.running_mean")].any()


def test_from_torch_in_functional_model_and_gradients():
    net = torch_net()
    layer = kbridge.adapters.from_torch(net)
    with kbridge.backend.use("torch"):
        inputs = kbridge.Input((5,))
        hidden = layer(inputs)
        assert hidden.shape == (None, 2)
        outputs = kbridge.layers.Dense(1)(hidden)
        model = kbridge.Model(inputs, outputs)
    assert len(model.trainable_variables) == 6 + 2
    x = torch.from_numpy(X)
    model(x, training=True).sum().backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0


def test_from_torch_symbolic_shapes_with_structures():
    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(3, 4, 3)

        def forward(self, x):
            h = self.conv(x)
            return {"features": h, "pooled": h.mean(-1).to(torch.float64)}

    layer = kbridge.adapters.from_torch(TwoHeads())
    with kbridge.backend.use("torch"):
        out = layer(kbridge.Input((3, None)))
    assert out["features"].shape == (None, 4, None)
    assert out["pooled"].shape == (None, 4) and out["pooled"].dtype == "float64"


def test_from_torch_errors():
    if "jax" in BACKENDS:
        with kbridge.backend.use("jax"):
            with pytest.raises(BackendError, match="active backend is 'jax'"):
                kbridge.adapters.TorchModuleLayer(torch.nn.Linear(2, 2))
        jnp = pytest.importorskip("jax.numpy")
        layer = kbridge.adapters.from_torch(torch.nn.Linear(5, 2))
        with pytest.raises(BackendError, match="expects torch tensors.*Received a jax"):
            layer(jnp.ones((2, 5)))
    with pytest.raises(KbridgeError, match="expects a torch.nn.Module"):
        kbridge.adapters.from_torch(lambda x: x)


def test_from_torch_fit_and_hub_round_trip(tmp_path):
    pytest.importorskip("kbridge.losses")
    pytest.importorskip("kbridge.metrics")
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    torch.manual_seed(0)
    with kbridge.backend.use("torch"):
        inputs = kbridge.Input((5,))
        model = kbridge.Model(inputs, kbridge.adapters.from_torch(net, name="torch_net")(inputs))
    before = net[0].weight.detach().clone()
    with kbridge.backend.use("torch"):
        model.compile(optimizer=kbridge.optimizers.Adam(1e-2), loss="mse")
        history = model.fit(X, Y, epochs=20, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert not torch.allclose(before, net[0].weight)
    path = kbridge.hub.save(model, tmp_path / "release")
    copy_net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    with pytest.raises(KbridgeError, match="custom_objects"):
        kbridge.hub.load(path, backend="torch")
    loaded = kbridge.hub.load(path, backend="torch", custom_objects={"torch_net": lambda: copy_net})
    torch.testing.assert_close(copy_net[0].weight, net[0].weight)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(X)), ops.convert_to_numpy(model(X)),
                               rtol=1e-6, atol=1e-6)
