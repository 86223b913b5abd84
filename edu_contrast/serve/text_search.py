"""Text → image search with CLIP's two towers: a caption finds the gallery scenes it describes.

    ŷ_q = normalize(W_T f_T(tokens(text)))          the query, by the text tower (``CLIP.embed_texts``)
    x̂_i = normalize(W_I f_I(image_i))               the gallery, by the image tower (``CLIP.embed_images``)
    score_i = x̂_i · ŷ_q,   results = the k items of largest score_i, best first

Training pulled each caption's ŷ towards its image's x̂ (Radford et al. 2021, Figure 3), so the cosine
between the two towers' unit vectors ranks images by how well the text describes them.

- ``save_clip(model, RUN)`` writes RUN/clip.pt: the state dict and the towers' constructor settings,
  atomically, with the checkpoints' checksum (``train.storage``); ``load_clip(RUN)`` rebuilds the model.
- ``scene_gallery(model, scenes)``: the scenes' x̂ as a ``gallery.Gallery`` stamped with the model's
  identity (``model_identity``: the sha256 of both towers), so a server refuses another model's gallery.
- ``TextQuery``: the body of ``POST /search/text`` checked (``{"text": ..., "k": ...}``) and embedded.

    python -m edu_contrast gallery --clip runs/clip --scenes 1000 --out runs/clip/gallery.npz   # its x̂
    python -m edu_contrast serve --clip runs/clip --gallery runs/clip/gallery.npz   # POST /search/text
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edu_contrast import models
from edu_contrast._validation import fail
from edu_contrast.data import scenes as scene_data
from edu_contrast.methods.clip import CLIP
from edu_contrast.serve.gallery import Gallery, model_identity
from edu_contrast.serve.search import BadQuery, parse_k
from edu_contrast.train.storage import _atomic_write, checksum

__all__ = [
    "CLIP_NAME",
    "MAX_TEXT_CHARS",
    "save_clip",
    "load_clip",
    "scene_gallery",
    "ImageTower",
    "TextQuery",
]

CLIP_NAME = "clip.pt"
CLIP_FORMAT = 1
MAX_TEXT_CHARS = 200


def _settings(model: CLIP, image_shape) -> dict:
    """What rebuilds ``model``: the constructor arguments of its towers, read back from the modules."""
    image, text = model.image_encoder, model.text_encoder
    if not isinstance(image, models.SmallConvNet) or not isinstance(text, models.TextEncoder):
        got = f"towers {type(image).__name__} and {type(text).__name__}"
        fail("model", "save_clip", "a CLIP of a models.SmallConvNet and a models.TextEncoder", got, TypeError)
    last = image.features[-1][0]  # the last block's Conv2d
    layers = text.transformer.layers
    return {
        "image_shape": [int(s) for s in image_shape],
        "image_encoder": {
            "in_channels": image.in_channels,
            "feature_dim": image.feature_dim,
            "width": image.features[0][0].out_channels,
            "last_kernel": last.kernel_size[0],
            "last_stride": last.stride[0],
        },
        "text_encoder": {
            "vocab_size": text.vocab_size,
            "feature_dim": text.feature_dim,
            "depth": len(layers),
            "heads": layers[0].self_attn.num_heads,
            "max_length": text.max_length,
        },
        "embed_dim": model.image_projection.out_features,
        "loss": model.loss_name,
    }


def save_clip(
    model: CLIP, run: str | os.PathLike, *, image_shape=(3, 32, 32), overwrite: bool = False
) -> Path:
    """Write RUN/clip.pt: ``{"format", "settings", "model": state dict, "checksum"}``, atomically.

    ``image_shape`` (C, H, W) is what the server resizes uploads to (``data.Scenes``' default 32 × 32).
    An existing file is replaced only with ``overwrite=True`` (``FileExistsError`` otherwise).
    """
    if not isinstance(model, CLIP):
        fail("model", "save_clip", "a methods.CLIP", f"an object of type {type(model).__name__}", TypeError)
    path = Path(run) / CLIP_NAME
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another folder, or pass overwrite=True.")
    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    state = {"format": CLIP_FORMAT, "settings": _settings(model, image_shape), "model": weights}
    state["checksum"] = checksum(state)
    _atomic_write(path, lambda f: torch.save(state, f))
    return path


def load_clip(run: str | os.PathLike) -> tuple[CLIP, dict]:
    """``(model, settings)`` from a folder (or file) written by ``save_clip``: eval mode, on the CPU.

    Raises ``FileNotFoundError`` (no file) or ``ValueError`` (not a CLIP run, or damaged: its checksum).
    """
    path = Path(run)
    path = path / CLIP_NAME if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(
            f"No CLIP run at {path}; write one with serve.text_search.save_clip(model, RUN)."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # zip reader, unpickler, EOF: all mean "not a readable file"
        raise ValueError(f"{path} cannot be read as a CLIP run ({type(error).__name__}).") from None
    if not isinstance(state, dict) or state.get("format") != CLIP_FORMAT or "settings" not in state:
        raise ValueError(f"{path} is not a CLIP run of format {CLIP_FORMAT} (save_clip writes one).")
    if checksum(state) != state.get("checksum"):
        raise ValueError(f"{path} is damaged: its contents changed after it was written (sha256 differs).")
    settings = state["settings"]
    model = CLIP(
        models.SmallConvNet(**settings["image_encoder"]),
        models.TextEncoder(**settings["text_encoder"]),
        embed_dim=settings["embed_dim"],
        loss=settings["loss"],
    )
    model.load_state_dict(state["model"])
    return model.eval(), settings


class ImageTower(nn.Module):
    """x ↦ x̂ = normalize(W_I f_I(x)): CLIP's image side as one module, for ``backends.TorchEmbedder``."""

    def __init__(self, model: CLIP):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.embed_images(images)  # (B, embed_dim), unit rows


@torch.inference_mode()
def scene_gallery(model: CLIP, scenes: scene_data.Scenes, *, batch_size: int = 512, **identity) -> Gallery:
    """The scenes' x̂ (n, embed_dim) float32 unit rows, ids 0..n−1, labels ``scenes.labels``, and the
    model's identity (+ ``identity``, e.g. ``dataset="scenes"``, ``split="seed 1000"``); write it with
    ``gallery.save_gallery``."""
    model = model.eval()
    x = torch.cat(
        [
            model.embed_images(scenes.images[i : i + batch_size].float() / 255)
            for i in range(0, len(scenes), batch_size)
        ]
    )  # (n, embed_dim)
    shape = list(scenes.images.shape[1:])
    return Gallery(
        ids=np.arange(len(scenes), dtype=np.int64),
        embeddings=x.float().numpy(),
        labels=scenes.labels.numpy().astype(np.int64),
        identity={**model_identity(model), "image_shape": shape, "dataset": "scenes", **identity},
    )


class TextQuery:
    """The text side of ``POST /search/text``: ``parse(body)`` → (text, k), ``embed(text)`` → ŷ (1, d)."""

    def __init__(self, model: CLIP, *, max_chars: int = MAX_TEXT_CHARS):
        self.model = copy.deepcopy(model).cpu().float().eval()
        self.max_words, self.max_chars = self.model.text_encoder.max_length, max_chars

    def parse(self, body: bytes, max_k: int) -> tuple[str, int]:
        """The JSON ``{"text": str, "k": int (optional, 10)}``, or ``BadQuery`` (one line, 4xx)."""
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadQuery('The body is not JSON; send {"text": "a red circle", "k": 5}.', 400) from None
        if not isinstance(request, dict) or "text" not in request:
            raise BadQuery('Missing field: text (send JSON {"text": "a red circle", "k": 5}).')
        text, k = request["text"], request.get("k")
        if not isinstance(text, str) or not text.split():
            raise BadQuery(f"'text' must be a non-empty string of words; got {text!r}.")
        if len(text) > self.max_chars:
            raise BadQuery(f"'text' is {len(text)} characters long; the limit is {self.max_chars}.", 413)
        words = text.lower().split()
        unknown = [w for w in words if w not in scene_data.WORD_IDS or w == scene_data.PAD]
        if unknown:
            known = ", ".join(scene_data.VOCABULARY[1:])
            raise BadQuery(f"The word {unknown[0]!r} is not in the vocabulary ({known}).")
        if len(words) > self.max_words:
            raise BadQuery(f"'text' has {len(words)} words; the text tower reads at most {self.max_words}.")
        return text, parse_k(None if k is None else str(k), max_k)

    @torch.inference_mode()
    def embed(self, text: str) -> np.ndarray:
        """ŷ = normalize(W_T f_T(tokens)) of one text, float32 (1, embed_dim)."""
        return self.model.embed_texts(scene_data.tokenize([text])).float().numpy()
