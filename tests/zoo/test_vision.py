"""ViT and ResNet in the model zoo against transformers (a test reference only)."""

import numpy as np
import pytest

import kbridge

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from model_zoo.vision import convert_resnet, convert_vit  # noqa: E402  (register the loaders)
from model_zoo.vision.resnet import ResNetBackbone  # noqa: E402
from model_zoo.vision.vit import ViTBackbone  # noqa: E402

TOL = 1e-4
VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
           image_size=16, patch_size=4, num_channels=3)
RESNET = dict(embedding_size=8, hidden_sizes=[16, 24], depths=[2, 1], layer_type="bottleneck")


def _randomize_batch_norms(model):
    # Fresh BatchNorm2d layers hold mean 0 / variance 1: give them statistics worth converting.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                module.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                module.weight.copy_(1 + torch.randn(n, generator=g) * 0.2)
                module.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return model


def _save(model, tmp_path_factory, name):
    directory = tmp_path_factory.mktemp(name)
    model.save_pretrained(directory, safe_serialization=True)
    return str(directory)


def _hf_outputs(model, pixels):
    with torch.no_grad():
        out = model(torch.tensor(pixels))
    return {k: out[k].numpy() for k in ("last_hidden_state", "pooler_output")
            if getattr(out, k, None) is not None}


def _assert_outputs(got, expected):
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(kbridge.ops.convert_to_numpy(got[key]), value, atol=TOL,
                                   rtol=0, err_msg=key)


@pytest.fixture(scope="module")
def vit_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = transformers.ViTModel(transformers.ViTConfig(**VIT)).eval()
    return _save(model, tmp_path_factory, "hf-vit"), model


@pytest.fixture(scope="module")
def resnet_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = _randomize_batch_norms(
        transformers.ResNetModel(transformers.ResNetConfig(**RESNET)).eval())
    return _save(model, tmp_path_factory, "hf-resnet"), model


@pytest.fixture(scope="module")
def pixels():
    rng = np.random.default_rng(0)
    return {"vit": rng.standard_normal((2, 3, 16, 16)).astype("float32"),
            "resnet": rng.standard_normal((2, 3, 32, 32)).astype("float32")}


def test_vit_matches_transformers(backend, vit_checkpoint, pixels):
    directory, hf_model = vit_checkpoint
    model = kbridge.hub.load(directory, backend=backend)
    assert isinstance(model, ViTBackbone) and kbridge.backend.of(model) == backend
    out = model(pixels["vit"])
    assert tuple(out["last_hidden_state"].shape) == (2, 17, 32)
    _assert_outputs(out, _hf_outputs(hf_model, pixels["vit"]))


def test_resnet_matches_transformers(backend, resnet_checkpoint, pixels):
    directory, hf_model = resnet_checkpoint
    model = kbridge.hub.load(directory, backend=backend)
    assert isinstance(model, ResNetBackbone) and kbridge.backend.of(model) == backend
    out = model(pixels["resnet"])
    assert tuple(out["last_hidden_state"].shape) == (2, 24, 4, 4)  # channels first, as HF
    assert tuple(out["pooler_output"].shape) == (2, 24, 1, 1)
    _assert_outputs(out, _hf_outputs(hf_model, pixels["resnet"]))


def test_hub_save_load_round_trip(backend, vit_checkpoint, resnet_checkpoint, pixels, tmp_path):
    for (directory, hf_model), key in ((vit_checkpoint, "vit"), (resnet_checkpoint, "resnet")):
        converted = kbridge.hub.load(directory, backend="numpy")
        release = kbridge.hub.save(converted, tmp_path / key)
        loaded = kbridge.hub.load(release, backend=backend)
        assert type(loaded) is type(converted)
        _assert_outputs(loaded(pixels[key]), _hf_outputs(hf_model, pixels[key]))


@pytest.mark.parametrize("variant", [
    dict(layer_type="basic", hidden_sizes=[8, 16], depths=[1, 2]),
    dict(layer_type="bottleneck", downsample_in_first_stage=True,
         downsample_in_bottleneck=True, hidden_sizes=[16, 32], depths=[1, 1]),
    dict(layer_type="basic", hidden_act="gelu", hidden_sizes=[8, 8], depths=[1, 1]),
])
def test_resnet_variants(variant, pixels, tmp_path):
    torch.manual_seed(0)
    config = transformers.ResNetConfig(**{**RESNET, **variant})
    hf_model = _randomize_batch_norms(transformers.ResNetForImageClassification(config).eval())
    hf_model.save_pretrained(tmp_path, safe_serialization=True)  # "resnet." prefix + head
    model = kbridge.hub.load(str(tmp_path), backend="numpy")
    with torch.no_grad():
        out = hf_model.resnet(torch.tensor(pixels["resnet"]))
    expected = {"last_hidden_state": out.last_hidden_state.numpy(),
                "pooler_output": out.pooler_output.numpy()}
    _assert_outputs(model(pixels["resnet"]), expected)


def test_vit_classification_checkpoint_has_no_pooler(pixels, tmp_path):
    torch.manual_seed(0)
    hf_model = transformers.ViTForImageClassification(
        transformers.ViTConfig(**VIT, qkv_bias=False, num_labels=3)).eval()
    hf_model.save_pretrained(tmp_path, safe_serialization=True)
    model = kbridge.hub.load(str(tmp_path), backend="numpy")
    assert not model.add_pooling_layer and not any("pooler" in v.path for v in model.weights)
    with torch.no_grad():
        expected = hf_model.vit(torch.tensor(pixels["vit"])).last_hidden_state.numpy()
    _assert_outputs(model(pixels["vit"]), {"last_hidden_state": expected})


def test_export_to_hf_round_trip(vit_checkpoint, resnet_checkpoint, pixels, tmp_path):
    cases = ((vit_checkpoint, convert_vit.export_vit_to_hf, transformers.ViTModel, "vit"),
             (resnet_checkpoint, convert_resnet.export_resnet_to_hf, transformers.ResNetModel,
              "resnet"))
    for (directory, hf_model), export, hf_class, key in cases:
        model = kbridge.hub.load(directory, backend="numpy")
        reloaded = hf_class.from_pretrained(export(model, tmp_path / key)).eval()
        expected = _hf_outputs(hf_model, pixels[key])
        for name, value in _hf_outputs(reloaded, pixels[key]).items():
            np.testing.assert_allclose(value, expected[name], atol=1e-6, rtol=0)


def test_bad_inputs_are_refused(vit_checkpoint, resnet_checkpoint):
    vit = kbridge.hub.load(vit_checkpoint[0], backend="numpy")
    with pytest.raises(kbridge.KbridgeError, match="16x16"):
        vit(np.zeros((1, 3, 32, 32), "float32"))
    resnet = kbridge.hub.load(resnet_checkpoint[0], backend="numpy")
    with pytest.raises(kbridge.KbridgeError, match="channels first"):
        resnet(np.zeros((1, 32, 32, 3), "float32"))
