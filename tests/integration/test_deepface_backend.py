"""The DeepFace backends (`[emotion] model = "deepface"`, `[detector] name = "deepface:<backend>"`)
offline: a stand-in Emotion graph, the download error a user without internet meets, and
DeepFace's OpenCV backend, which needs no download."""

from __future__ import annotations

import csv
import os
import socket

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from emotui.models import ModelError
from emotui.vision import EMOTIONS
from emotui.vision.detectors import DeepFaceDetector
from emotui.vision.emotions import DeepFaceEmotion, face_crops
from tests.helpers import run_cli

SIDE = 48  # DeepFace's Emotion model takes (N, 48, 48, 1) grey in [0, 1]
HAPPY, SAD, SURPRISE, ANGRY = (EMOTIONS.index(e) for e in ("happy", "sad", "surprise", "angry"))
BRIGHTNESS, HALVES = 6.0, 12.0  # logit gains of the stand-in graph


# --- offline DeepFace -------------------------------------------------------------------------

@pytest.fixture
def refused_proxy():
    """A local port that refuses connections: a socket bound but never listening gets RST.

    DeepFace checks each weight URL with requests.head(timeout=30). Without a trick the result
    depends on the machine: here DNS fails at once (~0.1 s for both URLs), but a machine with
    internet would really download the weights, and a network that drops packets would wait up
    to 2 x 30 s. Routing HTTP(S) through this proxy makes every machine behave as an offline
    device whose connections are refused, in milliseconds. Holding the socket for the test keeps
    the port from being reused (a fixed port such as 9 may run a discard service that accepts)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def deepface_home(monkeypatch, tmp_path, refused_proxy):
    """An empty $DEEPFACE_HOME, no network, and DeepFace's model cache emptied for the test."""
    from deepface.modules import modeling

    home = tmp_path / "deepface-home"
    home.mkdir()
    monkeypatch.setenv("DEEPFACE_HOME", str(home))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, refused_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # build_model keeps built models in the module-global `cached_models` for the whole process;
    # a fresh one makes this test load from $DEEPFACE_HOME, and undo removes or restores it so the
    # stand-in graph never leaks into other tests.
    monkeypatch.setattr(modeling, "cached_models",
                        {task: {} for task in modeling.AVAILABLE_MODELS}, raising=False)
    return home


# --- a stand-in for facial_expression_model_weights.onnx --------------------------------------

def _weights() -> tuple[np.ndarray, np.ndarray]:
    """(2304, 7) weights and (7,) bias over a row-major 48x48 grey image x in [0, 1]:
    happy = 6 * mean(x), sad = 6 * (1 - mean(x)), surprise = 12 * (mean left half - mean right half),
    angry = 12 * (mean top half - mean bottom half), the other three 0."""
    rows, cols = np.mgrid[:SIDE, :SIDE]
    pixels = SIDE * SIDE
    weights = np.zeros((SIDE, SIDE, len(EMOTIONS)), np.float32)
    weights[..., HAPPY] = BRIGHTNESS / pixels
    weights[..., SAD] = -BRIGHTNESS / pixels
    weights[..., SURPRISE] = np.where(cols < SIDE // 2, 1, -1) * HALVES / (pixels / 2)
    weights[..., ANGRY] = np.where(rows < SIDE // 2, 1, -1) * HALVES / (pixels / 2)
    bias = np.zeros(len(EMOTIONS), np.float32)
    bias[SAD] = BRIGHTNESS
    return weights.reshape(pixels, len(EMOTIONS)), bias


def _write_stand_in_emotion_graph(home) -> None:
    """Flatten (N, 48, 48, 1) → MatMul → Add → Softmax, saved where DeepFace looks for its weights."""
    weights, bias = _weights()
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["image", "flat_shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weights"], ["product"]),
            helper.make_node("Add", ["product", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "stand_in_emotion",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", SIDE, SIDE, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(EMOTIONS)])],
        initializer=[
            numpy_helper.from_array(np.array([-1, SIDE * SIDE], np.int64), "flat_shape"),
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(bias, "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder = home / ".deepface" / "weights"
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "facial_expression_model_weights.onnx"))


def _expected(crop: np.ndarray) -> np.ndarray:
    """What the stand-in graph must output for a BGR uint8 crop brought to 48x48 grey in [0, 1]."""
    grey = cv2.cvtColor(crop.astype(np.float32) / 255.0, cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    weights, bias = _weights()
    logits = grey.reshape(-1) @ weights + bias
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def _synthetic_crops() -> dict[str, np.ndarray]:
    """Square BGR crops of different sizes; every region edge falls on a 48x48 pixel edge."""
    bright = np.full((96, 96, 3), 255, np.uint8)
    dark = np.zeros((144, 144, 3), np.uint8)
    left_bright = np.zeros((96, 96, 3), np.uint8)
    left_bright[:, :48] = 255
    top_bright = np.zeros((48, 48, 3), np.uint8)
    top_bright[:24] = 255
    blue = np.zeros((60, 60, 3), np.uint8)
    blue[..., 0] = 255  # grey 0.114 as BGR, 0.299 if the channels were taken as RGB
    return {"bright": bright, "dark": dark, "left_bright": left_bright, "top_bright": top_bright, "blue": blue}


def _expression_crops(media_dir) -> list[np.ndarray]:
    """One real face image per source (48x48 FER2013 and CK+48, 256x256 JAFFE, 320x243 Yale)."""
    crops = []
    for label, prefix in (("happy", "fer2013_"), ("sad", "jaffe_"), ("surprise", "ckplus48_"), ("neutral", "yale_")):
        path = sorted((media_dir / "expressions" / label).glob(prefix + "*"))[0]
        crops.append(cv2.imread(str(path)))
        assert crops[-1] is not None, path
    return crops


def test_deepface_emotion_feeds_crops_through_deepface_to_the_onnx_graph(deepface_home, media_dir):
    """Plumbing only, NOT the accuracy of DeepFace's real Emotion model (its weights cannot be
    downloaded here). A stand-in graph with known weights replaces facial_expression_model_weights.onnx
    under $DEEPFACE_HOME, and DeepFaceEmotion must load it through DeepFace's own adapter and return
    exactly what that graph computes from each crop as 48x48 grey in [0, 1]: bright → happy,
    dark → sad, bright left half → surprise, bright top half → angry (so no flip or transpose), and
    a blue crop converted as BGR. Real face crops of mixed sizes share one batch with them."""
    _write_stand_in_emotion_graph(deepface_home)
    classifier = DeepFaceEmotion()
    synthetic = _synthetic_crops()
    real = _expression_crops(media_dir)
    crops = [*synthetic.values(), *real]

    probabilities = classifier.classify(crops)

    assert probabilities.shape == (len(crops), len(EMOTIONS))
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    by_name = dict(zip(synthetic, probabilities))
    assert [EMOTIONS[int(np.argmax(by_name[name]))] for name in ("bright", "dark", "left_bright", "top_bright")] == [
        "happy", "sad", "surprise", "angry"]
    for name, crop in synthetic.items():
        # uniform regions aligned to the 48x48 grid: any resize gives the same grey image
        assert by_name[name] == pytest.approx(_expected(crop), abs=1e-3), name
    for crop, row in zip(real, probabilities[len(synthetic):]):
        # real faces: small differences between interpolation methods are tolerated
        assert row == pytest.approx(_expected(crop), abs=0.03)
    # the real faces differ, so their rows differ: each crop reached the graph as itself
    assert len({tuple(np.round(row, 3)) for row in probabilities[len(synthetic):]}) == len(real)
    # batching does not mix rows up: the reversed batch gives the reversed rows, one crop its own row
    assert np.allclose(classifier.classify(crops[::-1]), probabilities[::-1], atol=1e-5)
    assert np.allclose(classifier.classify([real[2]]), probabilities[[len(synthetic) + 2]], atol=1e-5)
    assert classifier.classify([]).shape == (0, len(EMOTIONS))


def test_deepface_emotion_classifies_faces_of_different_sizes_cropped_from_one_frame(deepface_home, media_dir):
    """Plumbing only (stand-in graph): the pipeline hands classify all crops of a frame at once,
    and two faces of different sizes give crops of different sizes."""
    _write_stand_in_emotion_graph(deepface_home)
    photo = media_dir / "photos" / "group_annotated" / "2008_001009.jpg"
    frame = cv2.imread(str(photo))
    boxes = np.array([(x, y, x + w, y + h) for x, y, w, h in _annotated_boxes(photo)], np.float32)
    crops = face_crops(frame, boxes, None, padding=0.1, max_side=512)
    assert crops[0].shape != crops[1].shape

    probabilities = DeepFaceEmotion().classify(crops)

    assert probabilities.shape == (2, len(EMOTIONS))
    for crop, row in zip(crops, probabilities):
        assert row == pytest.approx(_expected(crop), abs=0.03)


# --- what a user without internet meets -------------------------------------------------------

def test_deepface_emotion_offline_is_a_model_error_pointing_to_mini_xception(deepface_home):
    with pytest.raises(ModelError) as caught:
        DeepFaceEmotion()
    message = str(caught.value)
    assert "facial_expression_model_weights.onnx" in message
    assert "download" in message and "internet" in message
    assert 'model = "mini-xception"' in message
    assert not any(deepface_home.rglob("*.onnx")), "no partial download may be left behind"


def test_cli_with_deepface_emotion_offline_exits_with_a_model_error(deepface_home, media_dir, model_store):
    video = sorted((media_dir / "videos" / "faces").glob("*.mp4"))[0]
    result = run_cli(
        "run", "--headless", "--emotion", "deepface", "--source", str(video),
        env={"DEEPFACE_HOME": str(deepface_home), "EMOTUI_MODELS_DIR": os.environ.get("EMOTUI_MODELS_DIR", "")},
        timeout=120,
    )
    assert result.returncode == 4, result.stderr
    assert "model error" in result.stderr
    assert "mini-xception" in result.stderr
    assert "Traceback" not in result.stderr


def test_deepface_detector_needing_a_download_offline_is_a_model_error(deepface_home):
    with pytest.raises(ModelError, match=r"DeepFace detector 'yunet' could not be loaded.*internet.*blazeface"):
        DeepFaceDetector("yunet", 0.5)


# --- DeepFace's OpenCV backend: OpenCV's bundled Haar cascades, no download --------------------

def _annotated_boxes(photo) -> list[tuple[int, int, int, int]]:
    with open(photo.parent / "boxes.csv", newline="") as file:
        return [tuple(int(row[k]) for k in "xywh") for row in csv.DictReader(file) if row["file"] == photo.name]


def _iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_deepface_opencv_detector_finds_the_annotated_faces_offline(deepface_home, media_dir):
    photo = media_dir / "photos" / "group_annotated" / "2008_001009.jpg"
    truth = [(x, y, x + w, y + h) for x, y, w, h in _annotated_boxes(photo)]
    assert len(truth) == 2
    detector = DeepFaceDetector("opencv", min_score=0.0)
    assert detector.name == "deepface:opencv"

    found = detector.detect(cv2.imread(str(photo)))

    assert len(found.boxes) == 2
    for box in truth:
        assert max(_iou(box, candidate) for candidate in found.boxes) > 0.5
    assert np.all((found.scores > 0) & (found.scores <= 1))
    assert not [p for p in deepface_home.rglob("*") if p.is_file()], "the opencv backend must not download anything"

    # min_score is applied to DeepFace's confidence: keep only the best-scored face
    best = float(found.scores.max())
    strict = DeepFaceDetector("opencv", min_score=best).detect(cv2.imread(str(photo)))
    assert len(strict.boxes) == 1
    assert np.allclose(strict.boxes[0], found.boxes[int(np.argmax(found.scores))])
