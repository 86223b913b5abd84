"""``python -m edu_contrast gallery``: embed a dataset split with a run's encoder, for ``serve --gallery``.

    h_i = f(x_i) for every image x_i of the split (float32, eval mode: ``measure.embed``, the features the
    probes use and ``/embed`` returns) → FILE.npz with ids, h, labels and the encoder's identity

    python -m edu_contrast gallery --checkpoint runs/fm --out runs/fm/gallery.npz     # the run's test split
    python -m edu_contrast serve --checkpoint runs/fm --gallery runs/fm/gallery.npz   # POST /search

With ``--clip RUN`` (a CLIP run, ``serve.text_search.save_clip``) it embeds ``--scenes N`` generated scenes
(``data.Scenes(N, seed=--seed)``, drawn at the run's image size) with the image tower instead,
x̂_i = normalize(W_I f_I(x_i)) (``text_search.scene_gallery``), for ``POST /search/text``:

    python -m edu_contrast gallery --clip runs/clip --scenes 1000 --out runs/clip/gallery.npz
    python -m edu_contrast serve --clip runs/clip --gallery runs/clip/gallery.npz      # POST /search/text

An existing FILE is never replaced without ``--overwrite``; the file is written atomically (a kill leaves
the old file or the new one, never half of one).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from edu_contrast import data, measure, train
from edu_contrast.cli.parser import PROG, SCENES_SEED
from edu_contrast.serve.backends import method_from_state
from edu_contrast.serve.gallery import Gallery, model_identity, save_gallery
from edu_contrast.serve.text_search import load_clip, scene_gallery
from edu_contrast.train.precision import check_device

__all__ = ["gallery_command"]

EXIT_USER_ERROR = 2
SCENES = 1000  # --clip's default --scenes


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


def _conflict(args) -> str | None:
    """The one-line error of a flag that does not go with the model flag given (--checkpoint or --clip)."""
    if args.checkpoint is None and args.clip is None:
        return "argument --checkpoint: pass --checkpoint RUN (a trained run) or --clip RUN (a CLIP run)"
    if args.checkpoint is not None and args.clip is not None:
        return "argument --clip: not allowed with --checkpoint; a gallery is embedded by one model"
    if args.clip is None:
        given = "--scenes" if args.scenes is not None else "--seed" if args.seed is not None else None
        return given and (
            f"argument {given}: only with --clip (generated scenes for a CLIP run's image tower); "
            "--checkpoint embeds --dataset's --split"
        )
    given = "--dataset" if args.dataset is not None else "--split" if args.split is not None else None
    if given is not None:
        return f"argument {given}: not with --clip, which embeds --scenes N generated scenes (data.Scenes)"
    if args.device not in (None, "cpu"):
        return f"argument --device: --clip galleries are embedded on the CPU; got {args.device}"
    return None


def _clip_command(args, started: float) -> int:
    """Embed ``--scenes`` scenes of ``--seed`` with ``--clip``'s image tower into ``--out``."""
    try:
        model, settings = load_clip(args.clip)
    except (OSError, ValueError, RuntimeError) as error:  # no run there, a damaged one, not rebuildable
        if args.debug:
            raise
        return _user_error(args, f"argument --clip: {error}")
    n = SCENES if args.scenes is None else args.scenes
    seed = SCENES_SEED if args.seed is None else args.seed
    args.stage = "embed"
    scenes = data.Scenes(n, size=settings["image_shape"][-1], seed=seed)  # the size the tower was saved for
    gallery = scene_gallery(model, scenes, split=f"seed {seed}", clip=str(args.clip))  # (n, embed_dim)
    save_gallery(args.out, gallery, overwrite=args.overwrite)
    print(
        f"wrote {args.out}: {len(gallery)} × {gallery.dim} unit x̂ of scenes (seed {seed}) "
        f"({time.perf_counter() - started:.0f} s). Serve it: {PROG} serve --clip {args.clip} "
        f"--gallery {args.out}"
    )
    return 0


def gallery_command(args, parser: argparse.ArgumentParser, started: float) -> int:
    """Embed ``--dataset``'s ``--split`` with ``--checkpoint``'s encoder (or ``--clip``'s scenes) into
    ``--out`` (module docstring)."""
    conflict = _conflict(args)
    if conflict is not None:
        return _user_error(args, conflict)
    if args.out.exists() and not args.overwrite:
        return _user_error(
            args,
            f"argument --out: {args.out} already exists; choose another --out, or pass --overwrite to "
            f"replace it (a server started with it keeps the copy it loaded)",
        )
    if args.out.is_dir():
        return _user_error(args, f"argument --out: {args.out} is a folder; give a file name such as "
                           f"{args.out / 'gallery.npz'}")  # fmt: skip
    if args.clip is not None:
        return _clip_command(args, started)
    args.split = args.split or "test"
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
