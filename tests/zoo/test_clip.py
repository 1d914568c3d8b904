"""CLIP in the model zoo: tiny random ``transformers.CLIPModel``s (built once per module; one
with an old config that pools at the argmax id, one pooling at the first ``eos_token_id``)
loaded with ``kbridge.hub.load`` on every backend against transformers' features and logits,
exported back and reloaded in transformers, and bad input.

Needs torch and transformers (the test extra); skips without them. Nothing is downloaded.
"""

import json
import os

import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.hub import ReleaseError
from model_zoo.multimodal import CLIPModel, export_clip_to_hf

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TOLERANCE = 1e-4
PAD = 1
# eos_token_id=2 (old configs): pooled at the largest id (99, end-of-text in the vocabulary);
# eos_token_id=97: pooled at the first 97 even though larger ids come before it.
IDS = {2: np.array([[98, 17, 9, 33, 55, 99], [98, 5, 8, 99, PAD, PAD], [98, 50, 99, PAD, PAD,
                                                                         PAD]]),
       97: np.array([[98, 17, 99, 33, 55, 97], [98, 99, 8, 97, PAD, PAD], [98, 50, 97, 99, 97,
                                                                            PAD]])}


def _hf_model(eos):
    torch.manual_seed(eos)
    text = dict(vocab_size=100, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=16, eos_token_id=eos,
                bos_token_id=98, pad_token_id=PAD)
    vision = dict(hidden_size=24, intermediate_size=40, num_hidden_layers=2,
                  num_attention_heads=2, image_size=16, patch_size=4, hidden_act="gelu")
    config = transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=12,
                                     logit_scale_init_value=2.0)
    config._attn_implementation = "eager"
    model = transformers.CLIPModel(config).eval()
    with torch.no_grad():  # non-trivial LayerNorms, so a swapped gamma/beta would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def _reference(model, ids, mask, pixels):
    t = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    px = torch.from_numpy(pixels)
    with torch.no_grad():
        out = model(**t, pixel_values=px)
        text, image = model.get_text_features(**t), model.get_image_features(pixel_values=px)
    text, image = getattr(text, "pooler_output", text), getattr(image, "pooler_output", image)
    return {"text": text.numpy(), "image": image.numpy(),
            "logits_per_image": out.logits_per_image.numpy(),
            "logits_per_text": out.logits_per_text.numpy()}


@pytest.fixture(scope="module", params=[2, 97], ids=["eos-argmax", "eos-token"])
def checkpoint(request, tmp_path_factory):
    """(directory, inputs, reference outputs) of a saved random transformers CLIPModel."""
    model = _hf_model(request.param)
    path = tmp_path_factory.mktemp("clip") / "hf"
    model.save_pretrained(str(path))
    ids = IDS[request.param]
    inputs = {"input_ids": ids, "attention_mask": (ids != PAD).astype("int64"),
              "pixel_values": np.random.RandomState(0).randn(2, 3, 16, 16).astype("float32")}
    return path, inputs, _reference(model, *inputs.values())


def _check(model, inputs, expected, where):
    ids, mask, pixels = inputs["input_ids"], inputs["attention_mask"], inputs["pixel_values"]
    got = {"text": model.get_text_features(ids, mask),
           "image": model.get_image_features(pixels),
           **model({"input_ids": ids, "attention_mask": mask, "pixel_values": pixels})}
    for key, want in expected.items():
        value = ops.convert_to_numpy(got[key])
        assert value.shape == want.shape, key
        diff = float(np.max(np.abs(value - want)))
        print(f"\n[clip] {where} {key}: max diff {diff:.2e}")
        assert diff < TOLERANCE, key
    assert ops.convert_to_numpy(got["logits_per_image"]).shape == (2, 3)


def test_hub_load_matches_transformers(checkpoint, backend):
    path, inputs, expected = checkpoint
    model = kbridge.hub.load(path, backend=backend)
    assert isinstance(model, CLIPModel) and model.backend_name == backend
    _check(model, inputs, expected, backend)
    # channels-last images give the same features
    nhwc = np.transpose(inputs["pixel_values"], (0, 2, 3, 1))
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.get_image_features(nhwc, data_format="channels_last")),
        expected["image"], atol=TOLERANCE)


def test_export_reloads_in_transformers(checkpoint, tmp_path):
    path, inputs, expected = checkpoint
    model = kbridge.hub.load(path, backend="numpy")
    export_clip_to_hf(model, tmp_path / "out")
    theirs = transformers.CLIPModel.from_pretrained(str(tmp_path / "out"),
                                                    attn_implementation="eager").eval()
    again = _reference(theirs, *inputs.values())
    for key, want in expected.items():
        assert np.max(np.abs(again[key] - want)) < TOLERANCE, key
    reloaded = kbridge.hub.load(tmp_path / "out", backend="numpy")
    for a, b in zip(reloaded.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_kbridge_release_round_trip(checkpoint, tmp_path):
    path, inputs, expected = checkpoint
    kbridge.hub.save(kbridge.hub.load(path, backend="numpy"), tmp_path / "rel")
    _check(kbridge.hub.load(tmp_path / "rel", backend="torch"), inputs, expected, "release")


def test_bad_input(checkpoint, tmp_path):
    path, inputs, _ = checkpoint
    bad = tmp_path / "bad"
    bad.mkdir()
    config = json.loads((path / "config.json").read_text())
    os.link(path / "model.safetensors", bad / "model.safetensors")
    deeper = {**config, "vision_config": {**config["vision_config"], "num_hidden_layers": 3}}
    (bad / "config.json").write_text(json.dumps(deeper))
    with pytest.raises(ReleaseError, match="vision_model.encoder.layers.2"):
        kbridge.hub.load(bad)
    act = {**config, "text_config": {**config["text_config"], "hidden_act": "mish"}}
    (bad / "config.json").write_text(json.dumps(act))
    with pytest.raises(ReleaseError, match="config.json.*mish"):
        kbridge.hub.load(bad)
    (bad / "config.json").write_text(json.dumps({**config, "vision_config": [1]}))
    with pytest.raises(ReleaseError, match="config.json"):
        kbridge.hub.load(bad)
    model = kbridge.hub.load(path, backend="numpy")
    with pytest.raises(kbridge.errors.KbridgeError, match="16, 16, 3"):
        model.get_image_features(np.zeros((1, 3, 8, 8), "float32"))
    with pytest.raises(kbridge.errors.KbridgeError, match="at most 16"):
        model.get_text_features(np.ones((1, 17), "int32"))
    with pytest.raises(ReleaseError, match="CLIPModel"):
        export_clip_to_hf(kbridge.Sequential([kbridge.Input((3,))]), tmp_path / "x")
