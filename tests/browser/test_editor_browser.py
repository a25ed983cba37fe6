"""A researcher corrects an alignment in the result editor, in Chromium under the Content-Security-Policy: listens
to a word, drags its boundary, undoes and redoes it, saves, downloads the corrected TextGrid; a second tab's save
on the old version is refused. The run is built finished, without services (tests/test_editor.py)."""

from pathlib import Path

import pytest
from django.urls import reverse
from praatio import textgrid

from tests.browser.test_csp_browser import log_in
from tests.test_editor import edited_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRAG = 20  # pixels: inside the phone after the edge (AH, 0.4504–0.5 s), which limits the drag


def boundary(page, tier, time):
    return page.locator(f'.editor-tier[data-tier="{tier}"] .editor-boundary[data-time="{time}"]')


def test_a_researcher_moves_a_word_boundary_saves_and_downloads_the_correction(page, live_server, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    log_in(page, live_server, "alice")
    page.goto(live_server.url + reverse("pipelines-run", args=[project.pk, run.pk]))
    page.locator("#outcomes tr", has_text="a.wav").get_by_role("link", name="Correct").click()
    editor_url = page.url
    other_tab = page.context.new_page()  # opened on version 0, saved after this one: refused
    other_tab.goto(editor_url)

    # Listen to a word: the audio element plays it.
    page.evaluate("() => { window.playing = new Promise((resolve) => document.getElementById('editor-audio')"
                  ".addEventListener('playing', () => resolve(true), {once: true})); }")
    page.locator('.editor-tier[data-tier="words"] .editor-interval', has_text="ten").click()
    # (page.wait_for_function would evaluate a string, which the Content-Security-Policy forbids)
    assert page.evaluate("() => Promise.race([window.playing, new Promise((resolve) => setTimeout(resolve, 10000, false))])")

    # A click on the waveform while it plays stops it there, as in Praat (playing on, the play head moved away before
    # Enter could split where the researcher had clicked).
    page.evaluate("() => { const audio = document.getElementById('editor-audio'); audio.pause(); audio.currentTime = 0; "
                  "window.playing = new Promise((resolve) => audio.addEventListener('playing', () => resolve(true), "
                  "{once: true})); }")
    page.locator('#editor-toolbar [data-action="play"]').click()
    assert page.evaluate("() => Promise.race([window.playing, new Promise((resolve) => setTimeout(resolve, 10000, false))])")
    wave = page.locator("#editor-waveform").bounding_box()
    page.mouse.click(wave["x"] + wave["width"] * 0.75, wave["y"] + wave["height"] / 2)
    head = page.evaluate("() => new Promise((resolve) => { const audio = document.getElementById('editor-audio'); "
                         "const first = audio.currentTime; setTimeout(() => resolve([audio.paused, first, "
                         "audio.currentTime]), 300); })")
    assert head[0] and head[1] == head[2] and head[1] > 0.5, head

    # Drag the boundary between "ten" and "of" (0.4504 s) to the right; the phone edge under it follows.
    edge = boundary(page, "words", "0.450").bounding_box()
    width = page.locator("#editor-tiers-inner").bounding_box()["width"]
    x, y = edge["x"] + edge["width"] / 2, edge["y"] + edge["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + DRAG / 2, y, steps=3)
    page.mouse.move(x + DRAG, y, steps=3)
    page.mouse.up()
    expected = 0.4504 + DRAG * 1.5 / width  # the tiers span the 1.5 s of the result
    moved = f"{expected:.3f}"
    tolerance = 1.5 / width  # a pixel
    moved_edge = page.locator('.editor-tier[data-tier="words"] .editor-boundary').nth(1)
    assert abs(float(moved_edge.get_attribute("data-time")) - expected) <= tolerance
    phone_times = [float(t) for t in page.locator('.editor-tier[data-tier="phones"] .editor-boundary')
                   .evaluate_all("edges => edges.map(e => e.dataset.time)")]
    assert float(moved_edge.get_attribute("data-time")) in phone_times

    # Undo puts it back, redo moves it again.
    page.keyboard.press("Control+z")
    assert boundary(page, "words", "0.450").count() == 1
    page.keyboard.press("Control+y")
    assert boundary(page, "words", "0.450").count() == 0
    assert abs(float(moved_edge.get_attribute("data-time")) - float(moved)) <= tolerance

    # The keys: → selects the next word, Tab plays from it, as in Praat.
    page.keyboard.press("ArrowRight")
    assert page.get_by_label("Label of the selected interval").input_value() == "of"
    page.evaluate("() => { const audio = document.getElementById('editor-audio'); audio.pause(); window.playing = "
                  "new Promise((resolve) => audio.addEventListener('playing', () => resolve(true), {once: true})); }")
    page.keyboard.press("Tab")
    assert page.evaluate("() => Promise.race([window.playing, new Promise((resolve) => setTimeout(resolve, 10000, false))])")
    page.keyboard.press("Tab")

    page.get_by_role("button", name="Save as a new version").click()
    page.get_by_text("Saved as version 1.").wait_for()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the latest TextGrid").click()
    grid = textgrid.openTextgrid(str(Path(download.value.path())), includeEmptyIntervals=False)
    ten = grid.getTier("words").entries[0]
    assert ten.label == "ten" and abs(ten.end - expected) <= tolerance
    assert abs(grid.getTier("phones").entries[2].end - ten.end) < 1e-9  # "N", the word's last phone

    # Merge two phones of a word; split a phone at the play head, but not a word inside a phone.
    def interval(tier, label):
        return other_tab.locator(f'.editor-tier[data-tier="{tier}"] .editor-interval', has_text=label)

    label = other_tab.get_by_label("Label of the selected interval")
    interval("phones", "EH").click()
    other_tab.get_by_role("button", name="Merge with next").click()
    assert label.input_value() == "EHN" and interval("phones", "EHN").count() == 1
    play_head_at_095 = ("() => { const audio = document.getElementById('editor-audio'); audio.pause(); "
                        "audio.currentTime = 0.95; }")  # inside the phone L of "clubs" (a click plays what it selects)
    interval("words", "clubs").click()
    other_tab.evaluate(play_head_at_095)
    other_tab.keyboard.press("Enter")
    other_tab.get_by_text("A word is split between its phones: put the play head on a phone boundary first.").wait_for()
    phones = other_tab.locator('.editor-tier[data-tier="phones"] .editor-interval')
    before = phones.count()
    interval("phones", "L").click()
    other_tab.evaluate(play_head_at_095)
    other_tab.keyboard.press("Enter")
    assert phones.count() == before + 1
    assert boundary(other_tab, "phones", "0.950").count() == 1

    # The other tab still edits version 0: its save is refused, and says why.
    other_tab.locator('.editor-tier[data-tier="words"] .editor-interval', has_text="of").click()
    other_tab.get_by_label("Label of the selected interval").fill("off")
    other_tab.get_by_label("Label of the selected interval").press("Enter")
    other_tab.get_by_role("button", name="Save as a new version").click()
    other_tab.get_by_text("changed in another tab or by someone else").wait_for()
    assert run.versions.count() == 1


# The line of the detail canvas (over wavesurfer's, in its shadow root) crossing the middle, counted column by column:
# a 100 Hz sine seen 50 ms wide crosses it about ten times; the outline's columns (10 ms, a period each) draw one
# solid block, which never does.
MIDDLE_CROSSINGS = """() => new Promise((resolve) => {
  const started = Date.now();
  (function look() {
    const canvas = document.querySelector("#editor-waveform > div").shadowRoot.querySelector("canvas.editor-detail");
    let crossings = 0;
    if (canvas && canvas.style.display !== "none" && canvas.width) {
      const {width, height} = canvas, pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
      let side = 0;
      for (let x = 0; x < width; x++) {
        for (let y = 0; y < height; y++) {
          const at = (y * width + x) * 4;
          if (pixels[at + 2] > 150 && pixels[at] < 100) {  // the waveform's blue
            const now = y < height / 2 ? 1 : -1;
            if (side && now !== side) crossings++;
            side = now;
            break;
          }
        }
      }
    }
    if (crossings >= 6 || Date.now() - started > 10000) resolve(crossings); else setTimeout(look, 100);
  })();
})"""


def test_zoomed_in_the_periods_show_a_short_phone_takes_a_click_points_show_and_an_older_version_opens_read_only(
        page, live_server, alice, tmp_path):
    from pipelines import versions
    from tests.test_editor import moved, sine_run, tiers_of, with_points

    project, run = sine_run(alice, tmp_path, seconds=1.5)
    with_points(run)
    # Version 1: the phone AH of "of" made 5 ms long, narrower at the first zoom than the boundary handles around it.
    assert versions.save(run, "a.TextGrid", alice, 0, moved(tiers_of(run), 0.5, 0.4554), 1.5) == 1
    log_in(page, live_server, "alice")
    editor = live_server.url + reverse("pipelines-edit-result", args=[project.pk, run.pk, "a.TextGrid"])
    page.goto(editor)

    assert page.locator('.editor-tier[data-tier="events"] .editor-point').all_inner_texts() == ["click", "cough"]
    short = page.locator('.editor-tier[data-tier="phones"] .editor-interval[title^="AH 0.450"]').bounding_box()
    assert short["width"] < 7  # a boundary's handle is 7 pixels wide: the handles cover it
    page.mouse.click(short["x"] + short["width"] / 2, short["y"] + short["height"] / 2)
    assert page.get_by_label("Label of the selected interval").input_value() == "AH"

    for _ in range(5):  # about 50 ms across the page
        page.keyboard.press("Control+i")
    assert page.evaluate(MIDDLE_CROSSINGS) >= 6

    # Version 0, read-only; a new version from it is saved after the latest. The line under the title says all along
    # which version is shown, whether it can be changed, and whether changes are unsaved.
    state = page.locator("#editor-state")
    page.goto(editor + "?version=0")
    page.get_by_text("This is version 0, an older one").wait_for()
    assert state.inner_text() == "viewing version 0, read-only (the automatic alignment)"
    assert not page.get_by_role("button", name="Save as a new version").is_visible()
    page.locator('.editor-tier[data-tier="words"] .editor-interval', has_text="ten").click()
    assert page.get_by_label("Label of the selected interval").is_disabled()
    page.get_by_role("button", name="Start a new version from this one").click()
    assert state.inner_text() == "editing a new version made from version 0, not saved yet: saving makes it version 2"
    page.get_by_label("Label of the selected interval").fill("tin")
    page.get_by_label("Label of the selected interval").press("Enter")
    assert state.inner_text() == ("editing a new version made from version 0, with unsaved changes: saving makes it "
                                  "version 2")
    page.get_by_role("button", name="Save as a new version").click()
    page.get_by_text("Saved as version 2.").wait_for()
    assert state.inner_text() == "editing version 2 (saved by you just now)"
    assert page.url == editor  # a reload shows version 2, not version 0 read-only
    page.keyboard.press("Control+z")
    assert state.inner_text() == ("editing version 2 (saved by you just now), with unsaved changes: saving makes them "
                                  "version 3")
    page.keyboard.press("Control+y")  # back to what was saved
    assert state.inner_text() == "editing version 2 (saved by you just now)"
    page.reload()
    assert state.inner_text().startswith("editing version 2 (saved by alice, ")
    phones = [(round(i["start"], 4), i["label"]) for i in tiers_of(run)[1]["intervals"]]
    assert (0.4504, "AH") in phones and (0.5, "V") in phones  # version 0's, not version 1's 0.4554
    assert [i["label"] for i in tiers_of(run)[0]["intervals"]][1] == "tin"


@pytest.mark.parametrize("width, height", [(1280, 800), (1920, 1080)])
def test_the_label_box_shows_its_whole_placeholder_and_keeps_its_place_when_an_interval_is_selected(
        page, live_server, alice, tmp_path, width, height):
    project, run = edited_run(alice, tmp_path)
    log_in(page, live_server, "alice")
    page.set_viewport_size({"width": width, "height": height})
    page.goto(live_server.url + reverse("pipelines-edit-result", args=[project.pk, run.pk, "a.TextGrid"]))
    label = page.get_by_label("Label of the selected interval")
    text, room = page.evaluate("""() => {
      const box = document.getElementById("editor-label"), style = getComputedStyle(box);
      const context = document.createElement("canvas").getContext("2d");
      context.font = style.font;
      return [context.measureText(box.placeholder).width,
              box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)];
    }""")
    assert text <= room, (text, room)
    places = [page.locator(f"#editor-toolbar {selector}").bounding_box()
              for selector in ("#editor-label", '[data-action="save"]')]
    page.locator('.editor-tier[data-tier="words"] .editor-interval', has_text="clubs").click()
    label.fill("a label much longer than the box, as a researcher's note on an utterance might be ÄÖÜ ŋ ə ʃ")
    assert [page.locator(f"#editor-toolbar {selector}").bounding_box()
            for selector in ("#editor-label", '[data-action="save"]')] == places


# The view (in seconds), the play head and whether the recording plays.
VIEW = """() => {
  const scroll = document.querySelector("#editor-waveform > div").shadowRoot.querySelector(".scroll");
  const audio = document.getElementById("editor-audio"), duration = JSON.parse(
    document.getElementById("editor-data").textContent).duration;
  return {start: scroll.scrollLeft / scroll.scrollWidth * duration,
          end: (scroll.scrollLeft + scroll.clientWidth) / scroll.scrollWidth * duration,
          head: audio.currentTime, playing: !audio.paused};
}"""
PLAYING = ("() => new Promise((resolve) => { const audio = document.getElementById('editor-audio'); "
           "if (!audio.paused) resolve(true); audio.addEventListener('playing', () => resolve(true), {once: true}); "
           "setTimeout(resolve, 10000, false); })")

STOPPED = ("() => new Promise((resolve) => { const audio = document.getElementById('editor-audio'); "
           "if (audio.paused) resolve(true); audio.addEventListener('pause', () => resolve(true), {once: true}); "
           "setTimeout(resolve, 10000, false); })")


def test_while_it_plays_a_zoom_and_the_keys_act_on_what_the_researcher_selected_not_on_the_play_head(
        page, live_server, alice, tmp_path):
    from tests.test_editor import sine_run

    project, run = sine_run(alice, tmp_path, seconds=60)  # opens zoomed in (100 pixels a second): it scrolls
    log_in(page, live_server, "alice")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + reverse("pipelines-edit-result", args=[project.pk, run.pk, "a.TextGrid"]))
    of = page.locator('.editor-tier[data-tier="words"] .editor-interval', has_text="of")  # 0.4504–0.6 s
    of.click()  # plays the word, to its end
    assert page.evaluate(PLAYING)
    assert page.evaluate(STOPPED)
    # Playing on from 8 s, seen on the screen (0–11 s) away from the word selected.
    page.evaluate("() => { const audio = document.getElementById('editor-audio'); audio.currentTime = 8; audio.play(); }")
    assert page.evaluate(PLAYING)
    before = of.bounding_box()

    # A zoom keeps the selected word where it is on the screen (it kept the play head there).
    page.keyboard.press("Control+i")
    after = of.bounding_box()
    assert abs((after["x"] + after["width"] / 2) - (before["x"] + before["width"] / 2)) < 2, (before, after)
    assert after["width"] > before["width"] * 1.9
    view = page.evaluate(VIEW)
    assert view["playing"] and view["head"] > 8, view

    # Ctrl+N zooms to the word, and the view stays there while the recording plays on (it jumped to the play head).
    page.keyboard.press("Control+n")
    page.wait_for_timeout(700)
    view = page.evaluate(VIEW)
    assert view["playing"] and abs(view["start"] - 0.4504) < 1e-3 and abs(view["end"] - 0.6) < 1e-3, view

    # The label of a word longer than the view stays on the screen, though its middle is off it.
    page.keyboard.press("Control+i")
    box = page.locator("#editor-tiers").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -700)  # the word's middle from the middle of the view to 140 pixels past its right edge
    label = page.locator('.editor-tier[data-tier="words"] .editor-interval', has_text="of").locator("span").bounding_box()
    tiers = page.locator("#editor-tiers").bounding_box()
    assert tiers["x"] <= label["x"] and label["x"] + label["width"] <= tiers["x"] + tiers["width"], (label, tiers)
    page.get_by_role("button", name="Zoom to interval").click()  # as N, while it plays on

    # → stops playing, as a click does, and selects the next interval (the pause after "of"), the play head at its start,
    # on the screen.
    page.keyboard.press("ArrowRight")
    view = page.evaluate(VIEW)
    selected = page.locator(".editor-interval.selected")
    start = float(selected.get_attribute("title").split()[0].split("–")[0])
    assert not view["playing"] and abs(view["head"] - start) < 1e-3 and start > 0.59, (view, start)
    assert view["start"] <= start < view["end"]
    assert page.get_by_label("Label of the selected interval").input_value() == ""

    # Played again (Tab), the view turns a page when the play head leaves it, as ELAN's does.
    page.keyboard.press("Tab")
    assert page.evaluate(PLAYING)
    page.evaluate("() => new Promise((resolve) => { const audio = document.getElementById('editor-audio'); "
                  f"(function look() {{ if (audio.currentTime > {start + 0.6} || audio.paused) resolve(); "
                  "else setTimeout(look, 50); })(); })")
    view = page.evaluate(VIEW)
    # The view (0.15 s wide) has moved on with the head (read a frame or more after the page last turned).
    assert view["playing"] and view["start"] > start + 0.3 and view["start"] <= view["head"] <= view["end"] + 0.15, view
    page.keyboard.press("Tab")
    assert not page.evaluate(VIEW)["playing"]


# An odd result: a 2-second recording with a name in another script, a 2-ms word and phone, words in other scripts and
# an empty interval at each end.
ODD_WORDS = [(0.3, 0.302, "ŋ"), (0.302, 0.9, "naïve"), (0.9, 1.2, "مرحبا"), (1.2, 1.203, "x")]
ODD_PHONES = [(0.3, 0.302, "ŋ"), (0.302, 0.5, "n"), (0.5, 0.9, "aɪ"), (0.9, 1.2, "m"), (1.2, 1.203, "x")]


def odd_run(owner, seconds=2.0):
    import tempfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    from clamservices.aligner import Alignment, Interval
    from clamservices.textgrids import write_textgrid
    from pipelines.models import Run
    from tests.factories import make_project, wav_bytes
    from tests.test_outcomes import fa_process
    from upload.services import Upload

    project = make_project(owner)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("Ďas (1).wav", wav_bytes(seconds=seconds)))
    upload.add(SimpleUploadedFile("Ďas (1).txt", "naïve".encode()))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "g.TextGrid"
        write_textgrid(path, Alignment([Interval(*w) for w in ODD_WORDS], [Interval(*p) for p in ODD_PHONES]), seconds)
        text = path.read_text(encoding="utf-8")
    process = fa_process(project, ["Ďas (1)"], {"Ďas (1).TextGrid": text})
    return project, Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.DONE,
                                       fa_process=process)


def test_an_odd_result_a_2_ms_word_other_scripts_and_a_message_that_moves_nothing(page, live_server, alice, tmp_path):
    project, run = odd_run(alice)
    log_in(page, live_server, "alice")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + reverse("pipelines-edit-result", args=[project.pk, run.pk, "Ďas (1).TextGrid"]))
    label = page.get_by_label("Label of the selected interval")

    # The boundary after the 2-ms word, dragged towards it, stays: the word keeps its 2 ms (it jumped 3 ms the other
    # way, to leave 5 ms); dragged away, it follows the pointer.
    def drag(time, pixels):
        box = boundary(page, "words", time).bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + pixels / 2, y, steps=3)
        page.mouse.move(x + pixels, y, steps=3)
        page.mouse.up()

    drag("0.302", -30)
    assert boundary(page, "words", "0.302").count() == 1 and boundary(page, "phones", "0.302").count() == 1
    assert boundary(page, "words", "0.300").count() == 1
    assert "with unsaved changes" not in page.locator("#editor-state").inner_text()
    width = page.locator("#editor-tiers-inner").bounding_box()["width"]
    drag("0.302", 10)
    moved = 0.302 + 10 * 2.0 / width
    assert abs(float(page.locator('.editor-tier[data-tier="words"] .editor-boundary').nth(1).get_attribute("data-time"))
               - moved) <= 2.0 / width
    assert "with unsaved changes" in page.locator("#editor-state").inner_text()
    page.keyboard.press("Control+z")  # back to what was opened
    assert page.locator("#editor-state").inner_text() == "editing version 0 (the automatic alignment)"
    page.keyboard.press("Control+y")
    assert "with unsaved changes" in page.locator("#editor-state").inner_text()

    # A refusal's message appears above the waveform without moving it or the tiers.
    waveform, tiers = page.locator("#editor-waveform").bounding_box(), page.locator("#editor-tiers").bounding_box()
    page.keyboard.press("Control+a")
    page.locator('.editor-tier[data-tier="words"] .editor-interval').last.click()
    page.keyboard.press("Delete")
    page.get_by_text("The last interval has no next one to merge with.").wait_for()
    assert page.locator("#editor-waveform").bounding_box() == waveform
    assert page.locator("#editor-tiers").bounding_box() == tiers

    # Words in other scripts are selected with the keys, relabelled and saved as they are.
    page.locator('.editor-tier[data-tier="words"] .editor-interval', has_text="naïve").click()
    page.keyboard.press("ArrowRight")
    assert label.input_value() == "مرحبا"
    label.fill("مرحبا ‏بكم 北京")
    label.press("Enter")  # applied, and the keys are the page's again
    page.keyboard.press("ArrowRight")
    assert label.input_value() == "x"
    label.click()
    label.fill("y")
    label.press("Escape")  # left as it was
    assert label.input_value() == "x"
    label.click()
    label.press("Control+s")  # saved from the box, as from the page
    page.get_by_text("Saved as version 1.").wait_for()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the latest TextGrid").click()
    grid = textgrid.openTextgrid(str(Path(download.value.path())), includeEmptyIntervals=False)
    assert [e.label for e in grid.getTier("words").entries] == ["ŋ", "naïve", "مرحبا ‏بكم 北京", "x"]
    assert abs(grid.getTier("words").entries[0].end - moved) <= 2.0 / width
    assert abs(grid.getTier("words").entries[3].end - grid.getTier("words").entries[3].start - 0.003) < 1e-6


def test_a_40_minute_recording_zooms_in_to_the_browsers_limit_and_says_so(page, live_server, alice, tmp_path):
    import numpy as np
    import soundfile

    project, run = edited_run(alice, tmp_path)
    rate, period = 8000, np.arange(8000 * 60) / 8000
    with soundfile.SoundFile(project.files.get(name="a.wav").file.path, "w", rate, 1, "PCM_16") as out:
        for _ in range(40):  # a 100 Hz sine, a minute at a time
            out.write((0.5 * np.sin(2 * np.pi * 100 * period)).astype(np.float32))
    log_in(page, live_server, "alice")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + reverse("pipelines-edit-result", args=[project.pk, run.pk, "a.TextGrid"]))
    of = page.locator('.editor-tier[data-tier="words"] .editor-interval', has_text="of")  # 0.4504–0.6 s
    of.click()
    limit = page.get_by_text("The browser cannot make the waveform of a recording this long any wider: this is as far "
                             "as it zooms in.")
    presses = 0
    while not limit.is_visible() and presses < 12:
        page.keyboard.press("Control+i")  # each keeps the word's middle (0.525 s) where it is on the screen
        presses += 1
    assert limit.is_visible() and presses >= 8
    # Chromium's widest element: 33 554 428 pixels, 0.08 s across the screen here (Praat: 0.05 s).
    view = page.evaluate(VIEW)
    assert 0.07 < view["end"] - view["start"] < 0.09 and view["start"] < 0.525 < view["end"], view
    assert page.evaluate(MIDDLE_CROSSINGS) >= 6  # the periods, from the server's detail
    # N: the word fills the screen (22 million pixels wide), its edges under their times on the waveform.
    page.keyboard.press("n")
    view = page.evaluate(VIEW)
    box, tiers = of.bounding_box(), page.locator("#editor-tiers").bounding_box()
    for time, x in ((0.4504, box["x"]), (0.6, box["x"] + box["width"])):
        expected = tiers["x"] + (time - view["start"]) / (view["end"] - view["start"]) * tiers["width"]
        assert abs(x - expected) < 1.5, (time, x, expected, view)


# Each interval that runs under its tier's name, with the name's and its label's boxes.
UNDER_THE_NAME = """() => [...document.querySelectorAll(".editor-tier")].flatMap((row) => {
  const name = row.querySelector(".editor-tier-name").getBoundingClientRect();
  return [...row.querySelectorAll(".editor-interval")].filter((box) => {
    const r = box.getBoundingClientRect();
    return box.textContent && r.left < name.left && r.right > name.right + 30;
  }).map((box) => ({tier: row.dataset.tier, text: box.textContent, name: [name.left, name.right],
                    label: [box.firstChild.getBoundingClientRect().left, box.firstChild.getBoundingClientRect().right]}));
})"""


def test_zoomed_in_the_label_kept_on_the_screen_starts_after_the_tier_name(page, live_server, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    log_in(page, live_server, "alice")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + reverse("pipelines-edit-result", args=[project.pk, run.pk, "a.TextGrid"]))
    page.locator('.editor-tier[data-tier="words"] .editor-interval', has_text="clubs").click()
    for _ in range(3):
        page.keyboard.press("Control+i")
    tiers = page.locator("#editor-tiers").bounding_box()
    page.mouse.move(tiers["x"] + tiers["width"] / 2, tiers["y"] + tiers["height"] / 2)
    under = []
    for _ in range(200):  # the wheel, until the start of a word is off the screen on the left
        under = [found for found in page.evaluate(UNDER_THE_NAME) if found["tier"] == "words"]
        if under:
            break
        page.mouse.wheel(0, 20)
    assert under, "no word ran off the screen under the tier's name"
    for found in page.evaluate(UNDER_THE_NAME):
        assert found["label"][0] >= found["name"][1] - 0.5, found  # the label starts after the name: both readable
