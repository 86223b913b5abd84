"""``Scenes``: coloured shapes with template captions, an image–caption set drawn on the fly (no download).

Each scene is a black ``size``×``size`` RGB canvas cut into four quadrants, with one or two objects.
An object has a shape (``SHAPES``), a colour (``COLORS``), a size (``SIZES``) and a quadrant; the
caption says all of it, from a template:

    one object:   "a small red circle at the top left"
    two objects:  "a small red circle left of a large blue square"

The two objects of a scene sit in neighbouring quadrants (side by side or one above the other) and
never share a colour or a shape, so the relation ("left of", "right of", "above", "below") and the
binding of each colour to its shape are unambiguous. ``swapped_caption`` exchanges the two colours:
"a small blue circle left of a large red square" has the same words, bound the other way — the test
that image–text models trained contrastively often fail (Yuksekgonul et al. 2023, "When and why
vision-language models behave like bags-of-words").

``tokenize`` maps captions to word ids over the closed ``VOCABULARY`` (id 0 pads), ``decode`` maps back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from edu_contrast._validation import check_int, check_positive, fail
from edu_contrast.data.datasets import ImageTensors

__all__ = ["Scenes", "swapped_caption", "tokenize", "decode", "VOCABULARY"]
__all__ += ["SHAPES", "COLORS", "PALETTE", "SIZES", "QUADRANTS", "RELATIONS"]

SHAPES = ("circle", "square", "triangle", "cross")
COLORS = ("red", "green", "blue", "yellow", "purple")
PALETTE = torch.tensor(
    [[230, 40, 40], [40, 190, 60], [50, 100, 240], [235, 215, 40], [160, 70, 210]], dtype=torch.uint8
)  # (len(COLORS), 3): the RGB value of each colour name
SIZES = ("small", "large")
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")  # index q = 2·row + column
RELATIONS = ("left of", "right of", "above", "below")  # where the first object is, seen from the second
PAD = "<pad>"
VOCABULARY = (PAD, "a", "at", "the", "of", "top", "bottom", "left", "right", "above", "below")
VOCABULARY += SIZES + COLORS + SHAPES  # row i = the word with id i; id 0 pads
WORD_IDS = {word: i for i, word in enumerate(VOCABULARY)}


def _describe(size: int, color: int, shape: int) -> str:
    return f"{SIZES[size]} {COLORS[color]} {SHAPES[shape]}"


class Scenes(ImageTensors):
    """``n`` scenes of one or two coloured shapes and their captions, the same for the same ``seed``.

    ``images`` uint8 ``(n, 3, size, size)``; ``captions`` a list of n strings. The attribute table,
    one row per scene and one column per object slot (slot 1 is −1 in one-object scenes):

    - ``shapes``, ``colors``, ``sizes``: int64 ``(n, 2)``, indices into ``SHAPES``, ``COLORS``, ``SIZES``;
    - ``quadrants``: int64 ``(n, 2)``, index into ``QUADRANTS``; ``centers``: int64 ``(n, 2, 2)``, (row, col)
      in pixels;
    - ``num_objects``: int64 ``(n,)``, 1 or 2; ``relations``: int64 ``(n,)``, index into ``RELATIONS`` (−1).

    ``labels`` = ``shapes[:, 0]`` with ``classes`` = ``SHAPES`` (the first object's shape), so probes and
    ``subset`` work as on any ``ImageTensors``. ``two_objects`` is the expected fraction of two-object scenes.
    The same (``n``, ``size``, ``two_objects``, ``seed``) give the same scenes; another ``n`` gives other
    scenes (not a prefix), so draw a test set with another seed, e.g. ``Scenes(500, seed=1000)``.
    """

    per_sample = ImageTensors.per_sample + ("shapes", "colors", "sizes", "quadrants", "centers")
    per_sample += ("num_objects", "relations")

    def __init__(self, n: int, *, size: int = 32, two_objects: float = 0.5, seed: int = 0):
        where = "Scenes"
        n = check_int(n, "n", where)
        size = check_int(size, "size", where, minimum=20)  # room for a large object in a quadrant
        two_objects = check_positive(two_objects, "two_objects", where, allow_zero=True)
        if two_objects > 1:
            fail("two_objects", where, "a fraction in [0, 1]", two_objects)
        seed = check_int(seed, "seed", where, minimum=0)
        generator = torch.Generator().manual_seed(seed)
        self._draw_attributes(n, size, two_objects, generator)
        images = _draw(self.shapes, self.colors, self.sizes, self.centers, size)  # (n, 3, size, size)
        super().__init__(images, self.shapes[:, 0], SHAPES)
        self.captions = [self.caption(i) for i in range(n)]  # ~1 s per 10 000 scenes

    def _draw_attributes(self, n: int, canvas: int, two_objects: float, generator: torch.Generator) -> None:
        def draw(high: int, shape=(n,)) -> torch.Tensor:
            return torch.randint(high, shape, generator=generator)

        self.num_objects = 1 + (torch.rand(n, generator=generator) < two_objects).long()  # (n,)
        two = self.num_objects == 2
        # The second object's shape and colour differ from the first's: add 1 .. K−1 modulo K.
        self.shapes, self.colors = _two_different(n, len(SHAPES), draw), _two_different(n, len(COLORS), draw)
        self.sizes = draw(len(SIZES), (n, 2))  # (n, 2)
        # The second object sits beside (flip the column bit) or below/above (flip the row bit) the first.
        q0, vertical = draw(4), draw(2)
        self.quadrants = torch.stack([q0, q0 ^ (1 + vertical)], 1)  # (n, 2): q = 2·row + column
        first_low = (q0 >> vertical) & 1  # the first object's column (side by side) or row (stacked)
        self.relations = 2 * vertical + first_low  # left of, right of, above, below
        radius = _radii(canvas)[self.sizes]  # (n, 2) px
        half = canvas // 2
        offset = torch.rand(n, 2, 2, generator=generator)  # (n, 2, 2): where in its quadrant, 0..1
        low, high = radius[..., None], half - 1 - radius[..., None]  # the centre keeps the object inside
        origin = torch.stack([self.quadrants // 2, self.quadrants % 2], -1) * half  # (n, 2, 2): (row, col)
        self.centers = origin + low + (offset * (high - low + 1)).long().clamp(max=high - low)  # (n, 2, 2)
        for name in ("shapes", "colors", "sizes", "quadrants"):
            getattr(self, name)[~two, 1] = -1
        self.centers[~two, 1] = -1
        self.relations[~two] = -1

    def caption(self, index: int) -> str:
        """The caption of scene ``index``, from its attributes (the template in the module docstring)."""
        first = _describe(self.sizes[index, 0], self.colors[index, 0], self.shapes[index, 0])
        if self.num_objects[index] == 1:
            return f"a {first} at the {QUADRANTS[self.quadrants[index, 0]]}"
        second = _describe(self.sizes[index, 1], self.colors[index, 1], self.shapes[index, 1])
        return f"a {first} {RELATIONS[self.relations[index]]} a {second}"

    def _select(self, index: torch.Tensor) -> Scenes:
        chosen = super()._select(index)
        chosen.captions = [self.captions[i] for i in index.tolist()]
        return chosen


def _two_different(n: int, k: int, draw) -> torch.Tensor:
    """(n, 2) indices in [0, k), the two of a row always different: the second is the first + 1..k−1 mod k."""
    first = draw(k)  # (n,)
    return torch.stack([first, (first + 1 + draw(k - 1)) % k], 1)


def _radii(canvas: int) -> torch.Tensor:
    """Object radius r per size, in pixels (4 and 7 at 32): a large object just fits in a quadrant."""
    large = (canvas // 2 - 1) // 2  # 2r + 1 pixels <= the quadrant's side
    return torch.tensor([round(0.6 * large), large])  # (len(SIZES),)


def _inside(shape: str, dy: torch.Tensor, dx: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Where ``shape`` of radius r covers the pixel at offset (dy, dx) from its centre (a bool mask)."""
    if shape == "circle":
        return dy**2 + dx**2 <= r**2
    if shape == "square":
        return (dy.abs() <= 0.85 * r) & (dx.abs() <= 0.85 * r)  # about the circle's area
    if shape == "triangle":
        return (dy.abs() <= r) & (2 * dx.abs() <= dy + r)  # apex up, base 2r wide at dy = r
    arm = 0.4 * r  # the cross: two bars of half-thickness 0.4·r
    return ((dy.abs() <= r) & (dx.abs() <= arm)) | ((dx.abs() <= r) & (dy.abs() <= arm))


def _draw(shapes, colors, sizes, centers, canvas: int) -> torch.Tensor:
    """uint8 ``(n, 3, canvas, canvas)`` images: every object painted where its shape's mask holds."""
    images = torch.zeros(shapes.shape[0], 3, canvas, canvas, dtype=torch.uint8)
    grid = torch.arange(canvas, dtype=torch.float32)  # pixel rows (and columns)
    radii = _radii(canvas).float()
    for slot in range(2):
        for k, shape in enumerate(SHAPES):  # the scenes whose object in this slot has this shape
            chosen = (shapes[:, slot] == k).nonzero()[:, 0]  # (m,)
            dy = grid[None, :, None] - centers[chosen, slot, 0, None, None]  # (m, H, 1)
            dx = grid[None, None, :] - centers[chosen, slot, 1, None, None]  # (m, 1, W)
            r = radii[sizes[chosen, slot]][:, None, None]  # (m, 1, 1)
            inside = _inside(shape, dy, dx, r)[:, None]  # (m, 1, H, W)
            paint = PALETTE[colors[chosen, slot]][:, :, None, None]  # (m, 3, 1, 1)
            images[chosen] = torch.where(inside, paint, images[chosen])  # (m, 3, H, W)
    return images


def swapped_caption(scenes: Scenes, index: int) -> str:
    """The caption of two-object scene ``index`` with the two colours exchanged: the binding swapped.

    "a small red circle left of a large blue square" → "a small blue circle left of a large red square":
    the same words (a bag of words cannot tell them apart), a scene that is not the one drawn.
    """
    where = "swapped_caption"
    if not isinstance(scenes, Scenes):
        fail("scenes", where, "a Scenes dataset", f"an object of type {type(scenes).__name__}", TypeError)
    index = check_int(index, "index", where, minimum=0)
    if index >= len(scenes) or scenes.num_objects[index] != 2:
        got = "out of range" if index >= len(scenes) else "a one-object scene"
        fail("index", where, f"the index of a two-object scene (< {len(scenes)})", f"{index}, {got}")
    sizes, colors, shapes = scenes.sizes[index], scenes.colors[index], scenes.shapes[index]
    first, second = _describe(sizes[0], colors[1], shapes[0]), _describe(sizes[1], colors[0], shapes[1])
    return f"a {first} {RELATIONS[scenes.relations[index]]} a {second}"


def tokenize(captions: Sequence[str], length: int | None = None) -> torch.Tensor:
    """Word ids of each caption, padded with 0: int64 ``(N, L)``, row i = ``captions[i]``'s words in order.

    Words are split on white space, lower-cased and looked up in ``VOCABULARY`` (the generator's closed
    vocabulary; an unknown word is an error that names it). ``length`` L defaults to the longest caption.
    """
    where = "tokenize"
    if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
        got = repr(captions) if isinstance(captions, str) else f"a {type(captions).__name__} of non-strings"
        fail("captions", where, "a list of strings (one caption each)", got, TypeError)
    words = [caption.lower().split() for caption in captions]
    for caption, caption_words in zip(captions, words):
        unknown = [w for w in caption_words if w not in WORD_IDS or w == PAD]
        if unknown or not caption_words:
            got = f"{caption!r} with unknown word {unknown[0]!r}" if unknown else f"{caption!r}, no word"
            fail("captions", where, f"captions of words in VOCABULARY ({', '.join(VOCABULARY[1:])})", got)
    longest = max((len(w) for w in words), default=0)
    length = longest if length is None else check_int(length, "length", where)
    if length < longest:
        fail("length", where, f">= the longest caption's {longest} words", length)
    tokens = torch.zeros(len(words), length, dtype=torch.int64)  # (N, L), 0 = padding
    for i, caption_words in enumerate(words):
        tokens[i, : len(caption_words)] = torch.tensor([WORD_IDS[w] for w in caption_words])
    return tokens


def decode(tokens: torch.Tensor) -> list[str]:
    """The captions of ``tokens`` ``(N, L)``: each row's words joined by spaces, padding (id 0) dropped."""
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
        is_tensor = isinstance(tokens, torch.Tensor)
        got = f"shape {tuple(tokens.shape)}, dtype {tokens.dtype}" if is_tensor else type(tokens).__name__
        fail("tokens", "decode", "an integer tensor of shape (N, L)", got, TypeError)
    return [" ".join(VOCABULARY[i] for i in row if i != 0) for row in tokens.tolist()]
