"""The result editor's server side: saved versions, what every reader reads, the checks of a submitted version,
and the recording with range requests. Runs are built finished, without services (tests/test_exports.py)."""

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from praatio import textgrid

from pipelines import results, versions
from pipelines.models import ResultVersion, Run
from tests.factories import make_project, wav_bytes
from tests.test_exports import grid_text
from tests.test_outcomes import entry, fa_process, finish, report
from upload.services import Upload

pytestmark = pytest.mark.django_db


def edited_run(owner, tmp_path, seconds=1.5):
    """A finished run of a.wav (`seconds` long) whose a.TextGrid is the bundled writer's "ten of clubs" (1.5 s)."""
    project = make_project(owner)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("a.wav", wav_bytes(seconds=seconds)))
    upload.add(SimpleUploadedFile("a.txt", b"ten of clubs"))
    process = fa_process(project, ["a"], {"a.TextGrid": grid_text(tmp_path), "report.json": report(entry("a.wav"))})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)
    run.refresh_from_db()
    return project, run


def url(name, project, run, *args):
    return reverse(name, args=[project.pk, run.pk, *args])


def save(client, project, run, body, token_from=None):
    token = client.csrf_token(token_from or url("pipelines-edit-result", project, run, "a.TextGrid"))
    return client.post(url("pipelines-save-version", project, run, "a.TextGrid"), json.dumps(body),
                       content_type="application/json", HTTP_X_CSRFTOKEN=token)


def tiers_of(run, number=None):
    return versions.editor_tiers(results.result_path(run, "a.TextGrid", number))["tiers"]


def moved(tiers, time, to):
    """`tiers` with every boundary at `time` (a word's edge and the phone edge under it) moved to `to`."""
    for tier in tiers:
        for before, after in zip(tier["intervals"], tier["intervals"][1:]):
            if abs(before["end"] - time) < 1e-9:
                before["end"] = after["start"] = to
    return [{"name": t["name"], "intervals": t["intervals"]} for t in tiers]


def words(path):
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    return [(round(e.start, 4), round(e.end, 4), e.label) for e in grid.getTier("words").entries]


def test_the_editor_shows_the_tiers_with_their_confidence_and_the_shortcuts(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    response = alice_client.get(url("pipelines-edit-result", project, run, "a.TextGrid"))
    data = json.loads(response.content.decode().split('id="editor-data" type="application/json">')[1].split("</script>")[0])
    assert [t["name"] for t in data["tiers"]] == ["words", "phones"]  # the confidence tiers are not edited
    assert data["tiers"][1]["words"] == 0 and data["tiers"][0]["words"] is None
    assert data["version"] == 0 and data["duration"] == 1.5
    assert [i["label"] for i in data["tiers"][0]["intervals"]] == ["", "ten", "of", "", "clubs", ""]
    assert "Ctrl+I, Ctrl+O, Ctrl+A" in response.content.decode()
    run_page = alice_client.get(reverse("pipelines-run", args=[project.pk, run.pk])).content.decode()
    assert url("pipelines-edit-result", project, run, "a.TextGrid") in run_page


def test_a_saved_version_is_what_every_download_reads_and_the_automatic_one_stays(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    automatic = results.result_path(run, "a.TextGrid")
    original = open(automatic, "rb").read()
    response = save(alice_client, project, run, {"base": 0, "tiers": moved(tiers_of(run), 0.4504, 0.47)})
    assert response.status_code == 201, response.json()
    assert response.json() == {"version": 1, "message": "Saved as version 1."}
    version = ResultVersion.objects.get()
    assert (version.number, version.author) == (1, alice)
    assert open(automatic, "rb").read() == original
    assert words(results.result_path(run, "a.TextGrid")) == [(0.12, 0.47, "ten"), (0.47, 0.6, "of"), (0.8123, 1.2, "clubs")]
    # The phone edge under the word's moved with it; the download, the exports and the zip read version 1.
    download = b"".join(alice_client.get(url("pipelines-download-result", project, run, "a.TextGrid")).streaming_content)
    assert b"0.47" in download and b"0.4504" not in download
    csv = b"".join(alice_client.get(url("pipelines-export-result", project, run, "csv", "a.TextGrid")).streaming_content)
    assert b"a.wav,words,0.120,0.470,ten" in csv and b"a.wav,phones,0.470,0.500,AH" in csv
    old = b"".join(alice_client.get(url("pipelines-export-result", project, run, "csv", "a.TextGrid") + "?version=0")
                   .streaming_content)
    assert b"a.wav,words,0.120,0.450,ten" in old
    archive = zipfile.ZipFile(io.BytesIO(b"".join(alice_client.get(url("pipelines-download-results", project, run))
                                                  .streaming_content)))
    assert b"0.4504" not in archive.read("a.TextGrid") and b"0.120,0.470,ten" in archive.read("CSV/a.csv")
    run_page = alice_client.get(reverse("pipelines-run", args=[project.pk, run.pk])).content.decode()
    assert "version 1 by alice" in run_page
    assert url("pipelines-export-result", project, run, "eaf", "a.TextGrid") + "?version=1" in run_page
    assert url("pipelines-edit-result", project, run, "a.TextGrid") + "?version=0" in run_page  # opened read-only
    assert alice_client.get(url("pipelines-view-result", project, run, "a.TextGrid") + "?version=1").status_code == 200
    assert alice_client.get(url("pipelines-view-result", project, run, "a.TextGrid") + "?version=7").status_code == 404


def test_a_save_based_on_an_older_version_is_refused(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    tiers = tiers_of(run)
    assert save(alice_client, project, run, {"base": 0, "tiers": moved(tiers_of(run), 0.4504, 0.47)}).status_code == 201
    response = save(alice_client, project, run, {"base": 0, "tiers": moved(tiers, 0.4504, 0.44)})
    assert response.status_code == 409
    assert response.json()["error"] == versions.STALE
    assert "changed in another tab or by someone else" in versions.STALE and "reload" in versions.STALE
    assert ResultVersion.objects.count() == 1


def refusal(client, project, run, tiers, base=0):
    response = save(client, project, run, {"base": base, "tiers": tiers})
    assert response.status_code == 400, response.content
    assert not ResultVersion.objects.exists()
    return response.json()["error"]


def test_every_rule_of_a_submitted_version_is_checked_on_the_server(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    fresh = lambda: [{"name": t["name"], "intervals": t["intervals"]} for t in tiers_of(run)]  # noqa: E731
    tiers = fresh()
    assert refusal(alice_client, project, run, tiers[:1]) == (
        "The tiers must be those of the result, in its order: words, phones; these are: words.")
    tiers = fresh()
    tiers[0]["intervals"][2]["start"] = 0.46  # a gap after "ten"
    assert refusal(alice_client, project, run, tiers) == (
        "Tier “words”: the interval at 0.460 s does not start where the one before it ends (0.450 s): intervals "
        "follow each other without gaps or overlaps.")
    tiers = fresh()
    tiers[0]["intervals"][1]["end"] = tiers[0]["intervals"][2]["start"] = 0.1  # "ten" ends before it starts
    assert refusal(alice_client, project, run, tiers) == (
        "Tier “words”: the interval at 0.120 s ends at 0.100 s, not after it starts: boundaries must stay in order.")
    tiers = fresh()
    tiers[0]["intervals"][-1]["end"] = 1.4
    assert refusal(alice_client, project, run, tiers) == (
        "Tier “words” ends at 1.400 s; it must run to the end of the result, 1.500 s.")
    tiers = fresh()
    tiers[0]["intervals"][1]["end"] = tiers[0]["intervals"][2]["start"] = 0.35  # inside the phone EH, 0.30-0.38
    assert refusal(alice_client, project, run, tiers) == (
        "The phone “EH” at 0.300–0.380 s crosses the word boundary at 0.350 s: a phone must lie inside its word.")
    tiers = fresh()
    tiers[0]["intervals"][1]["label"] = "x" * 201
    assert refusal(alice_client, project, run, tiers) == (
        "Tier “words”: the label at 0.120 s is 201 characters long; a label has at most 200.")
    tiers = fresh()
    tiers[0]["intervals"][1]["start"] = "soon"
    assert refusal(alice_client, project, run, tiers) == "Tier “words”: the start of each interval must be a number of seconds."
    token = alice_client.csrf_token(url("pipelines-edit-result", project, run, "a.TextGrid"))
    response = alice_client.post(url("pipelines-save-version", project, run, "a.TextGrid"), "{tiers: none",
                                 content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 400 and response.json()["error"] == (
        'Send the version as JSON: {"base": the version you edited, "tiers": [...]}.')


def test_no_boundary_may_lie_after_the_end_of_the_recording(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path, seconds=1.25)  # the result runs to 1.5 s, the audio to 1.25 s
    assert refusal(alice_client, project, run, moved(tiers_of(run), 1.2, 1.3)) == (
        "Tier “words”: a boundary at 1.300 s is after the end of the recording (1.250 s).")


def test_a_version_may_be_sent_as_a_textgrid(alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    text = open(results.result_path(run, "a.TextGrid"), encoding="utf-8").read().replace("0.4504", "0.47")
    base, _, tiers, _ = versions.parse_body(json.dumps({"base": 0, "textgrid": text}))
    assert versions.save(run, "a.TextGrid", alice, base, tiers, 1.5) == 1
    assert words(results.result_path(run, "a.TextGrid"))[0] == (0.12, 0.47, "ten")
    with pytest.raises(versions.VersionRefused, match="This is not a TextGrid that Praat could open."):
        versions.parse_body(json.dumps({"base": 1, "textgrid": "hello"}))


# The recording, with range requests


def audio(client, project, run, **headers):
    return client.get(url("pipelines-result-audio", project, run, "a.TextGrid"), **headers)


def test_the_recording_is_sent_in_the_range_asked_for(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    whole = wav_bytes(seconds=1.5)
    response = audio(alice_client, project, run)
    assert response.status_code == 200 and response["Accept-Ranges"] == "bytes"
    assert b"".join(response.streaming_content) == whole
    response = audio(alice_client, project, run, HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{len(whole)}" and response["Content-Length"] == "100"
    assert b"".join(response.streaming_content) == whole[100:200]
    response = audio(alice_client, project, run, HTTP_RANGE="bytes=-10")
    assert response.status_code == 206 and b"".join(response.streaming_content) == whole[-10:]
    response = audio(alice_client, project, run, HTTP_RANGE="bytes=-999999999")  # more than the file: all of it
    assert response.status_code == 206 and response["Content-Range"] == f"bytes 0-{len(whole) - 1}/{len(whole)}"
    assert b"".join(response.streaming_content) == whole
    response = audio(alice_client, project, run, HTTP_RANGE=f"bytes={len(whole)}-")
    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{len(whole)}"
    # A header that does not parse, or several ranges: the whole file, as RFC 9110 allows.
    for header in ("bytes=9-3", "lines=1-2", "bytes=0-1,5-6"):
        assert audio(alice_client, project, run, HTTP_RANGE=header).status_code == 200, header


def test_another_users_editor_audio_and_versions_are_404(alice, bob, tmp_path):
    from tests.conftest import CsrfClient

    project, run = edited_run(alice, tmp_path)
    intruder = CsrfClient()
    intruder.force_login(bob)
    for name in ("pipelines-edit-result", "pipelines-result-audio"):
        assert intruder.get(url(name, project, run, "a.TextGrid")).status_code == 404
    body = {"base": 0, "tiers": moved(tiers_of(run), 0.4504, 0.47)}
    assert save(intruder, project, run, body, token_from=reverse("accounts-password-change")).status_code == 404
    assert intruder.get(url("pipelines-download-result", project, run, "a.TextGrid") + "?version=0").status_code == 404
    assert not ResultVersion.objects.exists()


# The same through the API


def test_a_script_gets_a_version_and_puts_the_next_one_checked_as_the_editors(alice, tmp_path):
    from tests.test_api import api, token_for

    project, run = edited_run(alice, tmp_path)
    client = api(token_for(alice))
    version_url = reverse("api-result-version", args=[project.pk, run.pk, "a.TextGrid", 0])
    got = client.get(version_url).json()
    assert (got["number"], got["author"], got["end"]) == (0, None, 1.5)
    assert [t["name"] for t in got["tiers"]] == ["words", "phones"]
    tiers = moved(got["tiers"], 0.4504, 0.47)

    def put(number, body):
        return client.put(reverse("api-result-version", args=[project.pk, run.pk, "a.TextGrid", number]),
                          json.dumps({"alignment": got["alignment"], **body}), content_type="application/json")

    # Without the alignment it was read from, a version could replace a realigned result unseen.
    response = client.put(reverse("api-result-version", args=[project.pk, run.pk, "a.TextGrid", 1]),
                          json.dumps({"tiers": tiers}), content_type="application/json")
    assert response.status_code == 400 and response.json() == {"code": "invalid_version", "detail": (
        "Send the \"alignment\" of the version you edited, as its GET gave it: a realigned run numbers its versions "
        "from 0 again, and it tells them apart.")}

    crossing = json.loads(json.dumps(tiers))
    crossing[0]["intervals"][1]["end"] = crossing[0]["intervals"][2]["start"] = 0.35
    response = put(1, {"tiers": crossing})
    assert response.status_code == 400 and response.json() == {"code": "invalid_version", "detail": (
        "The phone “EH” at 0.300–0.380 s crosses the word boundary at 0.350 s: a phone must lie inside its word.")}
    response = put(1, {"tiers": tiers})
    assert response.status_code == 201 and response.json()["author"] == "alice"
    assert response.json()["tiers"][0]["intervals"][1]["end"] == 0.47
    for number in (1, 0):  # the same base again, or the automatic one: someone saved meanwhile
        response = put(number, {"tiers": tiers})
        assert response.status_code == 409 and response.json() == {"code": "stale_version", "detail": versions.STALE}
    listed = client.get(reverse("api-result-versions", args=[project.pk, run.pk, "a.TextGrid"])).json()["versions"]
    assert [(v["number"], v["author"]) for v in listed] == [(0, None), (1, "alice")]
    old = b"".join(client.get(listed[0]["downloads"]["csv"]).streaming_content)
    assert b"a.wav,words,0.120,0.450,ten" in old
    latest = b"".join(client.get(reverse("api-result", args=[project.pk, run.pk, "a.TextGrid"]) + "?format=csv")
                      .streaming_content)
    assert b"a.wav,words,0.120,0.470,ten" in latest
    assert client.get(reverse("api-result-version", args=[project.pk, run.pk, "a.TextGrid", 5])).json() == {
        "code": "not_found", "detail": "“a.TextGrid” has no version 5."}


def test_the_waveforms_outline_is_the_lowest_and_highest_sample_of_each_stretch(tmp_path):
    import numpy as np
    import soundfile

    from pipelines import audio as audio_files

    path = tmp_path / "ramp.wav"
    samples = np.concatenate([np.linspace(-0.5, 0.25, 800), np.zeros(800)]).astype(np.float32)
    soundfile.write(path, samples, 16000, subtype="FLOAT")
    columns = audio_files.peaks(path, 4)
    assert len(columns) == 4
    assert columns[0][0] == -1.0  # the loudest sample is the scale
    assert columns[1][1] == pytest.approx(0.5, abs=1e-3) and columns[3] == (0.0, 0.0)


def test_a_realigned_result_starts_again_from_version_0(alice, tmp_path):
    # A run waiting for review shows the first pass's results, which the researcher may correct; the second pass
    # writes new ones, which a correction of the old ones must not hide.
    project, run = edited_run(alice, tmp_path)
    base, _, tiers, _ = versions.parse_body(json.dumps({"base": 0, "tiers": moved(tiers_of(run), 0.4504, 0.47)}))
    assert versions.save(run, "a.TextGrid", alice, base, tiers, 1.5) == 1
    run.realign_process = fa_process(project, ["a"], {"a.TextGrid": grid_text(tmp_path)}, folder="realign")
    run.save()
    latest = results.result_version(run, "a.TextGrid")
    assert latest.number == 0 and "/realign/" in latest.path
    assert [v.number for v in results.versions(run, "a.TextGrid")] == [0]


def editor_data(client, project, run, name):
    html = client.get(url("pipelines-edit-result", project, run, name)).content.decode()
    return json.loads(html.split('id="editor-data" type="application/json">')[1].split("</script>")[0])


def test_each_speakers_tiers_are_edited_with_their_own_words_and_phones(alice_client, alice):
    from tests.test_speaker_results import DRAWN, speakers_run

    project, run = speakers_run(alice)
    data = editor_data(alice_client, project, run, "interview.TextGrid")
    assert [t["name"] for t in data["tiers"]] == DRAWN
    assert [t["words"] for t in data["tiers"]] == [None, None, 1, None, None, 4]
    low = [i["label"] for t in data["tiers"] if t["kind"] == "words" for i in t["intervals"]
           if i["confidence"] is not None and i["confidence"] < 0.5]
    assert sorted(low) == ["a3", "b1", "b6"]


def test_a_correction_keeps_the_confidence_of_what_it_left_as_it_was(alice, tmp_path):
    from tests.test_confidence_pages import confident_grid

    project = make_project(alice)
    Upload(project).add(SimpleUploadedFile("a.wav", wav_bytes(seconds=4)))
    process = fa_process(project, ["a"], {"a.TextGrid": confident_grid(4)})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.DONE, fa_process=process)
    tiers = [{"name": t["name"], "intervals": t["intervals"]} for t in tiers_of(run)]
    changed = next(i for i in tiers[0]["intervals"] if i["label"] == "w1")
    changed.update(label="one", confidence=None)  # as the editor sends an interval it changed
    assert versions.save(run, "a.TextGrid", alice, 0, tiers, 4.0) == 1
    alignment = results.read_alignment(run, results.result_path(run, "a.TextGrid"), "a.TextGrid", {})
    assert [(w.span.label, w.span.confidence) for w in alignment.words()][:4] == [
        ("w0", 0.95), ("one", None), ("w2", 0.95), ("w3", 0.12)]


def test_the_words_to_check_are_those_of_the_latest_version(alice, alice_client, tmp_path):
    from tests.test_confidence_pages import confident_grid

    project = make_project(alice)
    Upload(project).add(SimpleUploadedFile("a.wav", wav_bytes(seconds=4)))
    Upload(project).add(SimpleUploadedFile("a.txt", b"w"))
    process = fa_process(project, ["a"], {"a.TextGrid": confident_grid(4), "report.json": report(entry("a.wav"))})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)
    run.refresh_from_db()
    [(_, found)] = results.words_to_check(run, list(run.outcomes.all()))
    assert [w["label"] for w in found["words"]] == ["w3", "w7"]
    tiers = [{"name": t["name"], "intervals": t["intervals"]} for t in tiers_of(run)]
    next(i for i in tiers[0]["intervals"] if i["label"] == "w3").update(label="three", confidence=None)
    versions.save(run, "a.TextGrid", alice, 0, tiers, 4.0)
    [(_, found)] = results.words_to_check(run, list(run.outcomes.all()))
    assert [w["label"] for w in found["words"]] == ["w7"]  # w3 was checked and corrected


def test_a_correction_larger_than_the_sites_forms_is_saved_and_one_too_large_is_refused(alice_client, alice, tmp_path,
                                                                                       settings, monkeypatch):
    from pipelines import views

    project, run = edited_run(alice, tmp_path)
    tiers = moved(tiers_of(run), 0.4504, 0.47)
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)  # as an hour's tiers are
    assert save(alice_client, project, run, {"base": 0, "tiers": tiers, "padding": padding}).status_code == 201
    monkeypatch.setattr(views, "MAX_VERSION_BYTES", 1024**2)
    response = save(alice_client, project, run, {"base": 1, "tiers": tiers, "padding": padding})
    assert response.status_code == 413 and response.json()["error"] == (
        "This correction is larger than 1 MB, more than a result can be saved in one go; nothing was saved.")
    assert ResultVersion.objects.count() == 1


def realigned(run, tmp_path):
    """`run` as its realignment leaves it: a new process whose a.TextGrid is again version 0."""
    run.realign_process = fa_process(run.project, ["a"], {"a.TextGrid": grid_text(tmp_path)}, folder="realign")
    run.stage = Run.Stage.DONE
    run.save()
    return run


def api_put(user, project, run, number, body):
    """A PUT of a version, with the `alignment` a script copies from its GET unless `body` has one."""
    from tests.test_api import api, token_for

    body = {"alignment": versions.alignment(run), **body}
    return api(token_for(user)).put(reverse("api-result-version", args=[project.pk, run.pk, "a.TextGrid", number]),
                                    json.dumps(body), content_type="application/json")


def test_a_save_based_on_the_result_before_a_realignment_is_refused(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    data = editor_data(alice_client, project, run, "a.TextGrid")
    before = data["alignment"]
    got = alice_client.get(reverse("api-result-version", args=[project.pk, run.pk, "a.TextGrid", 0])).json()
    assert got["alignment"] == before
    realigned(run, tmp_path)
    body = {"base": 0, "alignment": before, "tiers": moved(tiers_of(run), 0.4504, 0.47)}
    response = save(alice_client, project, run, body)
    assert response.status_code == 409 and response.json()["error"] == versions.STALE
    response = api_put(alice, project, run, 1, {"alignment": before, "tiers": body["tiers"]})
    assert response.status_code == 409 and response.json() == {"code": "stale_version", "detail": versions.STALE}
    assert not ResultVersion.objects.exists()
    now = editor_data(alice_client, project, run, "a.TextGrid")["alignment"]
    assert now != before and save(alice_client, project, run, {**body, "alignment": now}).status_code == 201


@pytest.mark.parametrize("stage", [Run.Stage.TRANSCRIBING, Run.Stage.REVIEW, Run.Stage.REALIGNING])
def test_no_correction_is_saved_while_the_run_may_still_change_its_results(alice_client, alice, tmp_path, stage):
    project, run = edited_run(alice, tmp_path)
    Run.objects.filter(pk=run.pk).update(stage=stage)
    response = save(alice_client, project, run, {"base": 0, "tiers": moved(tiers_of(run), 0.4504, 0.47)})
    assert response.status_code == 409 and response.json()["error"] == (
        "This run is finding pronunciations or aligning again, so its results may still change. Wait until it has "
        "ended, then make your corrections.")
    response = api_put(alice, project, run, 1, {"tiers": moved(tiers_of(run), 0.4504, 0.47)})
    assert response.status_code == 409 and response.json()["detail"] == versions.BUSY
    assert not ResultVersion.objects.exists()


def test_numbers_intervals_and_text_that_cannot_be_saved_are_refused_with_a_message(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    fresh = lambda: [{"name": t["name"], "intervals": t["intervals"]} for t in tiers_of(run)]  # noqa: E731
    tiers = fresh()
    tiers[0]["intervals"][1]["end"] = 10**400  # an integer no float holds
    assert refusal(alice_client, project, run, tiers) == "Tier “words”: the end of each interval must be a number of seconds."
    tiers = fresh()  # "of" starts a hair before "ten" ends (within the tolerance) and ends before it
    tiers[0]["intervals"][2]["start"], tiers[0]["intervals"][2]["end"] = 0.4503992, 0.4503996  # "ten" ends at 0.4504
    tiers[0]["intervals"][3]["start"] = 0.4503996
    assert refusal(alice_client, project, run, tiers) == (
        "Tier “words”: the interval at 0.4504 s ends at 0.4504 s, not after it starts: boundaries must stay in order.")
    tiers = fresh()
    tiers[0]["intervals"][1]["end"] = tiers[0]["intervals"][2]["start"] = 0.1203
    assert refusal(alice_client, project, run, tiers) == (
        "Tier “words”: the interval at 0.120 s is 0.300 ms long; an interval lasts at least 1 ms.")
    tiers = fresh()
    tiers[0]["intervals"][1]["label"] = "t\ud800n"
    assert refusal(alice_client, project, run, tiers) == (
        "Tier “words”: the label of the interval at 0.120 s has a character that is not text (a lone UTF-16 "
        "surrogate); retype it.")
    tiers = fresh()
    tiers[0]["intervals"][1]["end"] = tiers[0]["intervals"][2]["start"] = 0.3005  # inside the phone EH, 0.30-0.38
    assert refusal(alice_client, project, run, tiers) == (
        "The phone “EH” at 0.300–0.380 s crosses the word boundary at 0.3005 s: a phone must lie inside its word.")
    with pytest.raises(versions.VersionRefused, match="^The TextGrid has a character that is not text"):
        versions.parse_body(json.dumps({"base": 0, "textgrid": grid_text(tmp_path).replace("ten", "\ud800")}))


def test_a_version_that_is_not_a_plain_number_is_not_found(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    for version in ("²", "١", "-1", "1.0"):
        response = alice_client.get(url("pipelines-download-result", project, run, "a.TextGrid") + f"?version={version}")
        assert response.status_code == 404, version


def test_an_interval_changed_through_the_api_loses_its_confidence(alice, tmp_path):
    from tests.test_confidence_pages import confident_grid

    project = make_project(alice)
    Upload(project).add(SimpleUploadedFile("a.wav", wav_bytes(seconds=4)))
    process = fa_process(project, ["a"], {"a.TextGrid": confident_grid(4)})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.DONE, fa_process=process)
    tiers = [{"name": t["name"], "intervals": t["intervals"]} for t in tiers_of(run)]
    next(i for i in tiers[0]["intervals"] if i["label"] == "w1")["label"] = "one"  # its confidence sent back as it was
    assert versions.save(run, "a.TextGrid", alice, 0, tiers, 4.0) == 1
    alignment = results.read_alignment(run, results.result_path(run, "a.TextGrid"), "a.TextGrid", {})
    assert [(w.span.label, w.span.confidence) for w in alignment.words()][:4] == [
        ("w0", 0.95), ("one", None), ("w2", 0.95), ("w3", 0.12)]


def test_the_waveform_of_a_long_recording_is_read_in_blocks_of_a_bounded_size(tmp_path):
    import tracemalloc

    import numpy as np
    import soundfile

    from pipelines import audio as audio_files

    rate, seconds = 16000, 200  # 3.2 M frames: 12.8 MB as float32, three blocks
    samples = np.zeros(rate * seconds, dtype=np.int16)
    samples[rate * 150] = 16000  # the loudest sample, in the last block
    soundfile.write(tmp_path / "long.wav", samples, rate, subtype="PCM_16")
    tracemalloc.start()
    try:
        columns = audio_files.peaks(tmp_path / "long.wav", 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(columns) == 20 and columns[15] == (0.0, 1.0) and columns[14] == (0.0, 0.0)
    assert peak < 24 * 1024**2, peak  # about 15 MB (blocks of 4 MB and their copies); the whole recording's read: 38 MB


def test_the_outputs_list_gives_the_size_of_the_textgrid_that_is_downloaded(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    assert save(alice_client, project, run, {"base": 0, "tiers": moved(tiers_of(run), 0.4504, 0.47)}).status_code == 201
    download = b"".join(alice_client.get(url("pipelines-download-result", project, run, "a.TextGrid")).streaming_content)
    [listed] = [o for o in results.outputs(run) if o.name == "a.TextGrid"]
    assert listed.size == len(download) != len(open(results.result_path(run, "a.TextGrid", 0), "rb").read())


def test_the_api_takes_a_correction_as_large_as_the_editors(alice, tmp_path, settings, monkeypatch):
    project, run = edited_run(alice, tmp_path)
    tiers = moved(tiers_of(run), 0.4504, 0.47)
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)  # as an hour's tiers are
    response = api_put(alice, project, run, 1, {"tiers": tiers, "padding": padding})
    assert response.status_code == 201, response.content[:300]
    monkeypatch.setattr(versions, "MAX_VERSION_BYTES", 1024**2)
    response = api_put(alice, project, run, 2, {"tiers": tiers, "padding": padding})
    assert response.status_code == 413 and response.json() == {"code": "request_too_large", "detail": (
        "This correction is larger than 1 MB, more than a result can be saved in one go; nothing was saved.")}
    assert ResultVersion.objects.count() == 1


def test_a_word_emptied_next_to_a_pause_keeps_the_boundary_between_them(alice_client, alice, tmp_path):
    # A trial emptied "of" (0.45–0.60, the pause 0.60–0.8123 after it) and moved its end: the saved version had one
    # empty interval where the editor showed two, and the moved boundary was gone.
    project, run = edited_run(alice, tmp_path)
    tiers = moved(tiers_of(run), 0.6, 0.58)
    of = next(i for i in tiers[0]["intervals"] if i["label"] == "of")
    of["label"] = ""
    response = save(alice_client, project, run, {"base": 0, "tiers": tiers})
    assert response.status_code == 201, response.json()
    saved = [(round(i["start"], 4), round(i["end"], 4), i["label"]) for i in tiers_of(run)[0]["intervals"]]
    assert saved == [(0.0, 0.12, ""), (0.12, 0.4504, "ten"), (0.4504, 0.58, ""), (0.58, 0.8123, ""),
                     (0.8123, 1.2, "clubs"), (1.2, 1.5, "")]
    assert words(results.result_path(run, "a.TextGrid")) == [(0.12, 0.4504, "ten"), (0.8123, 1.2, "clubs")]


def test_an_unchanged_version_is_not_saved_and_each_version_downloads_under_its_own_name(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    response = save(alice_client, project, run, {"base": 0, "tiers": moved(tiers_of(run), 0.6, 0.6)})
    assert response.status_code == 400
    assert response.json()["error"] == "Nothing has changed since version 0: there is nothing to save."
    assert not ResultVersion.objects.exists()
    assert save(alice_client, project, run, {"base": 0, "tiers": moved(tiers_of(run), 0.6, 0.58)}).status_code == 201
    names = {
        version: alice_client.get(url("pipelines-export-result", project, run, "eaf", "a.TextGrid")
                                  + f"?version={version}")["Content-Disposition"]
        for version in (0, 1)
    }
    assert names == {0: 'attachment; filename="a.v0.eaf"', 1: 'attachment; filename="a.v1.eaf"'}
    latest = alice_client.get(url("pipelines-download-result", project, run, "a.TextGrid"))
    assert latest["Content-Disposition"] == 'attachment; filename="a.TextGrid"'
    page = alice_client.get(url("pipelines-edit-result", project, run, "a.TextGrid")).content.decode()
    assert 'maxlength="200"' in page


def test_the_hourly_cleanup_keeps_saved_versions(alice_client, alice, tmp_path):
    # Saved versions live under the run's folder, outside every process's output folder: the cleanup of files no
    # row refers to took them for orphans once they were older than CLEANUP_ORPHAN_AGE_HOURS.
    import os
    import time

    from upload.cleanup import remove_orphans

    project, run = edited_run(alice, tmp_path)
    assert save(alice_client, project, run, {"base": 0, "tiers": moved(tiers_of(run), 0.4504, 0.47)}).status_code == 201
    path = results.result_path(run, "a.TextGrid")
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(path, (week_ago, week_ago))
    remove_orphans(force=True)
    assert os.path.exists(path)
    assert words(results.result_path(run, "a.TextGrid"))[0] == (0.12, 0.47, "ten")


# Zoomed in: the waveform of the stretch shown, in detail


def sine_run(owner, tmp_path, seconds=2.0, rate=16000):
    """edited_run, with a.wav a 100 Hz sine at half of full scale (a period: 10 ms, 160 samples) instead of silence."""
    import numpy as np
    import soundfile

    project, run = edited_run(owner, tmp_path)
    audio = project.files.get(name="a.wav")
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(audio.file.path, (0.5 * np.sin(2 * np.pi * 100 * t)).astype(np.float32), rate, subtype="PCM_16")
    return project, run


def peaks_of(client, project, run, query):
    return client.get(url("pipelines-result-peaks", project, run, "a.TextGrid") + query)


def test_a_stretch_of_the_waveform_comes_in_as_much_detail_as_asked_down_to_single_samples(alice_client, alice,
                                                                                          tmp_path):
    import numpy as np

    project, run = sine_run(alice, tmp_path)
    # 50 ms (800 samples, five periods) in 1000 columns: fewer samples than columns, so one column per sample.
    response = peaks_of(alice_client, project, run, "?start=1&end=1.05&columns=1000")
    assert response.status_code == 200
    got = response.json()
    assert (got["start"], got["end"], got["samples"]) == (1.0, 1.05, True)
    peaks = np.array(got["peaks"]).reshape(-1, 2)
    assert len(peaks) == 800 and (peaks[:, 0] == peaks[:, 1]).all()
    expected = 0.5 * np.sin(2 * np.pi * 100 * (16000 + np.arange(800)) / 16000)
    assert np.abs(peaks[:, 0] - expected).max() < 1e-3  # the periods themselves, not an outline's blocks
    # A second in 50 columns: each column's lowest and highest sample (20 ms, two periods each).
    response = peaks_of(alice_client, project, run, "?start=0.5&end=1.5&columns=50")
    peaks = np.array(response.json()["peaks"]).reshape(-1, 2)
    assert len(peaks) == 50 and np.allclose(peaks[:, 0], -0.5, atol=1e-3) and np.allclose(peaks[:, 1], 0.5, atol=1e-3)
    # Past the end of the recording: up to its end.
    assert peaks_of(alice_client, project, run, "?start=1.9&end=2.5&columns=10").json()["end"] == 2.0


def test_a_stretch_of_the_waveform_asked_for_wrongly_is_refused_with_what_to_send(alice_client, alice, tmp_path):
    from pipelines import views

    project, run = sine_run(alice, tmp_path)
    cases = {
        "?end=1&columns=10": "“start” must be a number of seconds, as in ?start=12.5&end=13&columns=1000.",
        "?start=nan&end=1&columns=10": "“start” must be a number of seconds, as in ?start=12.5&end=13&columns=1000.",
        "?start=0&end=inf&columns=10": "“end” must be a number of seconds, as in ?start=12.5&end=13&columns=1000.",
        "?start=-1&end=1&columns=10": "“start” must lie inside the recording, from 0 to 2.000 s.",
        "?start=2&end=3&columns=10": "“start” must lie inside the recording, from 0 to 2.000 s.",
        "?start=1&end=1&columns=10": "“end” must be after “start”.",
        "?start=0&end=121&columns=10": ("At most 120 s at a time: ask for a shorter stretch (the page's outline covers "
                                        "views wider than this)."),
        "?start=0&end=1&columns=0": "“columns” must be a whole number from 1 to 10000.",
        "?start=0&end=1&columns=10001": "“columns” must be a whole number from 1 to 10000.",
        "?start=0&end=1&columns=1e3": "“columns” must be a whole number from 1 to 10000.",
        "?start=0&end=1": "“columns” must be a whole number from 1 to 10000.",
    }
    assert views.MAX_DETAIL_SECONDS == 120 and views.MAX_DETAIL_COLUMNS == 10_000
    for query, message in cases.items():
        response = peaks_of(alice_client, project, run, query)
        assert (response.status_code, response.json()) == (400, {"error": message}), query


def test_the_detail_of_a_long_recording_is_read_in_blocks_of_a_bounded_size(tmp_path):
    import tracemalloc

    import numpy as np
    import soundfile

    from pipelines import audio as audio_files

    rate = 48000  # two minutes of 48 kHz stereo (the most the editor asks for): 11.5 M samples, 46 MB as float32
    samples = np.zeros((rate * 120, 2), dtype=np.int16)
    samples[rate * 100, 1] = 16384  # half of full scale in one channel: a quarter in the mono mean
    samples[rate * 10, 0] = -8192
    soundfile.write(tmp_path / "long.wav", samples, rate, subtype="PCM_16")
    tracemalloc.start()
    try:
        start, end, peaks, samples = audio_files.detail(tmp_path / "long.wav", 0, 120, 120)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (start, end, peaks.shape, samples) == (0.0, 120.0, (120, 2), False)
    assert peaks[100].tolist() == [0.0, 0.25] and peaks[10].tolist() == [-0.125, 0.0] and not peaks[50].any()
    assert peak < 40 * 1024**2, peak  # blocks of a million frames; the whole stretch at once: over 90 MB


def test_the_outline_is_computed_once_and_again_only_when_the_recording_changes(alice_client, alice, tmp_path,
                                                                              monkeypatch):
    import base64
    import os

    import numpy as np
    import soundfile
    from django.core.files.storage import default_storage

    from pipelines import audio as audio_files

    project, run = sine_run(alice, tmp_path)
    read = []
    real = audio_files._outline
    monkeypatch.setattr(audio_files, "_outline", lambda *args: read.append(args) or real(*args))
    first = editor_data(alice_client, project, run, "a.TextGrid")
    assert editor_data(alice_client, project, run, "a.TextGrid")["peaks"] == first["peaks"]
    assert len(read) == 1
    peaks = np.frombuffer(base64.b64decode(first["peaks"]), dtype=np.int8)
    assert len(peaks) == 2 * 200 and peaks.min() == -127 and peaks.max() == 127  # 100 columns a second, 2 s
    assert abs(first["loudest"] - 0.5) < 1e-3
    # The recording deleted and uploaded again under its name: a new outline, and the old one removed.
    path = project.files.get(name="a.wav").file.path
    soundfile.write(path, np.zeros(16000, dtype=np.int16), 16000, subtype="PCM_16")
    again = editor_data(alice_client, project, run, "a.TextGrid")
    assert len(read) == 2 and again["duration"] == 1.0 and again["peaks"] != first["peaks"]
    kept = os.listdir(default_storage.path(f"{run.folder}/editor"))
    assert len([name for name in kept if name.endswith(".npz")]) == 1


def test_the_tiers_of_a_version_are_parsed_once(alice_client, alice, tmp_path, monkeypatch):
    project, run = edited_run(alice, tmp_path)
    parsed = []
    real = versions.editor_tiers
    monkeypatch.setattr(versions, "editor_tiers", lambda path: parsed.append(path) or real(path))
    first = editor_data(alice_client, project, run, "a.TextGrid")
    assert editor_data(alice_client, project, run, "a.TextGrid")["tiers"] == first["tiers"]
    assert len(parsed) == 1
    assert save(alice_client, project, run, {"base": 0, "tiers": moved(tiers_of(run), 0.4504, 0.47)}).status_code == 201
    assert editor_data(alice_client, project, run, "a.TextGrid")["tiers"][0]["intervals"][1]["end"] == 0.47


# Older versions, opened in the editor


def test_an_older_version_opens_read_only_and_a_new_version_from_it_follows_the_latest(alice_client, alice, tmp_path):
    from tests.test_confidence_pages import confident_grid

    project = make_project(alice)
    Upload(project).add(SimpleUploadedFile("a.wav", wav_bytes(seconds=4)))
    process = fa_process(project, ["a"], {"a.TextGrid": confident_grid(4)})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.DONE, fa_process=process)
    automatic = [{"name": t["name"], "intervals": t["intervals"]} for t in tiers_of(run)]
    changed = json.loads(json.dumps(automatic))
    next(i for i in changed[0]["intervals"] if i["label"] == "w1").update(label="one", confidence=None)
    assert versions.save(run, "a.TextGrid", alice, 0, changed, 4.0) == 1

    data = editor_data(alice_client, project, run, "a.TextGrid")
    assert (data["version"], data["latest"], data["read_only"]) == (1, 1, False)
    page = alice_client.get(url("pipelines-edit-result", project, run, "a.TextGrid") + "?version=0").content.decode()
    data = json.loads(page.split('id="editor-data" type="application/json">')[1].split("</script>")[0])
    assert (data["version"], data["latest"], data["read_only"]) == (0, 1, True)
    assert "w1" in [i["label"] for i in data["tiers"][0]["intervals"]]
    assert "Start a new version from this one" in page and "viewing version 0, read-only (the automatic alignment)" in page
    assert url("pipelines-download-result", project, run, "a.TextGrid") + "?version=0\">Download version 0</a>" in page
    for version in ("7", "x"):
        response = alice_client.get(url("pipelines-edit-result", project, run, "a.TextGrid") + f"?version={version}")
        assert response.status_code == 404

    # Started from version 0, the save is based on the latest (1): it becomes version 2, and the intervals it took
    # back from version 0 keep the aligner's confidence.
    restored = json.loads(json.dumps(data["tiers"]))
    body = {"base": 0, "from": 0, "alignment": data["alignment"], "tiers": restored}
    response = save(alice_client, project, run, body)
    assert response.status_code == 409 and response.json()["error"] == versions.STALE  # based on 0: stale, as before
    response = save(alice_client, project, run, {**body, "base": 1, "from": 5})
    assert response.status_code == 400 and response.json()["error"] == (
        'There is no version “5” of this result to start from: "from" is the number of one of its versions, 0 to 1.')
    response = save(alice_client, project, run, {**body, "base": 1})
    assert response.status_code == 201 and response.json()["version"] == 2
    alignment = results.read_alignment(run, results.result_path(run, "a.TextGrid"), "a.TextGrid", {})
    assert [(w.span.label, w.span.confidence) for w in alignment.words()][:4] == [
        ("w0", 0.95), ("w1", 0.95), ("w2", 0.95), ("w3", 0.12)]
    assert save(alice_client, project, run, {**body, "base": 1}).status_code == 409  # version 2 is the latest now


def with_points(run):
    """`run`'s automatic a.TextGrid with a point tier "events" (a click at 0.3 s, a cough at 1 s) after its tiers."""
    path = results.result_path(run, "a.TextGrid", 0)
    grid = textgrid.openTextgrid(path, includeEmptyIntervals=True)
    grid.addTier(textgrid.PointTier("events", [(0.3, "click"), (1.0, "cough")], grid.minTimestamp, grid.maxTimestamp))
    grid.save(path, format="long_textgrid", includeBlankSpaces=True)
    return run


def test_point_tiers_are_shown_with_their_labels_and_kept_as_they_are(alice_client, alice, tmp_path):
    project, run = edited_run(alice, tmp_path)
    with_points(run)
    data = editor_data(alice_client, project, run, "a.TextGrid")
    assert [t["name"] for t in data["tiers"]] == ["words", "phones"]  # the edited ones: the points are not among them
    assert data["points"] == [{"name": "events", "points": [{"time": 0.3, "label": "click"},
                                                           {"time": 1.0, "label": "cough"}]}]
    assert save(alice_client, project, run, {"base": 0, "tiers": moved(tiers_of(run), 0.4504, 0.47)}).status_code == 201
    saved = textgrid.openTextgrid(results.result_path(run, "a.TextGrid"), includeEmptyIntervals=True)
    assert [(p.time, p.label) for p in saved.getTier("events").entries] == [(0.3, "click"), (1.0, "cough")]
    assert editor_data(alice_client, project, run, "a.TextGrid")["points"] == data["points"]
