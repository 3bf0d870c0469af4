import json

import pytest
import torch

from lego.config import ARCHITECTURES, ConfigError, LegoConfig
from lego.labels import LabelError, LabelSpace
from lego.model import LegoModel
from lego.request import class_picker
from lego.sampler import SamplerSettings, sample

SPACE = LabelSpace(
    names=("Animals", "Food", "mammal", "bird", "fruit", "cat face", "dog face", "eagle", "red apple"),
    sizes=(2, 3, 4),
    parents=(-1, -1, 0, 0, 1, 2, 2, 3, 4),
)


def test_a_class_brings_its_parent_levels_along():
    assert SPACE.chain(5) == (0, 2, 5)
    assert SPACE.row(5) == [0, 2, 5] and SPACE.row(3) == [0, 3, -1] and SPACE.row(1) == [1, -1, -1]
    assert SPACE.row(None) == [-1, -1, -1]
    assert SPACE.row((5,)) == [-1, -1, 5]  # a level left out on purpose
    assert SPACE.describe(8) == "red apple (Food / fruit)"


def test_bad_labels_are_refused_with_a_reason():
    with pytest.raises(LabelError, match="out of range"):
        SPACE.row(9)
    with pytest.raises(LabelError, match="two classes on the emoji level"):
        SPACE.row((5, 6))
    with pytest.raises(LabelError, match="integers"):
        SPACE.row(1.5)
    with pytest.raises(LabelError, match="parent"):
        LabelSpace(("a", "b"), (1, 1), (-1, -1))


def test_search_finds_a_class_by_part_of_its_name_and_ranks_exact_names_first():
    assert SPACE.search("cat") == [5]
    assert SPACE.search("face") == [5, 6]
    assert SPACE.search("Fruit") == [4]
    assert SPACE.search("red app") == [8]
    assert SPACE.search("zebra") == []


KEYWORDS = ((),) * 5 + (("kitten", "pet"), ("puppy", "pet"), ("bird",), ("fruit",))


def test_a_keyword_finds_an_emoji_and_the_picker_shows_it_beside_the_name():
    from dataclasses import replace

    space = replace(SPACE, keywords=KEYWORDS)
    assert space == SPACE  # keywords help a search; they are not part of what a label is
    assert space.search("pet") == [5, 6] and space.search("Pupp") == [6]
    assert space.search("fruit") == [4, 8]  # by name first, then by keyword
    assert space.search("et") == []  # a keyword is found by its start, not by a part inside it
    assert SPACE.search("pet") == []  # without keywords, names only
    shown = dict((value, label) for label, value in space.choices_for("pup"))
    assert shown["dog face (Animals / mammal)"] == "dog face, or puppy (Animals / mammal)"
    assert shown["cat face (Animals / mammal)"] == "cat face (Animals / mammal)"  # no keyword of it starts so
    assert [value for _, value in space.choices_for("pup")] == space.choices()  # the values are the entries
    assert space.choices_for("cat") == [(c, c) for c in space.choices()]  # a name that holds it needs no keyword
    with pytest.raises(LabelError, match="2 keyword lists for 9 classes"):
        replace(SPACE, keywords=((), ()))
    with pytest.raises(LabelError, match="unknown class 'puppy'; did you mean: dog face"):
        space.resolve("puppy")  # the picker's entries are names; a keyword is a hint


def test_a_word_that_is_a_keyword_ranks_before_names_that_only_start_with_it():
    space = LabelSpace(("carrot", "automobile", "card index"), (3,), (-1, -1, -1), ((), ("car", "vehicle"), ()))
    assert space.search("car") == [1, 0, 2] and space.search("veh") == [1]


def test_a_plural_finds_what_its_singular_finds_and_a_whole_word_of_a_name_ranks_before_a_keyword():
    from lego.labels import singular

    space = LabelSpace(("frog", "dog face", "bus", "box", "cherries", "cherry", "automobile", "surface"), (8,),
                       (-1,) * 8, (("face",), (), (), (), (), (), ("car",), ()))
    assert space.search("face") == [1, 0, 7]  # the dog face by a whole word, then the frog's keyword, then inside
    assert space.search("faces") == space.search("face") and space.search("Boxes") == [3]
    assert space.search("cherries") == [4]  # a name that holds the plural itself is found as typed
    assert space.search("bus") == [2] and space.search("buses") == [] and space.search("bu") == [2]
    assert [singular(w) for w in ("puppies", "peaches", "dishes", "cars", "glass", "bus", "gas")] == [
        "puppy", "peach", "dish", "car", "glass", "bus", "gas"]
    shown = dict((value, label) for label, value in space.choices_for(space.search_form("cars")))
    assert shown["automobile"] == "automobile, or car"  # the keyword the singular found


def test_a_misspelt_word_finds_the_name_or_keyword_closest_to_it_and_says_so():
    from dataclasses import replace

    from lego.request import find_class

    space = LabelSpace(("hamburger", "automobile", "Christmas tree"), (3,), (-1,) * 3, ((), ("vehicle",), ()))
    assert space.search("hambuger") == [0] and space.search("chrismas") == [2] and space.search("vehicel") == [1]
    assert space.search("xmas") == [] and space.search("dgo") == []  # not close enough; too short to guess at
    config = ARCHITECTURES["tiny-pg"].with_labels(replace(SPACE, keywords=KEYWORDS))
    found = find_class(config, "kiten")
    assert found.best == "cat face (Animals / mammal)"
    assert found.note == "Nothing here is called 'kiten'; searched for 'kitten'. Found cat face: the picker shows it."
    assert found.choices[0] == ("cat face, or kitten (Animals / mammal)", "cat face (Animals / mammal)")


def test_the_picker_after_a_search_selects_an_emoji_found_and_offers_every_entry_those_found_first():
    from dataclasses import replace

    from lego.request import NO_CLASS, find_class

    config = ARCHITECTURES["tiny-pg"].with_labels(replace(SPACE, keywords=KEYWORDS))
    every = [NO_CLASS, *SPACE.choices()]
    found = find_class(config, " pup ")
    assert found.best == "dog face (Animals / mammal)" and found.note == "Found dog face: the picker shows it."
    assert found.choices[0] == ("dog face, or puppy (Animals / mammal)", "dog face (Animals / mammal)")
    assert sorted(v for _, v in found.choices) == sorted(every)  # whatever is selected while one types stays valid
    two = find_class(config, "pet")
    assert two.best == "cat face (Animals / mammal)"
    assert two.note == ("Found 2: cat face, dog face. The picker shows cat face, with the others at the top of its "
                        "list.")
    # 'Animals' ranks first by name, but a group draws any of its emoji: the emoji found is selected
    some = find_class(config, "a", shown=2)
    assert some.best == "red apple (Food / fruit)" and [v for _, v in some.choices][:2] == [some.best, "Animals"]
    assert some.note.startswith("Found 6: red apple, Animals (a group) and 4 more.")
    assert find_class(config, "Animals").note == "Found Animals (a group): the picker shows it."
    # a group named exactly as typed comes before an emoji that only a keyword finds ('flags' is the category
    # Flags, not the chequered flag), but not before an emoji with the word in its name ('heart' is the red heart)
    assert find_class(config, "birds").best == "bird (Animals)" and find_class(config, "eagle").best.startswith("eagle")
    assert find_class(config, "apple").best == "red apple (Food / fruit)"
    assert find_class(config, "fruit").best == "fruit (Food)"
    none = find_class(config, "zebra")
    assert none.best is None and none.note == "Nothing here is called 'zebra'."
    assert find_class(config, "") == find_class(config, "  ") and find_class(config, "").best is None
    assert find_class(config, "").choices == [(v, v) for v in every]


def test_a_word_that_finds_nothing_or_a_cleared_box_go_back_to_the_entry_from_before_the_search():
    from ui.finder import selection

    value, state = selection("x", "flexed biceps", "pizza", None)  # one letter finds something on the way
    assert value == "flexed biceps" and state == ("pizza", "flexed biceps")
    assert selection("xmas", None, value, state) == ("pizza", ("pizza", "pizza"))  # the whole word finds nothing
    assert selection("", None, "flexed biceps", state) == ("pizza", None)  # cleared: the search is undone
    value, state = selection("pup", "dog face", "pizza", None)
    assert selection("", None, "cat face", state) == ("cat face", None)  # picked by hand since: that stays
    assert selection("zebra", None, "cat face", state) == ("cat face", ("cat face", "cat face"))


def test_a_sub_space_keeps_keywords_and_refuses_a_class_without_its_parent():
    from dataclasses import replace

    space = replace(SPACE, keywords=KEYWORDS)
    sub = space.sub([0, 2, 6])
    assert sub.names == ("Animals", "mammal", "dog face") and sub.sizes == (1, 1, 1) and sub.parents == (-1, 0, 1)
    assert sub.keywords == ((), (), ("puppy", "pet"))
    with pytest.raises(LabelError, match="class 2 is the parent of a class kept"):
        space.sub([0, 6])


def test_typographic_quotes_in_a_name_are_found_by_straight_ones():
    space = LabelSpace.flat(("woman’s hat", "Japanese “here” button"))
    assert space.resolve("Woman's hat") == 0 and space.resolve('japanese "here" button') == 1
    assert space.search("woman's") == [0]


def test_display_order_groups_everything_under_its_category():
    assert [SPACE.names[i] for i in SPACE.in_display_order()] == [
        "Animals", "mammal", "cat face", "dog face", "bird", "eagle", "Food", "fruit", "red apple"]


def test_the_picker_starts_on_one_emoji_not_on_a_category():
    config = ARCHITECTURES["tiny-pg"].with_labels(SPACE)
    picker = class_picker(config)
    assert picker["value"] == "cat face (Animals / mammal)" and picker["choices"][1] == "Animals"
    assert class_picker(ARCHITECTURES["tiny-pg"])["value"] == "0"  # one level: its first class


def test_a_config_may_name_the_class_the_picker_opens_on_and_the_featured_ones_and_a_wrong_one_is_refused():
    from dataclasses import replace

    config = replace(ARCHITECTURES["tiny-pg"].with_labels(SPACE), default_class="red apple",
                     featured_classes=("cat face", "eagle"))
    assert class_picker(config)["value"] == "red apple (Food / fruit)"
    assert LegoConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError, match="default_class: unknown class 'zebra'"):
        replace(config, default_class="zebra")
    with pytest.raises(ConfigError, match="featured_classes: unknown class 'zebra'"):
        replace(config, featured_classes=("cat face", "zebra"))
    fewer = LabelSpace(names=("Animals", "mammal", "cat face"), sizes=(1, 1, 1), parents=(-1, 0, 1))
    narrowed = config.with_labels(fewer)  # a class the new labels lack is dropped
    assert (narrowed.default_class, narrowed.featured_classes) == ("", ("cat face",))
    assert config.with_labels(SPACE) == config


def test_a_model_of_categories_only_points_to_the_shipped_one_with_finer_labels():
    from lego.checkpoint import ALL_EMOJI_CHECKPOINT, DEFAULT_CHECKPOINT, read_config
    from lego.serving import class_picker_for

    hint = "For pictures you can name, load lego-emoji-s-48 in the Model tab."
    assert class_picker_for(read_config(ALL_EMOJI_CHECKPOINT))["info"].endswith(hint)
    finer = class_picker_for(read_config(DEFAULT_CHECKPOINT))
    assert "Model tab" not in finer["info"] and finer["value"] == "hamburger (Food & Drink / food-prepared)"
    assert "Model tab" not in class_picker_for(ARCHITECTURES["tiny-pg"].with_labels(SPACE))["info"]


def test_config_round_trip_and_validation():
    config = ARCHITECTURES["tiny-pg"].with_labels(SPACE)
    assert LegoConfig.from_dict(config.to_dict()) == config
    assert config.label_space() == SPACE
    with pytest.raises(ConfigError, match="label levels"):
        LegoConfig.from_dict({**config.to_dict(), "label_levels": [2, 3, 3]})


@pytest.mark.parametrize("guidance", [1.0, 2.5])
@pytest.mark.parametrize("label", [5, 3, 1, (5,), (0, 7), None])
def test_every_level_and_none_gives_a_valid_sample(label, guidance):
    torch.manual_seed(0)
    model = LegoModel(ARCHITECTURES["tiny-pg"].with_labels(SPACE)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    result = sample(model, [1, 2], [label, label], SamplerSettings(steps=3, guidance=guidance))
    assert result.images.shape == (2, 3, 16, 16) and torch.isfinite(result.images).all()
    assert result.guided == (guidance != 1.0 and label is not None)
    if label is not None:  # the label reaches the network: another label gives another picture
        other = sample(model, [1, 2], [None, None], SamplerSettings(steps=3, guidance=guidance))
        assert not torch.equal(result.images, other.images)


def test_the_embedding_of_a_label_row_is_the_sum_of_its_classes():
    model = LegoModel(ARCHITECTURES["tiny-pg"].with_labels(SPACE))
    with torch.no_grad():
        model.y_embedder.embedding_table.weight.normal_()
    emb = model.y_embedder
    bias = emb(torch.tensor([[-1, -1, -1]]))
    parts = [emb(torch.tensor([[i, -1, -1] if i < 2 else [-1, i, -1] if i < 5 else [-1, -1, i]])) - bias
             for i in (0, 2, 5)]
    assert torch.allclose(emb(torch.tensor([[0, 2, 5]])), bias + sum(parts), atol=1e-6)
    assert torch.allclose(emb(torch.tensor([3])), emb(torch.tensor([[-1, 3, -1]])))


def test_a_coarser_class_draws_one_of_its_emoji_picked_by_the_seed():
    assert {SPACE.draw(5, seed) for seed in range(20)} == {5}  # an emoji draws itself
    assert {SPACE.draw(2, seed) for seed in range(40)} == {5, 6}  # "mammal": a cat or a dog
    assert {SPACE.draw(0, seed) for seed in range(40)} == {5, 6, 7}  # "Animals": any animal, never the apple
    assert [SPACE.draw(0, seed) for seed in range(12)] == [SPACE.draw(0, seed) for seed in range(12)]
    assert LabelSpace.flat(["a", "b"]).draw(1, 3) == 1  # one level: nothing finer to draw
    assert SPACE.describe_drawn(1, 0) == "red apple, one of Food"
    assert SPACE.describe_drawn(8, 0) == "red apple (Food / fruit)"


def test_a_category_request_draws_the_pictures_of_the_emoji_it_names():
    from lego.estimate import estimate
    from lego.request import parse_request
    from lego.runs import run_to_end
    from lego.schedule import BrickSchedule

    config = ARCHITECTURES["tiny-pg"].with_labels(SPACE)
    torch.manual_seed(0)
    model = LegoModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)

    def pictures(draw: str, seed: int, images: int):
        req = parse_request(config, draw, seed, 2, 2.0, "heun", images, 16, 16, BrickSchedule.all_on(3))
        return req, run_to_end(model, req, estimate(config, req, 1.0), "fp32").images

    req, images = pictures("Animals", 7, 4)
    assert req.drawn(config) == [SPACE.names[SPACE.draw(0, seed)] for seed in range(7, 11)]
    assert len(set(req.drawn(config))) > 1 and req.to_dict(config)["drawn"] == req.drawn(config)
    for k, name in enumerate(req.drawn(config)):
        assert (images[k] == pictures(name, 7 + k, 1)[1][0]).all()
    assert pictures("cat face", 7, 1)[0].drawn(config) is None  # an emoji is drawn as itself: nothing to say


def test_the_lesson_on_a_category_names_the_emoji_its_picture_shows():
    from lego.lesson import run_lesson
    from lego.serving import Served

    model = LegoModel(ARCHITECTURES["tiny-pg"].with_labels(SPACE)).eval()
    lesson = run_lesson(Served.of("tiny", model, "fp32", batching="off"), 0, 4)
    assert lesson.category == f"{SPACE.names[SPACE.draw(0, 4)]}, one of Animals"


def test_the_shipped_model_knows_its_emojis_keywords():
    from lego.checkpoint import DEFAULT_CHECKPOINT, read_config

    space = read_config(DEFAULT_CHECKPOINT).label_space()
    with pytest.raises(LabelError, match=r"unknown class 'car'; did you mean: automobile \(Travel & Places"):
        space.resolve("car")
    assert [space.names[i] for i in space.search("poop")] == ["pile of poo"]
    assert [space.names[i] for i in space.search("Dogs")] == ["dog face"]


def test_a_name_on_two_levels_is_the_finer_class():
    space = LabelSpace(("Travel & Places", "hotel", "hotel"), (1, 1, 1), (-1, 0, 1))
    assert space.resolve("Hotel") == 2 and space.resolve(" hotel ") == 2  # the emoji, not its sub-category
    assert space.resolve(space.describe(1)) == 1 and space.describe(1) == "hotel (Travel & Places)"
    assert space.resolve("HOTEL (travel & places)") == 1  # an entry in any case, as a name is
    for index in ("-1", "3"):
        with pytest.raises(LabelError, match=f"class {index} is out of range: an index is 0..2"):
            space.resolve(index)


def test_a_refusal_repeats_a_long_value_cut_short():
    """A link or an API call can send kilobytes: the message quotes the start of it, once."""
    space = LabelSpace(("Travel & Places", "hotel", "hotel"), (1, 1, 1), (-1, 0, 1))
    for text in ("a" * 3000, "9" * 5000):  # Python refuses to read 5,000 digits as a number: still a refusal
        with pytest.raises(LabelError) as refusal:
            space.resolve(text)
        assert len(str(refusal.value)) < 200 and "..." in str(refusal.value)
