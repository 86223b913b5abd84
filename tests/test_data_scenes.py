"""The scenes are what their captions say: captions parse back to the attributes, the pixels show the
objects where and how the attributes place them, the swapped caption differs in the binding only, and the
tokenizer round-trips."""

from __future__ import annotations

import pytest
import torch

from edu_contrast import data
from edu_contrast.data import Scenes, decode, swapped_caption, tokenize
from edu_contrast.data.scenes import COLORS, PALETTE, QUADRANTS, RELATIONS, SHAPES, SIZES, VOCABULARY


@pytest.fixture(scope="module")
def scenes():
    return Scenes(600, seed=3)


def parse(caption: str) -> dict:
    """The attributes a caption states, read with the template alone (independent of the generator)."""
    words = caption.split()

    def obj(at: int) -> tuple[int, int, int]:
        assert words[at] == "a", caption
        return SIZES.index(words[at + 1]), COLORS.index(words[at + 2]), SHAPES.index(words[at + 3])

    first = obj(0)
    if words[4:6] == ["at", "the"]:
        assert len(words) == 8, caption
        return {"objects": [first], "quadrant": QUADRANTS.index(" ".join(words[6:]))}
    relation = " ".join(words[4:-4])
    return {"objects": [first, obj(len(words) - 4)], "relation": RELATIONS.index(relation)}


def test_same_seed_same_scenes_other_seed_other_scenes():
    a, b, c = Scenes(200, seed=7), Scenes(200, seed=7), Scenes(200, seed=8)
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    for name in Scenes.per_sample:
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.images, c.images) and a.captions != c.captions


def test_shapes_types_and_the_dataset_interface(scenes):
    assert scenes.images.shape == (600, 3, 32, 32) and scenes.images.dtype == torch.uint8
    assert len(scenes.captions) == 600 and all(isinstance(c, str) for c in scenes.captions)
    assert scenes.classes == list(SHAPES) and torch.equal(scenes.labels, scenes.shapes[:, 0])
    x, y = scenes[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
    assert Scenes(5, size=48).images.shape == (5, 3, 48, 48)
    assert isinstance(data.Scenes(2), data.ImageTensors)


def test_captions_parse_back_to_the_attributes(scenes):
    for i, caption in enumerate(scenes.captions):
        parsed = parse(caption)
        k = int(scenes.num_objects[i])
        assert len(parsed["objects"]) == k, caption
        for slot, (size, color, shape) in enumerate(parsed["objects"]):
            assert (size, color, shape) == (
                scenes.sizes[i, slot],
                scenes.colors[i, slot],
                scenes.shapes[i, slot],
            ), caption
        if k == 1:
            assert parsed["quadrant"] == scenes.quadrants[i, 0] and scenes.relations[i] == -1
            assert (scenes.shapes[i, 1], scenes.colors[i, 1], scenes.sizes[i, 1]) == (-1, -1, -1)
        else:
            assert parsed["relation"] == scenes.relations[i], caption


@pytest.mark.parametrize("size", [32, 21])
def test_the_pixels_show_each_object_in_its_colour_quadrant_and_relation(scenes, size):
    scenes = scenes if size == 32 else Scenes(300, size=size, seed=1)
    half = size // 2
    for i in range(len(scenes)):
        image = scenes.images[i]  # (3, H, W)
        painted = image.amax(0) > 0  # (H, W)
        expected = torch.zeros_like(painted)
        for slot in range(int(scenes.num_objects[i])):
            color = PALETTE[scenes.colors[i, slot]]
            row, col = scenes.centers[i, slot].tolist()
            assert torch.equal(image[:, row, col], color), (i, slot)  # every shape covers its centre
            q = int(scenes.quadrants[i, slot])
            assert (row // half, col // half) == (q // 2, q % 2), (i, slot)
            own = (image == color[:, None, None]).all(0)  # (H, W): this object's pixels
            top, left = (q // 2) * half, (q % 2) * half
            assert own[top : top + half, left : left + half].sum() == own.sum() > 0  # inside its quadrant
            expected |= own
        assert torch.equal(painted, expected), i  # nothing else is painted
        if scenes.num_objects[i] == 2:
            (r0, c0), (r1, c1) = scenes.centers[i].tolist()
            holds = {"left of": c0 < c1, "right of": c0 > c1, "above": r0 < r1, "below": r0 > r1}
            assert holds[RELATIONS[scenes.relations[i]]], scenes.captions[i]


def test_large_objects_cover_more_pixels_than_small_ones(scenes):
    one = scenes.num_objects == 1
    area = (scenes.images.amax(1) > 0).flatten(1).sum(1).float()  # (N,) painted pixels
    for k in range(len(SHAPES)):
        small = one & (scenes.shapes[:, 0] == k) & (scenes.sizes[:, 0] == 0)
        large = one & (scenes.shapes[:, 0] == k) & (scenes.sizes[:, 0] == 1)
        assert area[large].min() > 2 * area[small].max(), SHAPES[k]


def test_two_objects_differ_in_colour_and_shape_and_their_share_follows_two_objects(scenes):
    two = scenes.num_objects == 2
    assert (scenes.colors[two, 0] != scenes.colors[two, 1]).all()
    assert (scenes.shapes[two, 0] != scenes.shapes[two, 1]).all()
    assert abs(two.float().mean().item() - 0.5) < 0.07  # 600 fair coins: 3.4 standard deviations
    assert (Scenes(50, two_objects=0.0).num_objects == 1).all()
    assert (Scenes(50, two_objects=1.0).num_objects == 2).all()
    used = {(int(s), int(c)) for s, c in zip(scenes.shapes[:, 0], scenes.colors[:, 0])}
    assert len(used) == len(SHAPES) * len(COLORS)  # every shape in every colour occurs


def test_the_swapped_caption_differs_exactly_in_the_binding(scenes):
    pairs = (scenes.num_objects == 2).nonzero()[:, 0].tolist()
    for i in pairs:
        original, swapped = scenes.captions[i].split(), swapped_caption(scenes, i).split()
        assert sorted(original) == sorted(swapped) and original != swapped  # the same bag of words
        changed = [p for p, (a, b) in enumerate(zip(original, swapped)) if a != b]
        assert len(changed) == 2 and {original[p] for p in changed} <= set(COLORS)
        assert (original[changed[0]], original[changed[1]]) == (swapped[changed[1]], swapped[changed[0]])
        assert parse(" ".join(swapped))["objects"][0][2] == scenes.shapes[i, 0]  # shapes stay in place


def test_swapped_caption_refuses_a_one_object_scene_and_a_bad_index(scenes):
    single = int((scenes.num_objects == 1).nonzero()[0, 0])
    with pytest.raises(ValueError, match="'index' parameter of swapped_caption.*one-object scene"):
        swapped_caption(scenes, single)
    with pytest.raises(ValueError, match="out of range"):
        swapped_caption(scenes, len(scenes))
    with pytest.raises(TypeError, match="'scenes' parameter"):
        swapped_caption(scenes.captions, 0)


def test_subset_keeps_captions_with_their_scenes(scenes):
    part = scenes.subset(100, generator=torch.Generator().manual_seed(0))
    assert len(part.captions) == 100
    assert [part.caption(i) for i in range(100)] == part.captions
    assert part.captions != scenes.captions[:100]


def test_tokenize_round_trips_and_pads_with_zero(scenes):
    tokens = tokenize(scenes.captions)
    longest = max(len(c.split()) for c in scenes.captions)
    assert tokens.shape == (600, longest) and tokens.dtype == torch.int64
    assert decode(tokens) == scenes.captions
    words = torch.tensor([len(c.split()) for c in scenes.captions])
    assert torch.equal((tokens != 0).sum(1), words)  # 0 only as padding, at the end
    assert (tokens[:, 0] == VOCABULARY.index("a")).all()
    wider = tokenize(scenes.captions[:3], length=12)
    assert (
        wider.shape == (3, 12)
        and torch.equal(wider[:, :longest], tokens[:3])
        and (wider[:, longest:] == 0).all()
    )
    assert torch.equal(tokenize(["A  Red\tCircle"]), tokenize(["a red circle"]))
    assert VOCABULARY[0] == "<pad>" and len(set(VOCABULARY)) == len(VOCABULARY)


def test_tokenize_names_what_is_wrong():
    with pytest.raises(
        ValueError, match="words in VOCABULARY.*Got 'a photo of a red circle' with unknown word 'photo'"
    ):
        tokenize(["a photo of a red circle"])
    with pytest.raises(ValueError, match="no word"):
        tokenize(["a red circle", "  "])
    with pytest.raises(ValueError, match="'length' parameter.*longest caption's 3 words"):
        tokenize(["a red circle"], length=2)
    with pytest.raises(TypeError, match="list of strings"):
        tokenize("a red circle")
    with pytest.raises(TypeError, match="'tokens' parameter of decode"):
        decode(torch.zeros(3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "'n' parameter of Scenes must be an int >= 1"),
        ({"n": 5, "size": 8}, "'size' parameter of Scenes must be an int >= 20"),
        ({"n": 5, "two_objects": 1.5}, "'two_objects' parameter of Scenes must be a fraction in"),
        ({"n": 5, "seed": -1}, "'seed' parameter of Scenes must be an int >= 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Scenes(**kwargs)
