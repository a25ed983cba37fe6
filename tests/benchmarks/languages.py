"""Accuracy of the mapped languages (Dutch, German, French) against English-native, on known word boundaries (issue 18).

    .venv/bin/python -m tests.benchmarks.languages [--count 16]        (or: make bench)

The same kind of material as tests/benchmarks/alignment_accuracy.py (tests/alignment_material.py):
each word synthesised separately by espeak-ng's voice of the language, trimmed to its speech, joined
with gaps of 0, 50, 150 or 400 ms, half of the files under white noise at 30 dB SNR, two speeds. The
words are common words of the language that gruut's lexicon knows (English: the accuracy benchmark's
list, which the CMU dictionary knows), so that every word has its dictionary pronunciation, as most
words of a real transcript have. English is aligned natively; the others as the service aligns them
with its language parameter: gruut's pronunciation, mapped to the English model's phones
(clamservices/phonemap.py). Goal: Dutch-mapped within 10 percentage points of English-native within 50 ms.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests import alignment_material
from tests.benchmarks.aligner_speed import write_section
from tests.benchmarks.alignment_accuracy import _pct, score

SPEEDS = (140, 175)
VOICES = {"en-us": "en-us", "nl": "nl", "de": "de", "fr": "fr"}
# Common words of each language (everyday nouns, verbs, adjectives and function words), kept where gruut's
# lexicon knows them, spelled as the language spells them (espeak-ng reads "pere" otherwise than "père").
WORDS = {
    "nl": """de het een en van in is dat op te zijn met voor niet aan er maar om ook als dan bij nog
        uit wat door over naar kan zo moet heb was wel goed huis water vader moeder kind school stad land
        brood kaas melk appel boek tafel stoel deur raam fiets trein straat boom bloem hond kat vogel paard
        zomer winter morgen avond nacht dag week jaar werk geld vriend familie groot klein oud nieuw mooi
        lang kort warm koud snel langzaam lopen werken spelen lezen schrijven zingen slapen eten drinken""",
    "de": """der die das und in zu den von mit sich des auf nicht ein eine als auch es an er so dass
        aus bei nach wie wir haben sein werden Haus Wasser Vater Mutter Kind Schule Stadt Land Brot Milch
        Apfel Buch Tisch Stuhl Fenster Garten Baum Blume Hund Katze Vogel Pferd Sommer Winter Morgen Abend
        Nacht Woche Jahr Arbeit Geld Freund Familie groß klein alt neu lang kurz warm kalt schnell langsam
        laufen arbeiten spielen lesen schreiben singen schlafen essen trinken Straße""",
    "fr": """le la les de des un une et est en que qui dans pour pas sur avec plus par mais nous vous ils
        elle maison eau pain lait pomme livre table chaise porte fenêtre jardin arbre fleur chien chat oiseau
        cheval soleil lune matin soir nuit jour semaine travail ami famille grand petit vieux beau long court
        chaud froid vite lire chanter dormir manger boire ville pays rue école enfant père mère""",
}

# What the figures show, written after a run (the numbers in it are of that run: rewrite it when they change).
NOTE = (
    "Where the mapped languages lose: words spoken without a pause between them (\"next to 0 ms\"), and words "
    "whose gruut pronunciation is not what espeak-ng says (German \"ein\" is `a eː n` in gruut's lexicon, "
    "\"kaufen\" `k a oː f ə n`; such a word's neighbours take the mismatch). The uvular ʁ of French mapped to HH "
    "rather than R (clamservices/phonemap.py) raised French from 78.2 % to 87.8 % within 50 ms on this material; "
    "German stayed at 90.7 %. Each language's voice is espeak-ng's, so these are figures of the mapping on one "
    "synthetic speaker per language, not of real speech."
)


def vocabulary(code):
    """The benchmark's words of `code` that its dictionary knows, in a fixed order."""
    if code == "en-us":
        return alignment_material.vocabulary()
    from clamservices.languages import MappedLexicon

    lexicon = MappedLexicon(code)
    words = dict.fromkeys(w.lower() for w in WORDS[code].split())
    left_out = [w for w in words if not lexicon.ipa(w)]
    if left_out:  # the material has only words the lexicon knows: say which were left out, not measured
        print(f"{code}: not in gruut's lexicon, left out of the material: {', '.join(left_out)}", flush=True)
    return tuple(w for w in words if w not in left_out)


def recording(code, name, seed, speed, noisy):
    """As alignment_material.recording, with the words of `code` spoken by its espeak-ng voice."""
    rng = np.random.default_rng(seed)
    words = list(vocabulary(code))
    chosen = [words[i] for i in rng.choice(len(words), size=int(rng.integers(8, 21)), replace=True)]
    gaps = [int(g) for g in rng.choice(alignment_material.GAPS_MS, size=len(chosen) - 1)]
    rate, voice = alignment_material.RATE, VOICES[code]
    edge = np.zeros(int(alignment_material.EDGE_SECONDS * rate), dtype=np.float32)
    pieces, truth, position = [edge], [], len(edge)
    for i, word in enumerate(chosen):
        speech = alignment_material.synthesise(word, voice, speed)
        truth.append((word, position / rate, (position + len(speech)) / rate))
        pieces += [speech] + ([np.zeros(gaps[i] * rate // 1000, dtype=np.float32)] if i < len(gaps) else [])
        position += len(speech) + (gaps[i] * rate // 1000 if i < len(gaps) else 0)
    samples = np.concatenate(pieces + [edge])
    if noisy:
        speech_rms = np.sqrt(np.mean(np.concatenate([alignment_material.synthesise(w, voice, speed) for w in chosen]) ** 2))
        level = speech_rms * 10 ** (-alignment_material.NOISE_SNR_DB / 20)
        samples = samples + np.random.default_rng([seed, 1]).standard_normal(len(samples)).astype(np.float32) * level
    samples = np.clip(samples, -1.0, 32767 / 32768).astype(np.float32)
    return alignment_material.Recording(name, voice, speed, noisy, samples, truth, gaps)


def align(code, wavs):
    """{stem: [(word, start, end)] or None}, the process's CPU seconds, and the words with phones, as fa_job aligns."""
    from clamservices.aligner import Aligner, AlignmentError
    from clamservices.audio import load_audio
    from clamservices.fa_job import _words
    from clamservices.languages import LANGUAGES, MappedLexicon
    from clamservices.transcripts import words_of

    aligner = Aligner(None if LANGUAGES[code].native else MappedLexicon(code))
    results, with_phones, start = {}, 0, time.process_time()
    for wav in wavs:
        words = words_of(Path(wav).with_suffix(".txt").read_text(encoding="utf-8"))
        split, unknown = _words(aligner, words, {}, spoken=code == "en-us")
        if unknown:
            results[Path(wav).stem] = None
            continue
        samples, _ = load_audio(str(wav))
        try:
            alignment = aligner.align(samples, split)
        except AlignmentError:
            results[Path(wav).stem] = None
            continue
        results[Path(wav).stem] = [(w.label, w.start, w.end) for w in alignment.words]
        with_phones += sum(any(w.start <= p.start < w.end for p in alignment.phones) for w in alignment.words)
    return results, time.process_time() - start, with_phones


def run(count, codes=tuple(VOICES)):
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for number, code in enumerate(VOICES):
            if code not in codes:
                continue
            folder = Path(tmp) / code
            folder.mkdir()
            recordings = [recording(code, f"{code}-{n:02d}", 9000 + 100 * number + n, SPEEDS[n % 2], n % 4 >= 2)
                          for n in range(count)]
            wavs = [r.write(folder) for r in recordings]
            found, cpu, with_phones = align(code, wavs)
            groups, aligned = score(recordings, found)
            seconds = sum(len(r.samples) for r in recordings) / alignment_material.RATE
            words = sum(len(r.words) for r in recordings)
            rows[code] = (groups, aligned, len(recordings), cpu / seconds, with_phones, words)
            print(code, _pct(groups["all"]["within_20"]), _pct(groups["all"]["within_50"]), f"{aligned}/{count}",
                  flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=16, help="recordings per language")
    parser.add_argument("--only", nargs="+", choices=list(VOICES),
                        help="these languages only, printed and not written to docs/performance.md")
    args = parser.parse_args()
    if alignment_material.tools_missing():
        sys.exit(f"missing programs: {', '.join(alignment_material.tools_missing())} (run bin/ensure-system-packages)")
    rows = run(args.count, args.only or tuple(VOICES))
    if args.only:
        return
    from clamservices.languages import LANGUAGES

    lines = [
        "## Languages by phone mapping (issue 18)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `make bench` (tests/benchmarks/languages.py): {args.count} recordings "
        "per language of 8–20 common words of the language, each word synthesised separately by espeak-ng's voice "
        f"of the language at {' and '.join(map(str, SPEEDS))} words a minute, joined with gaps of 0, 50, 150 or "
        "400 ms, half under white noise at 30 dB SNR (as the accuracy benchmark's material). English is aligned "
        "with its own acoustic model; Dutch, German and French are mapped: gruut's pronunciations, their phones "
        "replaced by the English model's closest ones (clamservices/phonemap.py). A boundary of a word or file "
        "not aligned counts as outside every tolerance. Goal: Dutch-mapped within 10 percentage points of "
        "English-native within 50 ms.",
        "",
        "| language | acoustic model | files aligned | within 20 ms | within 50 ms | mean error (ms) | median (ms) "
        "| words with phones | CPU s / audio s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for code, (groups, aligned, count, cpu, with_phones, words) in rows.items():
        g = groups["all"]
        model = "native" if LANGUAGES[code].native else "mapped (approximate)"
        lines.append(f"| {LANGUAGES[code].label} | {model} | {aligned} / {count} | {_pct(g['within_20'])} | "
                     f"{_pct(g['within_50'])} | {g['mean_ms']:.1f} | {g['median_ms']:.1f} | {with_phones} of {words} "
                     f"| {cpu:.3f} |")
    lines += ["", "By the gap next to the boundary and by noise (within 20 / 50 ms):", "",
              "| language | " + " | ".join(k for k in rows["nl"][0] if k != "all") + " |",
              "|---|" + "---:|" * (len(rows["nl"][0]) - 1)]
    for code, (groups, *_) in rows.items():
        lines.append(f"| {LANGUAGES[code].label} | " + " | ".join(
            f"{_pct(g['within_20'])} / {_pct(g['within_50'])}" for k, g in groups.items() if k != "all") + " |")
    gap = 100 * (rows["en-us"][0]["all"]["within_50"] - rows["nl"][0]["all"]["within_50"])
    lines += ["", f"Dutch-mapped is {gap:.1f} percentage points {'below' if gap >= 0 else 'above'} English-native "
              f"within 50 ms (goal: at most 10)."]
    lines += ["", NOTE]
    table = "\n".join(lines) + "\n"
    print(table)
    write_section(table)


if __name__ == "__main__":
    main()
