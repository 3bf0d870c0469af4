"""The class picker of a model labelled at three levels, through the real app: the API and a real browser."""

import json

import pytest
from gradio_client import Client
from playwright.sync_api import sync_playwright

from conftest import CHROMIUM, CHROMIUM_ARGS, emoji_levels_model, generate_args, launched_app, needs_chromium

CAT = "cat face (Animals & Nature / animal-mammal)"


@pytest.fixture(scope="module")
def served():
    with launched_app(emoji_levels_model()) as (model, url):
        client = Client(url, verbose=False)
        yield model, client, url
        client.close()


def report_of(outputs) -> dict:
    files = outputs[5]
    return json.loads(open([f for f in files if f.endswith(".json")][0]).read())


@pytest.mark.parametrize("choice, expected", [
    (CAT, CAT),
    ("animal-mammal (Animals & Nature)", "animal-mammal (Animals & Nature)"),
    ("Animals & Nature", "Animals & Nature"),
    ("none (unconditional)", None),
    ("Cat Face", CAT),  # a class by its plain name, as the command line takes it
])
def test_every_level_and_none_generate_through_the_api(served, choice, expected):
    model, client, _ = served
    outputs = client.predict(*generate_args(category=choice, steps=2, previews=False), api_name="/generate")
    request = report_of(outputs)["request"]
    assert request["class"] == expected
    if choice in (CAT, "Cat Face", "none (unconditional)"):
        assert request["drawn"] is None
        shows = "" if expected is None else "cat face, "
        assert outputs[0][0]["caption"] == f"{shows}seed {request['seed']}"  # every picture says what it shows
    else:  # a coarser class draws one of its emoji, named in the report and the picture's caption
        space = model.config.label_space()
        (drawn,) = request["drawn"]
        index = space.resolve(drawn)
        assert space.level_of(index) == 2 and space.resolve(choice) in space.chain(index)
        assert outputs[0][0]["caption"].startswith(f"{drawn}, seed ")


def test_api_refuses_a_class_the_model_does_not_have(served):
    from gradio_client.exceptions import AppError

    _, client, _ = served
    with pytest.raises(AppError) as refused:  # in one line, with the nearest names, not every entry of the picker
        client.predict(*generate_args(category="cat fac", steps=2, previews=False), api_name="/generate")
    assert str(refused.value) == "unknown class 'cat fac'; did you mean: cat face (Animals & Nature / animal-mammal)?"


def test_the_picker_hands_the_request_any_text_to_resolve():
    from ui.class_picker import ClassPicker

    picker = ClassPicker(choices=["none (unconditional)", "Flags"], value="Flags")
    assert picker.preprocess("Cat Face") == "Cat Face" and picker.preprocess(3) == "3"  # an index, as the CLI takes
    assert picker.preprocess(None) is None and picker.get_block_name() == "dropdown"


def test_typing_part_of_a_name_finds_the_emoji_and_generates_it(served, tmp_path):
    _, _, url = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(url)
        page.wait_for_selector("#generate", timeout=30_000)
        picker = page.get_by_label("What to draw")
        picker.click()
        picker.fill("")  # the box holds the current choice; a child clears it and types
        picker.press_sequentially("cat", delay=30)
        options = page.get_by_role("option")
        page.wait_for_function("document.querySelectorAll('[role=option]').length == 2", timeout=10_000)
        assert sorted(options.all_inner_texts()) == ["black cat (Animals & Nature / animal-mammal)", CAT]
        page.get_by_role("option", name=CAT).click()
        page.click("#generate")
        page.wait_for_selector("#gallery img", timeout=60_000)
        page.wait_for_function("document.querySelector('#status').innerText.includes('seed')", timeout=30_000)
        assert picker.input_value() == CAT
        page.screenshot(path=str(tmp_path / "picker.png"))
        browser.close()


@needs_chromium
def test_a_word_finds_the_emoji_it_names_and_the_picker_selects_it(served, tmp_path, monkeypatch, capfd):
    from conftest import randomized
    from lego.checkpoint import save_checkpoint

    _, _, url = served
    monkeypatch.setenv("LEGO_CHECKPOINT_DIRS", str(tmp_path))
    save_checkpoint(randomized("tiny-emoji", seed=1), tmp_path / "categories")  # 9 classes, no keywords
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("#generate", timeout=30_000)
        picker, finder = page.get_by_label("What to draw"), page.get_by_label("Or find it by a word").first

        def find(word: str, says: str) -> None:
            finder.fill("")
            finder.press_sequentially(word, delay=30)
            page.wait_for_function(f"document.body.innerText.includes({says!r})", timeout=10_000)
            page.wait_for_timeout(300)  # the picker's update comes with the line

        find("pupp", "Found dog face: the picker shows it.")  # no name holds it: dog face's keyword 'puppy' does
        assert picker.input_value() == "dog face, or puppy (Animals & Nature / animal-mammal)"
        find("pet", "Found 2: cat face, dog face.")  # two share it: the first selected, both say why they were found
        assert picker.input_value() == "cat face, or pet (Animals & Nature / animal-mammal)"
        picker.click()
        options = page.get_by_role("option").all_inner_texts()
        assert len(options) == 20 and options[1] == "dog face, or pet (Animals & Nature / animal-mammal)"  # at the top
        page.get_by_role("option", name="dog face, or pet (Animals & Nature / animal-mammal)").click()
        find("zebra", "Nothing here is called 'zebra'. The picker shows dog face, as before the search.")
        assert picker.input_value() == "dog face (Animals & Nature / animal-mammal)"  # not what 'z' or 'e' found
        finder.fill("")
        page.wait_for_function("document.body.innerText.includes('Type a word such as car or puppy')", timeout=10_000)
        assert picker.input_value() == "dog face (Animals & Nature / animal-mammal)"  # picked by hand: it stays
        page.click("#generate")
        page.wait_for_function("document.querySelector('#gallery').innerText.includes('dog face, seed')",
                               timeout=60_000)
        assert not errors and page.locator(".toast-body.error").count() == 0
        # a word still in the box, then another model whose picker has no dog face and no keywords: the box
        # empties and hides, and its search never sends the old model's entry (which the new picker would refuse)
        find("pupp", "Found dog face: the picker shows it.")
        page.get_by_role("tab", name="Model").click()
        source = page.get_by_label("Checkpoint: a bundled one, a directory or a Hub repo id")
        source.fill(str(tmp_path / "categories"))
        source.press("Enter")
        page.get_by_role("button", name="Load").click()
        page.wait_for_function("document.querySelector('#model-info').innerText.includes('categories')",
                               timeout=30_000)
        page.get_by_role("tab", name="Generate").click()
        page.wait_for_timeout(1000)  # any event the switch set off has answered
        assert not finder.is_visible()
        assert picker.input_value() == "Smileys & Emotion"
        assert not errors and page.locator(".toast-body.error").count() == 0
        assert "Traceback" not in capfd.readouterr().err  # a refused event is logged on the server, not toasted
        browser.close()
