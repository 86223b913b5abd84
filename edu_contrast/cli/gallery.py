"""``python -m edu_contrast gallery``: embed a dataset split with a run's encoder, for ``serve --gallery``.

    h_i = f(x_i) for every image x_i of the split (float32, eval mode: ``measure.embed``, the features the
    probes use and ``/embed`` returns) → FILE.npz with ids, h, labels and the encoder's identity

    python -m edu_contrast gallery --checkpoint runs/fm --out runs/fm/gallery.npz     # the run's test split
    python -m edu_contrast serve --checkpoint runs/fm --gallery runs/fm/gallery.npz   # POST /search

An existing FILE is never replaced without ``--overwrite``; the file is written atomically (a kill leaves
the old file or the new one, never half of one).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from edu_contrast import data, measure, train
from edu_contrast.cli.parser import PROG
from edu_contrast.serve.backends import method_from_state
from edu_contrast.serve.gallery import Gallery, model_identity, save_gallery
from edu_contrast.train.precision import check_device

__all__ = ["gallery_command"]

EXIT_USER_ERROR = 2


def _user_error(args, message: str) -> int:
    print(f"{PROG} {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USER_ERROR


def _images(args, config: dict) -> data.ImageTensors | str:
    """The split to embed, or the one-line error (no dataset named, images of another shape)."""
    name = args.dataset or config.get("dataset")
    if name is None:
        return "argument --dataset: the run does not name its dataset; pass --dataset NAME"
    args.dataset, args.stage = name, "data"  # main's errors.explain names --dataset for data errors
    images = data.load_dataset(name, args.split, root=args.data_root, download=args.download)
    shape, wanted = tuple(images.images.shape[1:]), tuple(config["image_shape"])
    if shape != wanted:
        size = lambda s: "×".join(map(str, s))  # noqa: E731
        return (
            f"argument --dataset: {name} images are {size(shape)}, but the run's encoder takes "
            f"{size(wanted)}; pass the --dataset it was trained on ({config.get('dataset')})"
        )
    return images


def gallery_command(args, parser: argparse.ArgumentParser, started: float) -> int:
    """Embed ``--dataset``'s ``--split`` with ``--checkpoint``'s encoder into ``--out`` (module docstring)."""
    if args.out.exists() and not args.overwrite:
        return _user_error(
            args,
            f"argument --out: {args.out} already exists; choose another --out, or pass --overwrite to "
            f"replace it (a server started with it keeps the copy it loaded)",
        )
    if args.out.is_dir():
        return _user_error(args, f"argument --out: {args.out} is a folder; give a file name such as "
                           f"{args.out / 'gallery.npz'}")  # fmt: skip
    try:
        state = train.load_checkpoint(args.checkpoint)
        method = method_from_state(state)
    except (OSError, ValueError, RuntimeError) as error:  # no run there, a damaged one, not rebuildable
        if args.debug:
            raise
        return _user_error(args, f"argument --checkpoint: {error}")
    config = state["config"]
    images = _images(args, config)
    if isinstance(images, str):
        return _user_error(args, images)
    args.stage = "embed"
    device = check_device(args.device, "gallery")
    identity = model_identity(method, epoch=int(state["epoch"]))  # on the CPU weights, before .to(device)
    h = measure.embed(method.to(device), images.images, device=device)  # (n, feature_dim) float32
    gallery = Gallery(
        ids=np.arange(len(images), dtype=np.int64),
        embeddings=h.numpy(),
        labels=images.labels.numpy(),
        identity={
            **identity,
            "image_shape": list(config["image_shape"]),
            "dataset": args.dataset,
            "split": args.split,
            "checkpoint": str(args.checkpoint),
        },
    )
    save_gallery(args.out, gallery, overwrite=args.overwrite)
    print(
        f"wrote {args.out}: {len(gallery)} × {gallery.dim} features h of {args.dataset} {args.split} "
        f"({time.perf_counter() - started:.0f} s). Serve it: {PROG} serve --checkpoint {args.checkpoint} "
        f"--gallery {args.out}"
    )
    return 0
