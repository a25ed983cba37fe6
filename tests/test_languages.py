"""Languages beyond English (issue 18): mapping tables, the mapped dictionary, and the aligner's job in Dutch and German.

The recordings are made here with espeak-ng's voices of the language (Debian's espeak-ng, as the
benchmarks use); the jobs run as the service runs them (tests/fajob.py), the G2P on the real service.
"""

import base64
import importlib
import sqlite3
import subprocess
from pathlib import Path

import pycrfsuite
import pytest
from praatio import textgrid

from clamservices import languages, phonemap
from clamservices.aligner import Alignment, Interval
from clamservices.arpabet import ARPABET_PHONES
from clamservices.g2p import pronounce
from tests.clamservers import run_job as run_service_job
from tests.fajob import make_job, run_job


def gruut_phones(code):
    """Every phone gruut can give for `code`: those of its lexicon and the labels of its guesser (CRF model)."""
    folder = Path(importlib.import_module(languages.LANGUAGES[code].package).get_lang_dir())
    found = set()
    with sqlite3.connect(f"file:{folder / 'lexicon.db'}?mode=ro", uri=True) as db:
        for (phonemes,) in db.execute("SELECT phonemes FROM word_phonemes"):
            found.update(phonemap.bare(p) for p in phonemes.split())
    tagger = pycrfsuite.Tagger()
    tagger.open(str(folder / "g2p" / "model.crf"))
    for label in tagger.labels():  # base64 of phonemes joined by "|"; "_" is no phoneme
        found.update(phonemap.bare(p) for p in base64.b64decode(label).decode().split("|") if p != "_")
    return found - phonemap.NOT_PHONES - {""}


@pytest.mark.parametrize("code", languages.MAPPED)
def test_every_phone_gruut_can_produce_is_mapped_to_one_or_two_english_phones(code):
    produced = gruut_phones(code)
    assert produced, "no phones read from the language package"
    assert produced <= set(phonemap.TABLES[code]), sorted(produced - set(phonemap.TABLES[code]))
    for phone, mapped in phonemap.TABLES[code].items():
        assert 1 <= len(mapped) <= 2 and set(mapped) <= ARPABET_PHONES, (phone, mapped)


def test_the_mapping_uses_the_phones_of_the_acoustic_model():
    assert phonemap.ARPABET == ARPABET_PHONES


def test_the_services_offer_every_mapped_language():
    from clamservices.config import forced_alignment, g2p

    def choices(config, name):
        parameter = next(p for _, group in config.PARAMETERS for p in group if p.id == name)
        return dict(parameter.choices)

    assert set(choices(g2p, "language")) == set(languages.LANGUAGES)
    fa = choices(forced_alignment, "language")
    assert set(fa) == set(languages.LANGUAGES)
    assert fa["nl"] == "Dutch (approximate)" and fa["en-us"] == "English (US)"


def test_the_mapped_dictionary_is_gruuts_lexicon_without_stress_marks_with_variants():
    lexicon = languages.MappedLexicon("nl")
    assert lexicon.ipa("huis") == [("h", "œː", "y", "s"), ("h", "œː", "ʏ", "s"), ("h", "œː", "s")]
    assert lexicon.pronunciations("huis")[0] == "HH EH IY S"
    assert lexicon.ipa("slaapt") == []


def test_g2p_gives_every_mapped_language_in_its_own_phones():
    assert pronounce("pfeffer", "de") == [["p͡f", "ɛ", "f", "ɐ"]]
    assert pronounce("bonjour", "fr") == [["b", "ɔ̃", "ʒ", "u", "ʁ"]]
    for code, word in (("nl", "equestriaans"), ("es", "equestriano"), ("it", "equestriano")):
        (phones,) = pronounce(word, code)
        assert set(phones) <= languages.phones(code), (code, phones)


def test_a_phone_mapped_to_two_english_phones_is_one_interval_again():
    phones = [Interval(0.0, 0.05, "P", confidence=0.2), Interval(0.05, 0.12, "F", confidence=0.6),
              Interval(0.12, 0.2, "EH"), Interval(0.2, 0.3, "F"), Interval(0.3, 0.4, "AH", confidence=0.9)]
    alignment = Alignment([Interval(0.0, 0.4, "Pfeffer")], phones)
    variants = lambda word: [phonemap.to_arpabet("de", ["p͡f", "ɛ", "f", "ɐ"])]  # noqa: E731
    result = languages.ipa_alignment(alignment, variants)
    assert [(p.start, p.end, p.label) for p in result.phones] == [
        (0.0, 0.12, "p͡f"), (0.12, 0.2, "ɛ"), (0.2, 0.3, "f"), (0.3, 0.4, "ɐ")]
    assert result.phones[0].confidence == pytest.approx(0.4)
    assert result.words == alignment.words


def speak(folder, name, voice, text):
    """`name`.wav spoken by espeak-ng's `voice`, with its transcript `name`.txt."""
    wav, txt = folder / f"{name}.wav", folder / f"{name}.txt"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, timeout=60)
    txt.write_text(text + "\n", encoding="utf-8")
    return wav, txt


def tiers(path):
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    return {name: [e.label for e in grid.getTier(name).entries] for name in grid.tierNames}


DUTCH = "De kat zit op de mat en de hond slaapt in het huis"


def test_a_dutch_recording_is_aligned_with_dutch_phones_after_its_unknown_word_gets_a_pronunciation(tmp_path):
    wav, txt = speak(tmp_path, "kat", "nl", DUTCH)
    first = run_job(make_job(tmp_path / "first", [wav, txt], language="nl"))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "first/output/oov.txt").read_text(encoding="utf-8") == "slaapt\n"

    # The G2P step's proposal, in the review's form: Dutch IPA.
    (proposal,) = pronounce("slaapt", "nl")
    extra = tmp_path / "equestria.dict"
    extra.write_text(f"slaapt {' '.join(proposal)}\n", encoding="utf-8")
    second = run_job(make_job(tmp_path / "second", [wav, txt, extra], language="nl"))
    assert second.returncode == 0, second.stderr
    grid = tiers(tmp_path / "second/output/kat.TextGrid")
    assert grid["words"] == DUTCH.split()
    assert grid["phones"] == ("d ə k ɑ t z ɪ t ɔ p d ə m ɑ t ɛ n d ə h ɔ n t " + " ".join(proposal)
                              + " ɪ n ə t h œː y s").split()
    assert set(grid["phones confidence"]) - {""}, "the mapped phones keep their confidence"


def test_a_dictionary_line_in_english_phones_is_refused_in_a_dutch_job_with_the_phones_it_takes(tmp_path):
    wav, txt = speak(tmp_path, "kat", "nl", DUTCH)
    extra = tmp_path / "equestria.dict"
    extra.write_text("slaapt S L AA P T\n", encoding="utf-8")
    result = run_job(make_job(tmp_path / "job", [wav, txt, extra], language="nl"))
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "job/output/report.json").read_text(encoding="utf-8")
    phones = " ".join(sorted(languages.phones("nl")))
    assert f"equestria.dict, line 1: unknown phone 'S' for 'slaapt'; this aligner's phones are {phones}" in report
    assert (tmp_path / "job/output/oov.txt").read_text(encoding="utf-8") == "slaapt\n"


def test_a_german_affricate_is_one_phone_of_the_tier(tmp_path):
    wav, txt = speak(tmp_path, "pfeffer", "de", "Wir kaufen Pfeffer und Salz")
    result = run_job(make_job(tmp_path / "job", [wav, txt], language="de"))
    assert result.returncode == 0, result.stderr
    grid = tiers(tmp_path / "job/output/pfeffer.TextGrid")
    assert grid["words"] == ["Wir", "kaufen", "Pfeffer", "und", "Salz"]
    assert "p͡f" in grid["phones"] and not {"P", "F"} & set(grid["phones"])


def test_an_unknown_language_fails_the_job_with_the_choices(tmp_path):
    wav, txt = speak(tmp_path, "kat", "nl", "De kat")
    result = run_job(make_job(tmp_path / "job", [wav, txt], language="fy"))
    assert result.returncode != 0
    assert "unsupported language 'fy'; choose one of en-us, nl, de, fr, es, it" in \
        (tmp_path / "job/output/alignment.log").read_text(encoding="utf-8") + result.stderr


def test_the_g2p_service_transcribes_german_words(g2p_service, tmp_path):
    wordlist = tmp_path / "oov.txt"
    wordlist.write_text("pfeffer\n", encoding="utf-8")
    result = run_service_job(g2p_service, [(wordlist, "wordlist")], {"language": "de"})
    assert not result.failed
    assert result.text("g2p.dict") == "pfeffer p͡f ɛ f ɐ\n"


@pytest.mark.parametrize("code", languages.MAPPED)
def test_every_phone_of_a_mapped_language_has_an_x_sampa_name_in_ascii(code):
    names = {phone: languages.xsampa(phone) for phone in phonemap.TABLES[code]}
    assert all(name.isascii() and name and ", " not in name for name in names.values()), names
    assert len(set(names.values())) == len(names), "two phones would look alike"


def test_the_phone_tier_can_be_written_in_x_sampa(tmp_path):
    wav, txt = speak(tmp_path, "kat", "nl", "De kat zit in het huis")
    result = run_job(make_job(tmp_path / "job", [wav, txt], language="nl", phone_alphabet="xsampa"))
    assert result.returncode == 0, result.stderr
    grid = tiers(tmp_path / "job/output/kat.TextGrid")
    assert grid["phones"] == "d @ k A t z I t I n @ t h 9: y s".split()


def test_dutch_recordings_aligned_by_the_job_s_pool_of_processes_get_dutch_phones(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAM_SERVICES_ALIGN_PROCESSES", "2")  # two recordings: the pool aligns them
    first = speak(tmp_path, "kat", "nl", "De kat zit in het huis")
    second = speak(tmp_path, "hond", "nl", "De hond zit op de mat")
    result = run_job(make_job(tmp_path / "job", [*first, *second], language="nl"))
    assert result.returncode == 0, result.stderr
    assert tiers(tmp_path / "job/output/kat.TextGrid")["phones"] == "d ə k ɑ t z ɪ t ɪ n ə t h œː y s".split()
    assert tiers(tmp_path / "job/output/hond.TextGrid")["phones"] == "d ə h ɔ n t z ɪ t ɔ p d ə m ɑ t".split()


def test_stress_marks_in_a_dutch_dictionary_are_dropped(tmp_path):
    wav, txt = speak(tmp_path, "kat", "nl", "De kat slaapt")
    extra = tmp_path / "own.dict"
    extra.write_text("slaapt s l ˈa p t\n", encoding="utf-8")
    result = run_job(make_job(tmp_path / "job", [wav, txt, extra], language="nl"))
    assert result.returncode == 0, result.stderr
    assert tiers(tmp_path / "job/output/kat.TextGrid")["phones"] == "d ə k ɑ t s l a p t".split()


@pytest.mark.parametrize("processes", ["1", "2"], ids=["in-turn", "pool"])
def test_a_dutch_recording_with_a_textgrid_of_two_speakers_gets_dutch_phones_per_speaker(tmp_path, monkeypatch,
                                                                                          processes):
    """Issue 17's utterance tiers and issue 18's mapped languages together: each speaker's phones in Dutch IPA."""
    import numpy as np
    import soundfile

    from tests.utterance_files import textgrid as textgrid_bytes

    monkeypatch.setenv("CLAM_SERVICES_ALIGN_PROCESSES", processes)
    turns = [("spreker A", "De kat zit in het huis"), ("spreker B", "De hond zit op de mat")]
    samples, spans, time = [], {}, 0.5
    for number, (speaker, text) in enumerate(turns):
        wav, _ = speak(tmp_path, f"turn{number}", "nl", text)
        audio, rate = soundfile.read(str(wav), dtype="int16")
        samples += [] if samples else [np.zeros(int(0.5 * rate), dtype=np.int16)]
        seconds = len(audio) / rate
        spans[speaker] = [(round(time, 3), round(time + seconds, 3), text)]
        samples += [audio, np.zeros(int(0.5 * rate), dtype=np.int16)]
        time += seconds + 0.5
    soundfile.write(str(tmp_path / "gesprek.wav"), np.concatenate(samples), rate, subtype="PCM_16")
    (tmp_path / "gesprek.TextGrid").write_bytes(textgrid_bytes(spans, xmax=round(time, 3), encoding="utf-16"))
    # With a .txt pair too: two recordings, so the pool aligns them when it has two processes (trial: the
    # utterances' task carried the Dutch lexicon's SQLite connection, which cannot be pickled: the job failed).
    (tmp_path / "plain").mkdir()
    plain = speak(tmp_path / "plain", "kat", "nl", "De kat zit op de mat")
    result = run_job(make_job(tmp_path / "job", [tmp_path / "gesprek.wav", tmp_path / "gesprek.TextGrid", *plain],
                              language="nl"))
    assert result.returncode == 0, result.stderr
    assert tiers(tmp_path / "job/output/kat.TextGrid")["phones"] == "d ə k ɑ t z ɪ t ɔ p d ə m ɑ t".split()
    grid = tiers(tmp_path / "job/output/gesprek.TextGrid")
    assert grid["spreker A - words"] == turns[0][1].split() and grid["spreker B - words"] == turns[1][1].split()
    # The variant of "het" (ət or hɛt) is the aligner's choice by the audio; the rest is the lexicon's only one.
    assert " ".join(grid["spreker A - phones"]) in ("d ə k ɑ t z ɪ t ɪ n ə t h œː y s", "d ə k ɑ t z ɪ t ɪ n h ɛ t h œː y s")
    assert grid["spreker B - phones"] == "d ə h ɔ n t z ɪ t ɔ p d ə m ɑ t".split()


def test_a_guessed_pronunciation_has_no_doubled_phone_where_the_language_has_no_long_consonants():
    """Reviewer: gruut's German guesser gave "fuß" f ʊ s s and "Fußball" f ʊ s s b a l l (ß is in no lexicon entry)."""
    assert pronounce("fußball", "de") == [["f", "ʊ", "s", "b", "a", "l"]]
    assert pronounce("fatto", "it") == [["f", "a", "t", "t", "o"]]  # Italian's long t stays


def test_a_mapped_language_that_does_not_match_says_the_model_is_approximate(tmp_path):
    """Reviewer: "is it the right transcript?" alone sent users of a mapped language the wrong way."""
    import json

    wav, txt = speak(tmp_path, "kat", "nl", "De kat zit op de mat en de hond slaapt in het huis")
    txt.write_text("Vader en moeder gaan met een boek naar school over het water bij de boom\n", encoding="utf-8")
    result = run_job(make_job(tmp_path / "job", [wav, txt], language="nl"))
    assert result.returncode == 0, result.stderr
    [entry] = json.loads((tmp_path / "job/output/report.json").read_text(encoding="utf-8"))["recordings"]
    assert entry["code"] == "no_match", entry
    assert entry["reason"].endswith("(this language is aligned approximately, its phones mapped to an English "
                                    "acoustic model: fast or connected speech is often not found; shorter "
                                    "recordings may align)")
