"""Blur benchmark: does the real default detector still find faces after `images = "blurred"`?
Prints JSON: per image, the faces found before and after blurring them, and the totals.

    .venv/bin/python benchmarks/blur.py [--media ../shared/media]

The images: the research media's group, multi-face, pose and lighting photos, and two frames
(at a quarter and at half) of each face video. Faces are found as in a still photo (every tile,
new faces confirmed) with the default settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emotui.config import Config  # noqa: E402
from emotui.pipeline import create_analyzer  # noqa: E402
from emotui.snapshots import blur_faces  # noqa: E402
from emotui.vision.tracker import TrackedFace  # noqa: E402
from tests.media import find_media  # noqa: E402

PHOTOS = ("photos/group_annotated/*.jpg", "photos/multi_face/*.jpg", "photos/varied_pose/*.jpg",
          "photos/varied_lighting/*center*.png")


def images(media: Path):
    for pattern in PHOTOS:
        for path in sorted(media.glob(pattern)):
            yield path.name, cv2.imread(str(path))
    for video in sorted(media.glob("videos/faces/*.mp4")):
        capture = cv2.VideoCapture(str(video))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        for index in (frames // 4, frames // 2):
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            if ok:
                yield f"{video.name}@{index}", frame
        capture.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=find_media())
    args = parser.parse_args()
    analyzer = create_analyzer(Config(), lambda message: None, still_images=True)
    rows = []
    for name, image in images(args.media):
        found = analyzer.faces_in_photo(image)
        faces = [TrackedFace(number, box, 1.0, None, 0.0) for number, box in enumerate(found.boxes)]
        rows.append({"image": name, "faces": len(faces),
                     "found_after_blur": len(analyzer.faces_in_photo(blur_faces(image, faces))) if faces else 0})
    with_faces = [row for row in rows if row["faces"]]
    print(json.dumps({"images": len(with_faces), "faces": sum(row["faces"] for row in with_faces),
                      "found_after_blur": sum(row["found_after_blur"] for row in with_faces),
                      "images_with_a_face_after_blur": sum(bool(row["found_after_blur"]) for row in with_faces),
                      "per_image": rows}, indent=2))


if __name__ == "__main__":
    main()
