"""Annotated snapshots: the analysed frame as a PNG with face boxes and labels, plus a JSON
sidecar with the same stem describing what was seen. No UI imports here.

Privacy (`[snapshots] images`): `full` keeps the picture, `blurred` blurs every face in it
(files and the JPEGs sent to MQTT and webhooks alike), `none` stores and sends no image at all.

Both files are written atomically (a temp file in the target folder, then os.replace), PNG
first and JSON second, so a crash never leaves a half-written file behind."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import platformdirs

from emotui.capture import redact_source
from emotui.files import write_atomically
from emotui.pipeline import FrameResult
from emotui.storage import private_folder
from emotui.vision import EMOTION_COLOURS, EMOTIONS
from emotui.vision.masks import Masks
from emotui.vision.tracker import TrackedFace

FILE_PREFIX = "emotui-"
SNAPSHOT_SUFFIXES = (".png", ".json")
FONT = cv2.FONT_HERSHEY_SIMPLEX


class SnapshotError(Exception):
    """A snapshot could not be written; the message names the path."""


def default_snapshot_dir() -> Path:
    """The user data dir's snapshots folder (e.g. ~/.local/share/emotui/snapshots)."""
    return Path(platformdirs.user_data_dir("emotui")) / "snapshots"


def face_label(face: TrackedFace) -> str:
    """`#<track_id> <dominant> <pct>%` (and `still` for a stationary face), the label drawn
    above a face box."""
    percent = int(round(float(face.probabilities[EMOTIONS.index(face.dominant)]) * 100))
    return f"#{face.track_id} {face.dominant} {percent}%" + (" still" if face.stationary else "")


def bgr(emotion: str) -> tuple[int, int, int]:
    """The emotion's colour in OpenCV's BGR order (EMOTION_COLOURS is RGB)."""
    red, green, blue = EMOTION_COLOURS[emotion]
    return blue, green, red


def annotate(image: np.ndarray, faces: list[TrackedFace], masks: Masks = Masks()) -> np.ndarray:
    """A copy of the BGR `image` with the masked areas shaded and each face's box in its
    dominant emotion's colour with a label above it (below the box's top edge when there is no
    room above). `image` is untouched."""
    out = masks.draw(image.copy())
    height, width = out.shape[:2]
    short = min(width, height)
    thickness = max(1, round(short / 300))
    font_scale = max(0.4, short / 1000)
    text_thickness = max(1, round(font_scale * 1.5))
    pad = max(2, thickness)
    for face in faces:
        colour = bgr(face.dominant)
        x1, y1, x2, y2 = (int(round(float(v))) for v in face.box)
        x1, x2 = sorted((min(max(x1, 0), width - 1), min(max(x2, 0), width - 1)))
        y1, y2 = sorted((min(max(y1, 0), height - 1), min(max(y2, 0), height - 1)))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_8)

        text = face_label(face)
        (text_w, text_h), baseline = cv2.getTextSize(text, FONT, font_scale, text_thickness)
        label_w, label_h = text_w + 2 * pad, text_h + baseline + 2 * pad
        left = max(0, min(x1, width - label_w))
        top = y1 - label_h if y1 - label_h >= 0 else min(y1, max(0, height - label_h))
        cv2.rectangle(out, (left, top), (left + label_w - 1, top + label_h - 1), colour, cv2.FILLED)
        # dark text on light colours, light text on dark ones
        luminance = 0.299 * colour[2] + 0.587 * colour[1] + 0.114 * colour[0]
        ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        cv2.putText(out, text, (left + pad, top + pad + text_h), FONT, font_scale, ink, text_thickness, cv2.LINE_AA)
    return out


HEAD_MARGINS = (0.45, 0.7, 0.25)  # a face box grown by these fractions of its size: sides, top (hair), bottom
BLUR_CELLS = 3  # pixelation cells across the face box's longer side


def head_region(box, width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the head around a face box (eyebrows to chin): hair and ears
    included, clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side, top, bottom = HEAD_MARGINS
    face_w, face_h = x2 - x1, y2 - y1
    return (max(0, int(x1 - side * face_w)), max(0, int(y1 - top * face_h)),
            min(width, int(x2 + side * face_w + 1)), min(height, int(y2 + bottom * face_h + 1)))


def blur_faces(image: np.ndarray, faces: list[TrackedFace]) -> np.ndarray:
    """A copy of `image` with each head (`head_region`) pixelated into cells a third of the face's
    size: too coarse for a person, or the face detector, to find a face in."""
    out = image.copy()
    height, width = out.shape[:2]
    for face in faces:
        left, top, right, bottom = head_region(face.box, width, height)
        if right - left < 2 or bottom - top < 2:
            continue
        x1, y1, x2, y2 = (float(v) for v in face.box)
        cell = max(2, int(max(x2 - x1, y2 - y1) / BLUR_CELLS))
        cells = (max(1, (right - left) // cell), max(1, (bottom - top) // cell))
        small = cv2.resize(out[top:bottom, left:right], cells, interpolation=cv2.INTER_AREA)
        out[top:bottom, left:right] = cv2.resize(small, (right - left, bottom - top), interpolation=cv2.INTER_NEAREST)
    return out


def picture(result: FrameResult, images: str, draw_boxes: bool = True) -> np.ndarray | None:
    """The frame as it may be stored or sent under the privacy setting (None for `none`)."""
    if images == "none":
        return None
    image = result.image
    if image is None or getattr(image, "size", 0) == 0:
        raise SnapshotError("the frame has no image")
    if images == "blurred":
        image = blur_faces(image, result.faces)
    return annotate(image, result.faces, result.masks) if draw_boxes else image


def encode_jpeg(result: FrameResult, images: str, quality: int = 85) -> bytes | None:
    """The annotated frame as JPEG bytes for MQTT and webhooks, or None when images are off."""
    image = picture(result, images)
    if image is None:
        return None
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise SnapshotError("the frame could not be encoded as JPEG")
    return encoded.tobytes()


def save_snapshot(folder: Path, result: FrameResult, source: str, draw_boxes: bool = True,
                  images: str = "full") -> tuple[Path | None, Path]:
    """Write `emotui-<camera>-YYYYmmdd-HHMMSS-ffffff.png` (`emotui-YYYY…` for a result of no camera:
    the frame, annotated unless `draw_boxes` is
    false, faces blurred when `images` is `blurred`) and a `.json` sidecar with the same stem into
    `folder`, creating it if needed. With `images` `none` only the sidecar is written.
    Returns (png or None, json). Raises SnapshotError naming the path on any failure."""
    folder = Path(folder).expanduser()
    try:
        image = picture(result, images, draw_boxes)
    except SnapshotError as error:
        raise SnapshotError(f"cannot save a snapshot in {folder}: {error}") from None
    encoded = None
    if image is not None:
        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            raise SnapshotError(f"cannot save a snapshot in {folder}: the frame could not be encoded as PNG")

    if folder.exists() and not folder.is_dir():
        raise SnapshotError(f"cannot save a snapshot in {folder}: it is a file, not a folder")
    try:
        private_folder(folder)
    except OSError as error:
        raise SnapshotError(f"cannot create the snapshot folder {folder}: {_reason(error)}") from None

    now = datetime.now().astimezone()
    camera = f"{result.camera}-" if result.camera else ""
    png, sidecar = _free_names(folder, f"{FILE_PREFIX}{camera}{now:%Y%m%d-%H%M%S-%f}")
    height, width = result.image.shape[:2] if getattr(result.image, "size", 0) else (0, 0)
    metadata = {
        "saved_at": now.isoformat(timespec="microseconds"),
        "camera": result.camera,
        "source": redact_source(source),
        "frame": result.index,
        "source_time": result.time,
        "resolution": [width, height],
        "faces": result.to_dict()["faces"],
        "images": images,
    }
    if encoded is None:
        _write(sidecar, (json.dumps(metadata, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        return None, sidecar
    _write(png, encoded.tobytes())
    try:
        _write(sidecar, (json.dumps(metadata, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    except SnapshotError:
        png.unlink(missing_ok=True)  # no image without its sidecar
        raise
    return png, sidecar


@dataclass(frozen=True)
class Pruned:
    """What `prune_snapshots` removed and what it left."""

    removed: int  # snapshots (a PNG and its sidecar count as one)
    freed_bytes: int
    kept: int
    kept_bytes: int


def prune_snapshots(folder: Path, max_bytes: int, keep_days: float, now: float | None = None) -> Pruned:
    """Removes the oldest snapshots in `folder` (by modification time; a PNG with its sidecar)
    until the rest are younger than `keep_days` and take at most `max_bytes` together; 0 turns
    either limit off. Only emotui's own files (emotui-*.png and .json) are looked at or removed.
    One listing of the folder: cheap while retention keeps it small. Raises OSError."""
    snapshots: dict[str, list] = {}  # stem -> [newest mtime, bytes, paths]
    with os.scandir(folder) as entries:
        for entry in entries:
            stem, suffix = os.path.splitext(entry.name)
            if entry.name.startswith(FILE_PREFIX) and suffix in SNAPSHOT_SUFFIXES and entry.is_file():
                status = entry.stat()
                snapshot = snapshots.setdefault(stem, [0.0, 0, []])
                snapshot[0] = max(snapshot[0], status.st_mtime)
                snapshot[1] += status.st_size
                snapshot[2].append(entry.path)
    kept_bytes = sum(size for _, size, _ in snapshots.values())
    oldest_kept = (time.time() if now is None else now) - keep_days * 86400
    removed = freed = 0
    for mtime, size, paths in sorted(snapshots.values()):
        if not ((keep_days and mtime < oldest_kept) or (max_bytes and kept_bytes > max_bytes)):
            break
        for path in paths:
            Path(path).unlink(missing_ok=True)
        removed, freed, kept_bytes = removed + 1, freed + size, kept_bytes - size
    return Pruned(removed, freed, len(snapshots) - removed, kept_bytes)


def _free_names(folder: Path, stem: str) -> tuple[Path, Path]:
    """stem.png/stem.json, or stem-1, stem-2, ... if either already exists."""
    candidate, counter = stem, 0
    while (folder / f"{candidate}.png").exists() or (folder / f"{candidate}.json").exists():
        counter += 1
        candidate = f"{stem}-{counter}"
    return folder / f"{candidate}.png", folder / f"{candidate}.json"


def _write(path: Path, data: bytes) -> None:
    """Atomically, mode 0600: snapshots show people."""
    try:
        write_atomically(path, data)
    except OSError as error:
        raise SnapshotError(f"cannot write the snapshot {path}: {_reason(error)}") from None


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
