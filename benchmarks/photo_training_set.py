"""A folder of natural photos to fine-tune the photo denoiser on (``folder:PATH`` with ``--crop-size``), none of
which is among the photos ``restore.py`` reports or validates on.

Sources, all installable offline from the package registries this project uses:

- the photographs among KDE Plasma's wallpapers (Debian package ``plasma-workspace-wallpapers``, fetched with
  ``apt-get download`` and unpacked with ``dpkg -x``; no root install needed), each halved with a box filter
  until its long side is at most 1,280 pixels, which also removes JPEG blocking and sensor noise;
- scikit-learn's two sample photos (``china.jpg``, ``flower.jpg``) and matplotlib's ``grace_hopper.jpg``.

    python benchmarks/photo_training_set.py --out ~/lf-data/photos-train
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import tempfile
from pathlib import Path

# The Plasma wallpapers that are photographs (the others are drawings and renderings).
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
                 "Kite", "OneStandsOut", "Path", "summer_1am", "Volna")
LONG_SIDE = 1280


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder to write the PNG photos to")
    p.add_argument("--deb", type=Path, default=None, help="an already downloaded plasma-workspace-wallpapers .deb")
    return p.parse_args(argv)


def unpack_wallpapers(deb: Path | None, scratch: Path) -> Path:
    if deb is None:
        subprocess.run(["apt-get", "download", "plasma-workspace-wallpapers"], cwd=scratch, check=True)
        deb = next(scratch.glob("plasma-workspace-wallpapers_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(scratch / "x")], check=True)
    return scratch / "x" / "usr" / "share" / "wallpapers"


def largest(folder: Path):
    from PIL import Image

    files = glob.glob(str(folder / "contents" / "images" / "*"))
    if not files:
        raise SystemExit(f"No images in {folder}; the wallpaper package has changed.")
    return max(files, key=lambda f: Image.open(f).size[0] * Image.open(f).size[1])


def main(argv=None) -> int:
    from PIL import Image

    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        wallpapers = unpack_wallpapers(args.deb, Path(scratch))
        for name in PLASMA_PHOTOS:
            image = Image.open(largest(wallpapers / name)).convert("RGB")
            while max(image.size) > LONG_SIDE:
                image = image.resize((image.size[0] // 2, image.size[1] // 2), Image.Resampling.BOX)
            image.save(args.out / f"{name}.png")
            print(f"{name}: {image.size[0]}×{image.size[1]}")
    import matplotlib
    import sklearn.datasets

    extra = glob.glob(os.path.join(os.path.dirname(sklearn.datasets.__file__), "images", "*.jpg"))
    extra.append(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg"))
    for path in extra:
        image = Image.open(path).convert("RGB")
        image.save(args.out / (Path(path).stem + ".png"))
        print(f"{Path(path).stem}: {image.size[0]}×{image.size[1]}")
    print(f"wrote {len(PLASMA_PHOTOS) + len(extra)} photos to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
