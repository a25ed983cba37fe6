"""The pieces of the bundled services, without a server."""

from pathlib import Path

import gruut_ipa
import numpy as np
import pocketsphinx
import pytest
import soundfile

from clamservices.aligner import Aligner, _base_word
from clamservices.arpabet import ARPABET_PHONES, PhoneMappingError, ipa_to_arpabet
from clamservices.audio import AudioError, load_audio
from clamservices.dictionaries import DictionaryError, format_dictionary, parse_dictionary
from clamservices.g2p import G2PError, pronounce
from clamservices.transcripts import TranscriptError, Word, dictionary_form, read_transcript, split_hyphenated, words_of
from tests.helpers import DATA



def test_words_keep_their_spelling_but_lose_surrounding_punctuation():
    words = words_of("  “Don’t,” said Mr. Dashwood — well-known;  ... 42!\n")
    assert [w.shown for w in words] == ["Don’t", "said", "Mr", "Dashwood", "well-known", "42"]
    assert [w.key for w in words] == ["don't", "said", "mr", "dashwood", "well-known", "42"]


def test_hyphenated_words_split_only_when_the_parts_are_known():
    known = {"well", "known"}.__contains__
    assert [w.key for w in split_hyphenated(Word("Well-known", "well-known"), known)] == ["well", "known"]
    assert split_hyphenated(Word("x-ray", "x-ray"), known) == [Word("x-ray", "x-ray")]


def test_elided_words_keep_their_apostrophes_when_the_dictionary_lists_them():
    known = {"'s", "'t", "goin'", "morgens", "huis", "hello", "s", "t"}.__contains__
    words = words_of("’s Morgens, 't huis. 'Hello,' goin' 'x")
    assert [(w.shown, w.key) for word in words for w in dictionary_form(word, known)] == [
        ("’s", "'s"), ("Morgens", "morgens"), ("'t", "'t"), ("huis", "huis"),
        ("Hello", "hello"), ("goin'", "goin'"), ("x", "x")]


def test_transcripts_must_be_utf8_text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbfhello\r\nworld")
    assert read_transcript(path) == "hello\r\nworld"
    path.write_bytes("café".encode("latin-1"))
    with pytest.raises(TranscriptError, match="not UTF-8"):
        read_transcript(path)
    path.write_bytes(b"abc\x00def")
    with pytest.raises(TranscriptError, match="NUL"):
        read_transcript(path)


def test_dictionary_parsing_and_formatting():
    text = ";;; comment\n# another\n\nHello HH AH L OW\nhello(2) HH EH L OW\n"
    entries = parse_dictionary(text, phone_set=ARPABET_PHONES)
    assert [(e.word, e.phones) for e in entries] == [
        ("hello", ("HH", "AH", "L", "OW")),
        ("hello", ("HH", "EH", "L", "OW")),
    ]
    assert format_dictionary({"hello": [["HH", "AH"], ["HH", "EH"]], "a": [["AH"]]}) == (
        "a AH\nhello HH AH\nhello(2) HH EH\n"
    )
    with pytest.raises(DictionaryError, match="line 2: a word needs at least one phone"):
        parse_dictionary("ok OW K EY\nlonely\n")
    with pytest.raises(DictionaryError, match="line 1: unknown phone 'AH0'"):
        parse_dictionary("a AH0\n", phone_set=ARPABET_PHONES)


def test_arpabet_phone_set_is_the_one_of_the_shipped_dictionary():
    cmudict = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    phones = set()
    for line in cmudict.read_text(encoding="utf-8", errors="replace").splitlines():
        phones.update(line.split()[1:])
    assert phones == set(ARPABET_PHONES)


def test_every_english_gruut_phoneme_maps_to_arpabet():
    for phoneme in gruut_ipa.Phonemes.from_language("en-us"):
        for stressed in (phoneme.text, "ˈ" + phoneme.text, "ˌ" + phoneme.text):
            assert set(ipa_to_arpabet([stressed])) <= ARPABET_PHONES, stressed
    with pytest.raises(PhoneMappingError, match="'ʀ'"):
        ipa_to_arpabet(["ʀ"])


def test_g2p_uses_the_lexicon_then_guesses():
    assert pronounce("Read", "en-us", 2) == [["R", "IY", "D"], ["R", "EH", "D"]]
    guessed = pronounce("equestria", "en-us", 3)
    assert len(guessed) == 1 and set(guessed[0]) <= ARPABET_PHONES
    with pytest.raises(G2PError, match="unsupported language"):
        pronounce("x", "fy")  # French is a mapped language since issue 18


def test_audio_is_mixed_down_and_resampled_to_16_khz(tmp_path):
    stereo = np.zeros((22050, 2), dtype=np.float32)
    stereo[:, 0] = 0.5
    soundfile.write(tmp_path / "a.flac", stereo, 22050)
    samples, duration = load_audio(tmp_path / "a.flac")
    assert duration == pytest.approx(1.0)
    assert abs(len(samples) - 16000) <= 2
    assert samples.dtype == np.int16
    assert abs(int(samples[8000]) - 8192) < 200  # (0.5 + 0) / 2 of full scale


@pytest.mark.parametrize(
    "content, message",
    [(b"", "cannot read"), (b"RIFF\x00\x00\x00\x00WAVEjunk", "cannot read"), (b"<html></html>", "cannot read")],
)
def test_unreadable_audio_says_so(tmp_path, content, message):
    (tmp_path / "x.wav").write_bytes(content)
    with pytest.raises(AudioError, match=message):
        load_audio(tmp_path / "x.wav")


@pytest.mark.parametrize("seconds, limit, message", [
    (3, 2, "it is 3 s long, 1 s more than the 2 s this service aligns per file"),
    (63, 62, "it is 1 min 3 s long, 1 s more than the 1 min 2 s this service aligns per file"),
    (121, 120, "it is 2 min 1 s long, 1 s more than the 2 minutes this service aligns per file"),
    (60.05, 60, "it is 1 min 1 s long, 1 s more than the 1 minute this service aligns per file"),
])
def test_audio_longer_than_the_limit_is_refused(tmp_path, seconds, limit, message):
    soundfile.write(tmp_path / "long.wav", np.zeros(int(16000 * seconds), dtype=np.int16), 16000)
    with pytest.raises(AudioError) as refused:
        load_audio(tmp_path / "long.wav", max_seconds=limit)
    assert str(refused.value) == message


class Seg:
    def __init__(self, word, start, end):
        self.word, self.start_frame, self.end_frame = word, start, end


def test_phone_pass_chunks_are_cut_in_long_pauses_only():
    # Three words, a long pause after the second: with 2-second chunks the cut
    # falls in the middle of that pause, never inside a word.
    segments = [Seg("a", 0, 100), Seg("b", 101, 180), Seg("c", 300, 400)]
    chunks = Aligner._chunks(None, segments, chunk_frames=200)
    assert chunks == [(0, 240, [0, 1]), (240, None, [2])]
    assert Aligner._chunks(None, segments, chunk_frames=1000) == [(0, None, [0, 1, 2])]


def test_chunked_and_whole_phone_passes_agree_on_real_speech():
    # Two recordings with a second of quiet between them: with 2-second
    # chunks the phone pass runs in two pieces, cut in that pause.
    aligner = Aligner()
    first, _ = load_audio(DATA / "cards-001.wav")
    second, _ = load_audio(DATA / "cards-002.wav")
    quiet = (np.random.default_rng(0).standard_normal(16000) * 5).astype(np.int16)
    samples = np.concatenate([first, quiet, second])
    words = words_of((DATA / "cards-001.txt").read_text() + " " + (DATA / "cards-002.txt").read_text())
    _, found = aligner._word_pass(samples, [w.key for w in words])
    assert len(aligner._chunks([segment for _, segment in found], 200)) == 2

    whole = aligner.align(samples, words, chunk_seconds=60)
    chunked = aligner.align(samples, words, chunk_seconds=2)
    assert [w.label for w in chunked.words] == [w.label for w in whole.words] == [w.shown for w in words]
    # Not every boundary to 50 ms: where one phone pass fails and a retry (padded, or on other
    # noise of the same level) succeeds, a boundary may move by up to ~0.2 s (seen: the leading
    # silence given to "ten", the end of "four"); the median stays within 20 ms.
    differences = [abs(a.start - b.start) for a, b in zip(chunked.words, whole.words)] + [
        abs(a.end - b.end) for a, b in zip(chunked.words, whole.words)
    ]
    assert sorted(differences)[len(differences) // 2] <= 0.02 and max(differences) <= 0.2
    assert [p.label for p in chunked.phones] == [p.label for p in whole.phones]
    assert _base_word("to(3)") == "to"


CLAM_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<clam xmlns:xlink="http://www.w3.org/1999/xlink" version="3.2.14" id="equestria_fa" project="p" user="u">
    <parameters>
        <parametergroup name="Output">
            <BooleanParameter id="phone_tier" name="Phone tier" default="1" value="False" />
            <BooleanParameter id="other_flag" name="Other" default="1" />
            <ChoiceParameter id="textgrid_format" name="TextGrid format"> <choice id="long">Long</choice>
              <choice id="short" selected="1">Short</choice></ChoiceParameter>
            <StringParameter id="silence_label" name="Silence label" default="" value="sil" />
        </parametergroup>
        <parametergroup name="Alignment">
            <FloatParameter id="chunk_seconds" name="Chunk" default="20.0" value="15.0" />
            <IntegerParameter id="max_minutes" name="Longest" default="60" />
        </parametergroup>
    </parameters>
    <input>
        <file xlink:type="simple" xlink:href="http://x/p/input/a.txt" template="transcript"><name>a.txt</name></file>
        <file xlink:type="simple" xlink:href="http://x/p/input/a.wav" template="audio"><name>a.wav</name></file>
    </input>
</clam>
"""


def test_the_job_data_file_is_read_as_clam_reads_it(tmp_path):
    """clamservices.clamdata reads what a CLAM 3.2 service writes (this is one, trimmed)."""
    from clamservices.clamdata import ClamData

    (tmp_path / "clam.xml").write_text(CLAM_XML)
    data = ClamData(tmp_path / "clam.xml")
    assert data.get("phone_tier", True) is False
    assert data.get("other_flag") is True  # not set: its default
    assert data.get("textgrid_format") == "short"
    assert data.get("silence_label") == "sil"
    assert data.get("chunk_seconds") == 15.0
    assert data.get("max_minutes") == 60
    assert data.get("unknown", "fallback") == "fallback"
    assert data.inputfiles("audio") == [tmp_path / "input" / "a.wav"]
    assert data.inputfiles("transcript") == [tmp_path / "input" / "a.txt"]
    assert data.inputfiles("dictionary") == []


def test_dutch_elided_articles_are_aligned_as_the_lexicon_says_not_as_letters():
    from clamservices import languages
    from clamservices.fa_job import _words

    aligner = Aligner(languages.MappedLexicon("nl"))
    split, unknown = _words(aligner, words_of("’s Morgens zag ik 't huis"), {}, spoken=False)
    assert [w.key for w in split] == ["'s", "morgens", "zag", "ik", "'t", "huis"] and unknown == []
    # The letter s is "ɛ s"; the article 's is one phone.
    assert len(aligner.phones_of("'s")) == 1 and len(aligner.phones_of("s")) == 2


def test_english_g2p_reads_accented_loanwords_as_their_plain_spelling_without_dropping_letters():
    # gruut's English guesser dropped the accented letters: café → K AH F, naïve → N AA V.
    assert ["K", "AE", "F", "EY"] in pronounce("café", "en-us", 2)
    assert pronounce("Café", "en-us", 2) == pronounce("cafe", "en-us", 2)
    assert pronounce("naïve") == [["N", "AY", "IY", "V"]]
    assert pronounce("résumé", "en-us", 3) == pronounce("resume", "en-us", 3)
    assert pronounce("fiancée") == pronounce("fiancee")
    for word in ("rôle", "Zoë", "Brontë", "déjà"):
        plain = pronounce(word.replace("ô", "o").replace("ë", "e").replace("é", "e").replace("à", "a"))
        assert pronounce(word) == plain, word
    # The other languages keep their own accented letters (their lexicons list them so).
    assert ["eː", "n"] in pronounce("één", "nl", 2) and pronounce("één", "nl", 2) != pronounce("een", "nl", 2)
    assert pronounce("für", "de") == [["f", "yː", "ɐ"]]
    assert pronounce("été", "fr") == [["e", "t", "e"]]


def test_the_aligner_knows_an_accented_english_word_whose_plain_spelling_is_in_its_dictionary():
    from clamservices.fa_job import _words
    from clamservices.lexicon import Lexicon

    lexicon = Lexicon()
    assert lexicon.pronunciations("café") == lexicon.pronunciations("cafe") == ["K AH F EY", "K AE F EY"]
    assert lexicon.pronunciations("naïve") == lexicon.pronunciations("naive") != []
    assert lexicon.pronunciations("zorblaté") == []
    aligner = Aligner()
    split, unknown = _words(aligner, words_of("A naïve Café, déjà vu."), {})
    assert unknown == []
    assert [(w.shown, w.key) for w in split] == [("A", "a"), ("naïve", "naïve"), ("Café", "café"), ("déjà", "déjà"),
                                                 ("vu", "vu")]
    assert aligner.phones_of("café") == ["K", "AH", "F", "EY"]


def test_english_possessives_of_known_words_are_known_by_the_plural_rule():
    from clamservices.fa_job import _words
    from clamservices.lexicon import Lexicon

    lexicon = Lexicon()
    # None of these is in the CMU dictionary; their base words are.
    assert lexicon.pronunciations("keeper's") == ["K IY P ER Z"]  # after a vowel or voiced consonant: Z
    assert lexicon.pronunciations("lamp's") == ["L AE M P S"]  # after a voiceless consonant: S
    assert lexicon.pronunciations("bath's") == ["B AE TH S"]
    assert lexicon.pronunciations("box's") == ["B AA K S IH Z"]  # after a sibilant: IH Z
    assert lexicon.pronunciations("garage's") == ["G ER AA ZH IH Z"]
    assert lexicon.pronunciations("café's") == ["K AH F EY Z", "K AE F EY Z"]
    # The dictionary's own entries stay as they are; an unknown base gives nothing.
    assert lexicon.pronunciations("it's") == ["IH T S"]
    assert lexicon.pronunciations("zorblat's") == []
    aligner = Aligner()
    split, unknown = _words(aligner, words_of("The keeper’s lamp's light and the keepers' books."), {})
    assert unknown == []
    # A plural possessive the dictionary lacks is its base word (the apostrophe is the quote's, or the plural's).
    assert [w.shown for w in split] == ["The", "keeper’s", "lamp's", "light", "and", "the", "keepers", "books"]
    assert aligner.phones_of("keeper's") == ["K", "IY", "P", "ER", "Z"]


def test_a_run_of_unplaced_words_in_a_stretch_within_one_second_is_placed_at_that_time():
    from clamservices.aligner import _unplaced
    from clamservices.longaudio import Segment

    words = words_of("one two three four five six seven eight nine ten eleven")
    frames = {0: 9700, 1: 9740, 2: 9780, 8: 9830, 9: 9860, 10: 9890}  # words 4–8 missing between 98.0 s and 98.3 s
    found = [(i, Segment(words[i].key, start, start + 19, 1.0)) for i, start in frames.items()]
    assert _unplaced(words, found, 100.0) == [
        "words 4–8 (“four” … “eight”) could not be placed at 1:38; check the transcript there"]
    frames[8] = 9900  # 99.0 s: another second
    found = [(i, Segment(words[i].key, start, start + 19, 1.0)) for i, start in frames.items()]
    assert _unplaced(words, found, 100.0) == [
        "words 4–8 (“four” … “eight”) could not be placed between 1:38 and 1:39; check the transcript there"]
