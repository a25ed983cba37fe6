"""clamservices.utterances, the one reader of transcripts given as TextGrid or EAF tiers (the upload check and the
aligner both use it): which tiers are utterances, and a result given back as a transcript."""

import pytest

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
