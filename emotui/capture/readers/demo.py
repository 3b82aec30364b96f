"""The `demo` source: a scene generated frame by frame, so that emotui shows faces, tracks and alerts
on a machine with no camera and no media. Its faces are the NASA portrait of astronaut Eileen Collins
(public domain), kept in the model store as `demo` (`emotui models pull demo`); the room is drawn.

One pass of the scene, PASS_S seconds at FPS frames per second of WIDTH x HEIGHT:

    0-3 s    the empty room
    3-10 s   the astronaut walks in from the left and comes close: her face fills most of the
             frame (the short-range model's case)
    10-18 s  she steps back to the far wall and stays there: a face of about 30 px (the full-range
             model, on tiles)
    13-19 s  a second visitor (the portrait mirrored and paler) comes in from the right and leaves:
             a track starts and ends
    14-26 s  the light dims and turns warm, then comes back
    18-23 s  the astronaut crosses the room and leaves on the right
    23-30 s  the empty room

A frame depends only on the seed and its index: the seed sets the sensor noise and how the faces
sway and tilt. On the demo, a config without rules of its own also gets a presence rule
(`rules_for_source`), so alerts show within seconds; a [[cameras]] table on the demo may name it.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotui.config import DEFAULT_RULES, DEMO_RULES, DEMO_SOURCE, AlertRuleConfig

WIDTH, HEIGHT = 640, 480
FPS = 15.0
PASS_S = 30.0
PASS_FRAMES = int(PASS_S * FPS)
DEFAULT_SEED = 15

PHOTO_FACE = (176.0, 78.0, 274.0, 176.0)  # the face's box in the portrait, as blazeface-dual finds it
PHOTO_BUST = (95, 0, 355, 320)  # the head and shoulders cut out of the portrait (x1, y1, x2, y2)
SPRITE_LEVELS = 3  # the bust at full, half and quarter size, so a far face is not drawn from aliased pixels
NOISE_FRAMES = 6  # sensor noise patterns, taken in turn
NOISE_LEVEL = 4  # +- grey levels


@dataclass(frozen=True)
class Keyframe:
    time: float  # seconds into the pass
    x: float  # the face's centre, as fractions of the frame's width and height
    y: float
    face_px: float  # the face's height in pixels


@dataclass(frozen=True)
class Actor:
    """A face on its path: shown from its first keyframe to its last, eased in between."""

    path: tuple[Keyframe, ...]
    mirrored: bool = False
    pale: bool = False


ASTRONAUT = Actor((
    Keyframe(2.5, -0.25, 0.50, 100), Keyframe(5.0, 0.35, 0.50, 100), Keyframe(7.5, 0.50, 0.56, 320),
    Keyframe(9.5, 0.52, 0.56, 320), Keyframe(12.5, 0.25, 0.38, 30), Keyframe(18.0, 0.30, 0.40, 30),
    Keyframe(20.5, 0.50, 0.50, 120), Keyframe(23.0, 1.30, 0.50, 120),
))
VISITOR = Actor((
    Keyframe(13.0, 1.25, 0.45, 80), Keyframe(15.0, 0.75, 0.45, 80), Keyframe(17.0, 0.72, 0.47, 80),
    Keyframe(19.0, 1.25, 0.45, 80),
), mirrored=True, pale=True)
ACTORS = (ASTRONAUT, VISITOR)


def rules_for_source(source: str, rules: list[AlertRuleConfig], named: Collection[str] = ()) -> list[AlertRuleConfig]:
    """The rules alerts run on: the config's `rules`, or those of them `named` (a [[cameras]] table's
    `rules`; empty: all). On the demo, its own `presence` rule (DEMO_RULES: a face present for a second
    raises an alert) too when named, or, naming none, when the config has only the built-in rules."""
    on_demo = source.strip() == DEMO_SOURCE
    if not named:
        return [*rules, *DEMO_RULES] if on_demo and rules == DEFAULT_RULES else rules
    configured = {rule.name for rule in rules}
    demo_own = [rule for rule in DEMO_RULES if on_demo and rule.name not in configured]
    return [rule for rule in [*rules, *demo_own] if rule.name in named]


def _eased(a: float, b: float, fraction: float) -> float:
    fraction = fraction * fraction * (3 - 2 * fraction)  # smoothstep: start and stop gently
    return a + (b - a) * fraction


def _position(path: tuple[Keyframe, ...], time: float) -> Keyframe | None:
    """Where the face is at `time` on its path; None before its first keyframe or after its last."""
    for start, end in zip(path, path[1:]):
        if start.time <= time <= end.time:
            fraction = (time - start.time) / (end.time - start.time)
            return Keyframe(time, *(_eased(getattr(start, name), getattr(end, name), fraction)
                                    for name in ("x", "y", "face_px")))
    return None


def _pass_time(index: int) -> float:
    """Seconds into the pass of frame `index`."""
    return (index % PASS_FRAMES) / FPS


def _light(time: float) -> tuple[float, float]:
    """Brightness and warmth (0: daylight, 1: warm lamp) at `time` into the pass."""
    dim = 0.5 * (1 - math.cos(2 * math.pi * (time - 14.0) / 12.0)) if 14.0 < time < 26.0 else 0.0
    return 1.0 - 0.5 * dim, dim


class _Sprite:
    """An actor's bust with a feathered oval edge, at SPRITE_LEVELS sizes."""

    def __init__(self, photo: np.ndarray, actor: Actor) -> None:
        x1, y1, x2, y2 = PHOTO_BUST
        bust = photo[y1:y2, x1:x2]
        height, width = bust.shape[:2]
        left, top, right, bottom = PHOTO_FACE[0] - x1, PHOTO_FACE[1] - y1, PHOTO_FACE[2] - x1, PHOTO_FACE[3] - y1
        if actor.mirrored:
            bust, left, right = bust[:, ::-1], width - right, width - left
        self.face = (left, top, right, bottom)  # the face's box in the bust
        if actor.pale:
            grey = cv2.cvtColor(cv2.cvtColor(bust, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            bust = cv2.addWeighted(grey, 0.7, np.ascontiguousarray(bust), 0.3, 12)
        alpha = np.zeros((height, width), np.uint8)
        cv2.ellipse(alpha, (width // 2, height // 2 + 10), (width // 2 - 18, height // 2 - 14), 0, 0, 360, 255, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), 9)
        self.levels = [(np.ascontiguousarray(bust), alpha)]
        for _ in range(SPRITE_LEVELS - 1):
            self.levels.append(tuple(cv2.pyrDown(image) for image in self.levels[-1]))

    def matrix(self, level: int, spot: Keyframe, tilt_deg: float) -> np.ndarray:
        """The affine map from the sprite at `level` to the frame that puts its face at `spot`."""
        left, top, right, bottom = (value / 2 ** level for value in self.face)
        centre = ((left + right) / 2, (top + bottom) / 2)
        scale = spot.face_px / (bottom - top)
        matrix = cv2.getRotationMatrix2D(centre, tilt_deg, scale)
        matrix[:, 2] += (spot.x * WIDTH - centre[0], spot.y * HEIGHT - centre[1])
        return matrix

    def face_box(self, spot: Keyframe, tilt_deg: float) -> tuple[float, float, float, float]:
        """The face's box in the frame (around the turned box when tilted)."""
        left, top, right, bottom = self.face
        corners = np.array([[left, top], [right, top], [left, bottom], [right, bottom]])
        placed = cv2.transform(corners[None], self.matrix(0, spot, tilt_deg))[0]
        return (*placed.min(axis=0), *placed.max(axis=0))

    def draw(self, frame: np.ndarray, spot: Keyframe, tilt_deg: float) -> None:
        level = min(SPRITE_LEVELS - 1, max(0, math.floor(math.log2((self.face[3] - self.face[1]) / spot.face_px))))
        bust, alpha = self.levels[level]
        matrix = self.matrix(level, spot, tilt_deg)
        height, width = alpha.shape
        corners = cv2.transform(np.array([[[0, 0], [width, 0], [0, height], [width, height]]], np.float64), matrix)[0]
        x1, y1 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
        x2, y2 = np.minimum(np.ceil(corners.max(axis=0)).astype(int), (WIDTH, HEIGHT))
        if x2 <= x1 or y2 <= y1:
            return
        matrix[:, 2] -= (x1, y1)
        size = (int(x2 - x1), int(y2 - y1))
        colour = cv2.warpAffine(bust, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        weight = cv2.warpAffine(alpha, matrix, size, flags=cv2.INTER_LINEAR).astype(np.float32) / 255
        region = frame[y1:y2, x1:x2]
        region[:] = cv2.blendLinear(colour, region, weight, 1 - weight)


def _room() -> np.ndarray:
    """A drawn room (BGR): a wall with a window and a door, a wooden floor."""
    rows = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    room = np.empty((HEIGHT, WIDTH, 3), np.float32)
    room[:] = (1 - rows) * np.float32((196, 202, 208)) + rows * np.float32((160, 170, 180))
    floor = room[338:]
    depth = np.linspace(0, 1, len(floor), dtype=np.float32)[:, None, None]
    floor[:] = (1 - depth) * np.float32((70, 100, 135)) + depth * np.float32((48, 72, 102))
    room = room.astype(np.uint8)
    for y in range(352, HEIGHT, 26):  # floorboards
        cv2.line(room, (0, y), (WIDTH, y), (40, 60, 86), 1)
    cv2.rectangle(room, (0, 330), (WIDTH, 338), (120, 130, 140), -1)  # skirting
    sky = np.linspace(0, 1, 180, dtype=np.float32)[:, None, None]
    room[50:230, 56:236] = ((1 - sky) * np.float32((235, 200, 150)) + sky * np.float32((228, 220, 200))).astype(
        np.uint8)
    cv2.rectangle(room, (56, 196), (236, 230), (90, 140, 100), -1)  # hills behind the window
    for x1, y1, x2, y2 in ((52, 46, 240, 54), (52, 226, 240, 234), (52, 46, 60, 234), (232, 46, 240, 234),
                           (142, 46, 150, 234), (52, 136, 240, 142)):  # the window's frame and bars
        cv2.rectangle(room, (x1, y1), (x2, y2), (225, 228, 230), -1)
    cv2.rectangle(room, (480, 96), (580, 338), (60, 85, 120), -1)  # the door
    cv2.rectangle(room, (480, 96), (580, 338), (40, 60, 90), 4)
    cv2.circle(room, (566, 225), 5, (180, 190, 200), -1)
    return room


class DemoScene:
    """The scene's frames (BGR, WIDTH x HEIGHT) by index: see the module docstring."""

    def __init__(self, photo: Path, seed: int = DEFAULT_SEED) -> None:
        portrait = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        self._sprites = [_Sprite(portrait, actor) for actor in ACTORS]
        self._room = _room()
        random = np.random.default_rng(seed)
        self._sway = random.uniform(0, 2 * math.pi, size=(len(ACTORS), 3))  # phases of drift, bob and tilt
        self._noise = random.integers(0, 2 * NOISE_LEVEL + 1, size=(NOISE_FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8)

    def _placements(self, index: int) -> list[tuple[_Sprite, Keyframe, float]]:
        """Each face shown in the frame, its spot and tilt, farthest first."""
        time = _pass_time(index)
        placements = []
        for sprite, actor, (drift, bob, tilt) in zip(self._sprites, ACTORS, self._sway):
            if (spot := _position(actor.path, time)) is None:
                continue
            swayed = Keyframe(time, spot.x + 0.012 * math.sin(2 * math.pi * time / 2.7 + drift),
                              spot.y + 0.008 * math.sin(2 * math.pi * time / 1.9 + bob), spot.face_px)
            placements.append((sprite, swayed, 7.0 * math.sin(2 * math.pi * time / 3.3 + tilt)))
        return sorted(placements, key=lambda placement: placement[1].face_px)

    def frame(self, index: int) -> np.ndarray:
        image = self._room.copy()
        for sprite, spot, tilt in self._placements(index):
            sprite.draw(image, spot, tilt)
        brightness, warmth = _light(_pass_time(index))
        gains = brightness * np.array([1 - 0.25 * warmth, 1.0, 1 + 0.12 * warmth])  # B, G, R
        table = np.clip(np.arange(256)[:, None] * gains, 0, 255).astype(np.uint8)[:, None, :]
        image = cv2.LUT(image, table)
        image = cv2.add(image, self._noise[index % NOISE_FRAMES])
        return cv2.subtract(image, (NOISE_LEVEL,) * 3)

    def faces(self, index: int) -> list[tuple[float, float, float, float]]:
        """The boxes (x1, y1, x2, y2) of the faces in the frame, whole or in part, nearest last."""
        boxes = [sprite.face_box(spot, tilt) for sprite, spot, tilt in self._placements(index)]
        return [box for box in boxes if box[0] < WIDTH and box[1] < HEIGHT and box[2] > 0 and box[3] > 0]


class DemoReader:
    """The scene's frames in order, FPS apart on the source clock: one pass, or pass after pass when
    `endless` (a demo played in real time, like a camera)."""

    fps = FPS

    def __init__(self, scene: DemoScene, endless: bool) -> None:
        self._scene = scene
        self._endless = endless
        self._index = 0

    def read(self) -> tuple[np.ndarray, float] | None:
        if not self._endless and self._index >= PASS_FRAMES:
            return None
        index, self._index = self._index, self._index + 1
        return self._scene.frame(index), index / FPS

    def close(self) -> None:
        pass
