"""The bundled aligner's TextGrid writer: byte for byte what praatio writes, one tier in memory at a time.

praatio's own `save` held a two-hour result's grid, dictionary and text at once (75 MB more than ten
minutes), so clamservices.textgrids writes the file itself with praatio's formatting; praatio stays the
reference here.
"""

import pytest
from praatio import textgrid

from clamservices.aligner import Alignment, Interval
from clamservices.textgrids import CONFIDENCE_SUFFIX, FORMATS, _confidence_label, _contiguous, write_textgrid


def _alignment():
    words = [Interval(0.0, 0.31, "ten", -3.0, 0.9), Interval(0.3, 0.62, 'say "hi"', -4.0, None),
             Interval(0.8, 1.25, "Ünïcödé", -2.0, 0.12345)]
    phones = [Interval(0.0, 0.1, "T", -1.0, 0.5), Interval(0.1, 0.31, "EH", -1.0, 0.25),
              Interval(0.31, 0.5, "SIL", 0.0, None), Interval(0.8, 1.25, "UW", -1.0, 1.0)]
    return Alignment(words, phones, [], [])


def _praatio_bytes(path, alignment, duration, phones, text_format, silence_label):
    """What the writer wrote before: the grid built and saved by praatio."""
    duration = round(duration, 4)
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
    tiers = [("words", alignment.words)]
    if phones:
        tiers.append(("phones", [p for p in alignment.phones if p.label != "SIL"]))
    for name, intervals in tiers:
        grid.addTier(textgrid.IntervalTier(name, _contiguous(intervals, duration, silence_label), 0.0, duration))
    for name, intervals in tiers:
        if any(i.confidence is not None for i in intervals):
            grid.addTier(textgrid.IntervalTier(name + CONFIDENCE_SUFFIX,
                                               _contiguous(intervals, duration, "", _confidence_label), 0.0, duration))
    grid.save(str(path), format=FORMATS[text_format], includeBlankSpaces=False)
    return path.read_bytes()


@pytest.mark.parametrize("text_format", ["long", "short"])
@pytest.mark.parametrize("phones, silence_label, duration", [(True, "", 2.0), (False, "sil", 1.33333), (True, "#", 1.25)])
def test_the_textgrid_is_byte_for_byte_what_praatio_writes(tmp_path, text_format, phones, silence_label, duration):
    alignment = _alignment()
    write_textgrid(tmp_path / "ours.TextGrid", alignment, duration, phones=phones, text_format=text_format,
                   silence_label=silence_label)
    expected = _praatio_bytes(tmp_path / "praatio.TextGrid", alignment, duration, phones, text_format, silence_label)
    assert (tmp_path / "ours.TextGrid").read_bytes() == expected
    grid = textgrid.openTextgrid(str(tmp_path / "ours.TextGrid"), includeEmptyIntervals=False)
    labels = [e.label for e in grid.getTier("words").entries if e.label != silence_label]
    assert labels == ["ten", 'say "hi"', "Ünïcödé"]


def test_a_tiered_transcripts_result_keeps_its_tiers_and_adds_words_and_phones_per_tier(tmp_path):
    from clamservices.textgrids import write_tiered_textgrid
    from clamservices.utterances import Tier, Utterance

    speaker_a = Tier("speaker A", [Utterance(0.0, 0.2, "<noise>"), Utterance(0.25, 1.3, 'ten say "hi" Ünïcödé')])
    speaker_b = Tier("speaker B", [Utterance(0.9, 1.6, "seven")])
    silent = Tier("comments", [Utterance(1.0, 1.5, "[laughs]")])  # no utterance with words: no tiers of its own
    seven = Alignment([Interval(1.0, 1.5, "seven", -2.0, 0.5)], [Interval(1.0, 1.5, "S", -1.0, None)])
    for text_format in FORMATS:
        path = tmp_path / f"{text_format}.TextGrid"
        write_tiered_textgrid(path, [(speaker_a, _alignment()), (speaker_b, seven), (silent, None)], 2.0,
                              text_format=text_format, silence_label="sil")
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=True)
        assert list(grid.tierNames) == [
            "speaker A", "speaker A - words", "speaker A - phones", "speaker B", "speaker B - words",
            "speaker B - phones", "comments", "speaker A - words confidence", "speaker A - phones confidence",
            "speaker B - words confidence",  # the phones of B have no confidence
        ]
        # The input tiers as they came, the gaps empty (not the silence label, which is the word tiers').
        assert [tuple(e) for e in grid.getTier("speaker A").entries] == [
            (0.0, 0.2, "<noise>"), (0.2, 0.25, ""), (0.25, 1.3, 'ten say "hi" Ünïcödé'), (1.3, 2.0, "")]
        assert [e.label for e in grid.getTier("speaker B - words").entries] == ["sil", "seven", "sil"]
        assert [e.label for e in grid.getTier("speaker A - words").entries if e.label != "sil"] == [
            "ten", 'say "hi"', "Ünïcödé"]
        assert [e.label for e in grid.getTier("speaker A - phones").entries if e.label != "sil"] == ["T", "EH", "UW"]
        values = grid.getTier("speaker A - words confidence").entries
        assert [(v.start, v.end) for v in values] == [(e.start, e.end) for e in grid.getTier("speaker A - words").entries]
        # The exports pair each confidence tier with its tier, as for a plain transcript's result.
        from pipelines.exports import read_result

        result = read_result(path, recording="r.wav", result=path.name)
        names = [t.name for t in result.tiers]
        assert "speaker A - words confidence" not in names and "speaker A - words" in names
        words = next(t for t in result.tiers if t.name == "speaker A - words")
        assert [s.confidence for s in words.spans if s.label != "sil"] == [0.9, None, 0.123]


def test_a_tiered_result_counts_the_words_it_writes_not_those_it_trims_away(tmp_path):
    # The report's "words_aligned" is this count: a word with no time of its own left (inside the one before it,
    # or past the recording's end) is not in the file, so it is not counted as aligned.
    from clamservices.textgrids import write_tiered_textgrid
    from clamservices.utterances import Tier, Utterance

    speaker = Tier("speaker A", [Utterance(0.0, 1.9, "ten of clubs two")])
    words = [Interval(0.0, 1.0, "ten", -1.0, 0.9), Interval(0.2, 0.6, "of", -1.0, 0.9),
             Interval(1.0, 1.5, "clubs", -1.0, 0.9), Interval(2.1, 2.4, "two", -1.0, 0.9)]
    written = write_tiered_textgrid(tmp_path / "a.TextGrid", [(speaker, Alignment(words, []))], 2.0)
    grid = textgrid.openTextgrid(str(tmp_path / "a.TextGrid"), includeEmptyIntervals=False)
    assert [e.label for e in grid.getTier("speaker A - words").entries] == ["ten", "clubs"]
    assert written == 2
