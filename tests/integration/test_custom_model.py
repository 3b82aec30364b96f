"""The `custom` emotion model: any ONNX or TFLite classifier described in the config."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from emotui.config import Config, CustomEmotionConfig, load_config
from emotui.models import ModelError
from emotui.pipeline import create_classifier
from emotui.vision import EMOTIONS
from emotui.vision.emotions import CustomClassifier, MiniXception
from tests.helpers import run_cli


def _mean_channel_model(path, size: int) -> None:
    """An NCHW RGB classifier with 3 logits = the mean of the R, G and B planes."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image", "axes"], ["logits"], keepdims=0)],
        "mean_channels",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        initializer=[numpy_helper.from_array(np.array([2, 3], np.int64), "axes")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _settings(path, **changes) -> CustomEmotionConfig:
    settings = CustomEmotionConfig(path=str(path), input_size=[16, 16], color="rgb", scale="unit",
                                   layout="nchw", labels=["angry", "happy", "sad"], softmax=True)
    for key, value in changes.items():
        setattr(settings, key, value)
    return settings


def test_onnx_custom_model_maps_its_labels_onto_the_seven_emotions(tmp_path):
    _mean_channel_model(tmp_path / "rgb.onnx", 16)
    classifier = CustomClassifier(_settings(tmp_path / "rgb.onnx"))
    red, blue = np.zeros((40, 40, 3), np.uint8), np.zeros((40, 40, 3), np.uint8)
    red[..., 2], blue[..., 0] = 255, 255  # BGR crops
    probabilities = classifier.classify([red, blue])
    assert probabilities.shape == (2, 7) and np.allclose(probabilities.sum(axis=1), 1)
    # colour "rgb": red → first logit → "angry"; blue → third logit → "sad"
    assert EMOTIONS[int(np.argmax(probabilities[0]))] == "angry"
    assert EMOTIONS[int(np.argmax(probabilities[1]))] == "sad"
    softmax = np.exp([1, 0, 0]) / np.exp([1, 0, 0]).sum()
    assert probabilities[0, EMOTIONS.index("angry")] == pytest.approx(softmax[0], abs=1e-5)
    assert probabilities[0, [EMOTIONS.index(e) for e in ("disgust", "fear", "surprise", "neutral")]].sum() == 0


def test_custom_model_with_wrong_label_count_is_a_clear_error(tmp_path):
    _mean_channel_model(tmp_path / "rgb.onnx", 16)
    classifier = CustomClassifier(_settings(tmp_path / "rgb.onnx", labels=["angry", "happy"]))
    with pytest.raises(ModelError, match="outputs 3 classes but .* labels lists 2"):
        classifier.classify([np.zeros((20, 20, 3), np.uint8)])


def test_custom_model_with_wrong_layout_is_a_clear_error(tmp_path):
    _mean_channel_model(tmp_path / "rgb.onnx", 16)
    classifier = CustomClassifier(_settings(tmp_path / "rgb.onnx", layout="nhwc"))
    with pytest.raises(ModelError, match="rejected its input.*input_size, color and layout"):
        classifier.classify([np.zeros((20, 20, 3), np.uint8)])


def test_custom_model_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        CustomClassifier(_settings(tmp_path / "broken.onnx"))
    (tmp_path / "broken.tflite").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a usable TFLite model"):
        CustomClassifier(_settings(tmp_path / "broken.tflite"))
    with pytest.raises(ModelError, match="does not exist"):
        CustomClassifier(_settings(tmp_path / "absent.onnx"))


def test_tflite_custom_model_configured_like_mini_xception_gives_the_same_answers(tmp_path, model_store, media_dir):
    path = model_store.verified_path("mini-xception")
    config = load_config(_write(tmp_path / "emotui.toml", f"""
[emotion]
model = "custom"
[emotion.custom]
path = "{path}"
input_size = [64, 64]
color = "grey"
scale = "symmetric"
layout = "nhwc"
labels = {json.dumps(list(EMOTIONS))}
"""))
    custom = create_classifier(config, model_store, print)
    crops = [np.asarray(__import__("cv2").imread(str(p))) for p in
             sorted((media_dir / "expressions" / "happy").glob("fer2013_*"))[:4]]
    assert np.allclose(custom.classify(crops), MiniXception(path).classify(crops), atol=1e-5)


def test_headless_run_with_a_custom_model_from_config(tmp_path, model_store, media_dir):
    _mean_channel_model(tmp_path / "rgb.onnx", 16)
    _write(tmp_path / "emotui.toml", f"""
[emotion]
model = "custom"
[emotion.custom]
path = "{tmp_path / 'rgb.onnx'}"
input_size = [16, 16]
color = "rgb"
scale = "unit"
layout = "nchw"
labels = ["angry", "happy", "sad"]
""")
    video = media_dir / "videos" / "faces" / "liveportrait_d0.mp4"
    result = run_cli("run", "--headless", "--json", "--frames", "5", "--source", str(video))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])["summary"]
    assert summary["emotion_model"] == "custom" and summary["frames_processed"] == 5
    assert set(summary["dominant_emotions"]) <= {"angry", "happy", "sad"}


def test_custom_model_without_a_path_is_a_clear_error(model_store):
    config = Config()
    config.emotion.model = "custom"
    with pytest.raises(ModelError, match=r"needs \[emotion.custom\] path"):
        create_classifier(config, model_store, print)


def _write(path, text):
    path.write_text(text)
    return path
