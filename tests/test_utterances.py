"""clamservices.utterances, the one reader of transcripts given as TextGrid or EAF tiers (the upload check and the
aligner both use it): which tiers are utterances, and a result given back as a transcript."""

import subprocess
import sys
from pathlib import Path

import pytest

from clamservices import utterances
from clamservices.transcripts import TranscriptError
from clamservices.utterances import read_tiers
from tests.utterance_files import eaf, textgrid


def read(tmp_path, content, name="a.TextGrid"):
    (tmp_path / name).write_bytes(content)
    return {t.name: [(u.start, u.end, u.text) for u in t.utterances] for t in read_tiers(tmp_path / name, name)}


def test_a_result_given_back_as_a_transcript_is_aligned_from_its_speaker_tiers_not_its_old_alignment(tmp_path):
    grid = textgrid({"speaker A": [(0.5, 1.5, "ten of clubs")],
                     "speaker A - words": [(0.5, 0.7, "ten"), (0.7, 0.9, "of"), (0.9, 1.5, "clubs")],
                     "speaker A - phones": [(0.5, 0.6, "T"), (0.6, 0.7, "EH")],
                     "speaker A - words confidence": [(0.5, 0.7, "0.900")]})
    assert read(tmp_path, grid) == {"speaker A": [(0.5, 1.5, "ten of clubs")]}


def test_a_result_of_a_plain_text_transcript_is_aligned_again_word_by_word_from_its_words_tier(tmp_path):
    grid = textgrid({"words": [(0.5, 0.7, "ten"), (0.7, 1.5, "clubs")], "phones": [(0.5, 0.6, "T")],
                     "words confidence": [(0.5, 0.7, "0.900")]})
    assert read(tmp_path, grid) == {"words": [(0.5, 0.7, "ten"), (0.7, 1.5, "clubs")]}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be"])
def test_every_encoding_praat_and_other_tools_write_is_read(tmp_path, encoding):
    grid = textgrid({"Sprecher": [(0.1, 0.9, "zwei Mädchen")]}, encoding=encoding)
    if encoding == "utf-16-be":
        grid = b"\xfe\xff" + grid
    assert read(tmp_path, grid) == {"Sprecher": [(0.1, 0.9, "zwei Mädchen")]}


def test_tiers_without_a_name_or_with_a_repeated_one_get_names_of_their_own(tmp_path):
    content = textgrid({"": [(0.1, 0.5, "one")], "x": [(0.6, 0.9, "two")]}).replace(b'name = "x"', b'name = ""')
    assert read(tmp_path, content) == {"tier 1": [(0.1, 0.5, "one")], "tier 2": [(0.6, 0.9, "two")]}
    content = textgrid({"A": [(0.1, 0.5, "one")], "x": [(0.6, 0.9, "two")]}).replace(b'name = "x"', b'name = "A"')
    assert read(tmp_path, content) == {"A": [(0.1, 0.5, "one")], "A (2)": [(0.6, 0.9, "two")]}


def test_an_eaf_whose_only_tiers_are_an_old_alignment_says_so_through_its_words(tmp_path):
    with pytest.raises(TranscriptError) as refused:
        read(tmp_path, eaf({"phones": [(0.1, 0.5, "T")]}), "a.eaf")
    assert str(refused.value) == ("its only tier (phones) holds an alignment, not utterances: add a tier with the "
                                  "utterances (one tier per speaker)")


def refusal(tmp_path, content, name="a.TextGrid"):
    with pytest.raises(TranscriptError) as refused:
        read(tmp_path, content, name)
    return str(refused.value)


def test_a_textgrid_with_many_blank_lines_is_read_without_a_pass_over_them_per_line(tmp_path):
    # The check of a cut-off file once went over every following blank line from each line's start: 30 000
    # blank lines took 9 s, and these 200 000 would take minutes. A subprocess, so that the test stops by itself.
    path = tmp_path / "blank.TextGrid"
    path.write_bytes(textgrid({"A": [(0.1, 0.9, "ten of clubs")]}) + b"\n" * 200_000)
    program = ("import sys; from clamservices.utterances import read_tiers; "
               "print([(u.start, u.end, u.text) for t in read_tiers(sys.argv[1]) for u in t.utterances])")
    done = subprocess.run([sys.executable, "-c", program, str(path)], capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).parent.parent, check=True)
    assert done.stdout == "[(0.1, 0.9, 'ten of clubs')]\n"


@pytest.mark.parametrize("name, build", [("a.TextGrid", lambda tiers: textgrid(tiers, xmax=70)), ("a.eaf", eaf)])
def test_overlapping_utterances_on_one_tier_are_refused_with_the_tier_and_both_times(tmp_path, name, build):
    # Written back one after the other, the utterance inside the other would lose its words without a warning.
    content = build({"speaker A": [(0.5, 63.0, "ten of clubs and more"), (61.2, 62.0, "two of hearts")]})
    assert refusal(tmp_path, content, name) == (
        "on tier speaker A, the interval at 1:01.2–1:02.0 overlaps the one at 0:00.5–1:03.0: one tier holds one "
        "speaker's utterances one after the other; put overlapping speech on separate tiers")


def test_utterances_of_one_tier_that_overlap_by_a_few_milliseconds_are_read(tmp_path):
    grid = textgrid({"A": [(0.1, 0.905, "ten of clubs"), (0.9, 1.5, "two")]})
    assert read(tmp_path, grid) == {"A": [(0.1, 0.905, "ten of clubs"), (0.9, 1.5, "two")]}


def test_more_tiers_than_one_recording_has_are_refused_asking_whether_it_is_one_transcript(tmp_path):
    many = {f"speaker {n}": [(0.1, 0.9, "ten")] for n in range(101)}
    expected = ("it has 101 tiers, more than 100: is this the transcript of one recording? Give each recording a "
                "file of its own, with a tier per speaker")
    assert refusal(tmp_path, textgrid(many)) == expected
    assert refusal(tmp_path, textgrid(many, short=True)) == expected
    assert refusal(tmp_path, eaf(many), "a.eaf") == expected


def test_an_eaf_of_thousands_of_tiers_is_refused_before_its_xml_is_parsed(tmp_path):
    tier = ('<TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="t{}"/>')
    content = eaf({"A": [(0.1, 0.9, "ten")]}).replace(b"</ANNOTATION_DOCUMENT>", "".join(
        tier.format(n) for n in range(1001)).encode() + b"<not xml")
    assert refusal(tmp_path, content, "a.eaf") == (
        "it has 1002 tiers, more than 100: is this the transcript of one recording? Give each recording a file of "
        "its own, with a tier per speaker")


def test_more_utterances_than_one_recording_has_are_refused(tmp_path, monkeypatch):
    # The real limit (50 000) takes seconds of praatio's parsing to reach; the counting is the same.
    monkeypatch.setattr(utterances, "MAX_UTTERANCES", 3)
    grid = textgrid({"A": [(0.1, 0.2, "one"), (0.3, 0.4, "two")], "B": [(0.5, 0.6, "three"), (0.7, 0.8, "four")]})
    assert refusal(tmp_path, grid) == ("it has 4 utterances, more than 3: is this the transcript of one recording? "
                                       "Cut long recordings and their transcripts into parts")


@pytest.mark.parametrize("name, build", [("a.TextGrid", textgrid), ("a.eaf", eaf)])
def test_an_interval_with_a_label_longer_than_any_utterance_is_refused(tmp_path, name, build):
    content = build({"speaker A": [(1.0, 2.5, "word " * 2001)]})
    assert refusal(tmp_path, content, name) == (
        "on tier speaker A, the interval at 0:01.0–0:02.5 has 10004 characters, more than 10000: give each "
        "utterance an interval of its own")


def test_an_utterances_words_are_worked_out_once(tmp_path):
    (tmp_path / "a.TextGrid").write_bytes(textgrid({"A": [(0.1, 0.9, "ten of <noise> clubs")]}))
    [tier] = read_tiers(tmp_path / "a.TextGrid")
    [utterance] = tier.utterances
    assert [w.shown for w in utterance.words] == ["ten", "of", "clubs"]
    assert utterance.words is tier.utterances[0].words


def test_an_eaf_linked_to_its_recording_with_a_media_offset_gives_times_in_the_recording(tmp_path):
    # ELAN: an annotation at time t is at t + the media's offset (Time origin) in that recording.
    content = eaf({"A": [(0.1, 0.9, "ten")]},
                  media=[("talk.mp4", "video/mp4", 5000), ("talk.wav", "audio/x-wav", 1500)])
    assert read(tmp_path, content, "talk.eaf") == {"A": [(1.6, 2.4, "ten")]}
    # Renamed since: the only audio it is linked to.
    assert read(tmp_path, content, "other.eaf") == {"A": [(1.6, 2.4, "ten")]}
    assert read(tmp_path, eaf({"A": [(0.1, 0.9, "ten")]}), "talk.eaf") == {"A": [(0.1, 0.9, "ten")]}


def test_an_eaf_whose_linked_media_disagree_on_the_offset_is_refused(tmp_path):
    content = eaf({"A": [(0.1, 0.9, "ten")]}, media=[("x.wav", "audio/x-wav", 1500), ("y.wav", "audio/x-wav", 0)])
    assert refusal(tmp_path, content, "talk.eaf") == (
        "its linked media have different media offsets (Time origin), and none of them is named talk: in ELAN, set "
        "the media offset to 0 or link only the recording")


def test_negative_times_are_refused_though_praatio_reads_them_as_positive(tmp_path):
    textgrid_message = ("it has a time before 0 (a negative time): the recording starts at 0; in Praat, shift the "
                        "times (Modify times) so that none is negative and save it again")
    long_format = textgrid({"A": [(-2.0, 2.9, "hello there")]}, xmax=5)
    assert refusal(tmp_path, long_format) == textgrid_message
    assert refusal(tmp_path, textgrid({"A": [(-2.0, 2.9, "hello there")]}, xmax=5, short=True)) == textgrid_message
    eaf_message = ("it has a time before 0 (a negative time, or an annotation before the start of the recording "
                   "with its media offset): in ELAN, move or delete it and save the file again")
    negative = eaf({"A": [(0.1, 0.9, "ten")]}).replace(b'TIME_VALUE="100"', b'TIME_VALUE="-5000"')
    assert refusal(tmp_path, negative, "a.eaf") == eaf_message
    shifted = eaf({"A": [(0.1, 0.9, "ten")]}, media=[("a.wav", "audio/x-wav", -500)])
    assert refusal(tmp_path, shifted, "a.eaf") == eaf_message


def test_a_textgrid_extracted_with_its_times_kept_says_where_it_starts(tmp_path):
    content = textgrid({"A": [(120.5, 122.9, "hello there")]}, xmax=125).replace(b"xmin = 0\n", b"xmin = 120\n")
    (tmp_path / "a.TextGrid").write_bytes(content)
    assert [t.start for t in read_tiers(tmp_path / "a.TextGrid")] == [120.0]
