"""What a recording with utterance tiers says of an utterance that could not be aligned (clamservices.tiered.combine):
the likely cause, not only "does it match?" (trial: overlapping speech read as a wrong transcript)."""

from clamservices import tiered
from clamservices.aligner import Alignment, Interval
from clamservices.transcripts import words_of
from clamservices.utterances import Tier, Utterance

NO_MATCH = ("error", "no_match", "the transcript does not match the recording: its words cannot be found in the audio")


def prepared(spans):
    """{tier: [(start, end, text)]} as a tiered.Prepared of a 60-s recording."""
    tiers = [Tier(name, [Utterance(s, e, t) for s, e, t in utterances]) for name, utterances in spans.items()]
    items = [tiered.Item(n, tier, s, e, words_of(t)) for n, (tier, (s, e, t)) in
             enumerate((name, u) for name, utterances in spans.items() for u in utterances)]
    return tiered.Prepared(tiers, items, {}, [], duration=60.0)


def aligned(start, end, label):
    return Alignment([Interval(start, end, label)], [])


def test_an_utterance_over_another_speakers_speech_says_so_and_names_it():
    recording = prepared({"Interviewer": [(10.0, 14.0, "so tell me"), (20.0, 21.0, "right")],
                          "Guest": [(13.0, 16.5, "well it began")]})
    _, warnings = tiered.combine(recording, {0: aligned(10.0, 10.5, "so"), 1: aligned(20.0, 20.5, "right"),
                                             2: NO_MATCH})
    assert warnings == ["Guest, 0:13.0–0:16.5: it overlaps Interviewer's utterance at 0:10.0–0:14.0, and speech over "
                        "other speech often cannot be aligned (its words were not found in the audio) (not aligned: its "
                        "3 words are not in the TextGrid)"]


def test_an_utterance_alone_that_does_not_match_is_asked_about_its_interval_too():
    recording = prepared({"A": [(1.0, 2.0, "ten of clubs"), (3.0, 4.0, "four of hearts")]})
    _, warnings = tiered.combine(recording, {0: aligned(1.0, 1.5, "ten"), 1: NO_MATCH})
    assert warnings == [f"A, 0:03.0–0:04.0: {NO_MATCH[2]}; check also that its interval holds all of its speech "
                        "(not aligned: its 3 words are not in the TextGrid)"]


def test_turns_that_overlap_only_at_their_edges_are_not_blamed():
    recording = prepared({"A": [(10.0, 14.0, "so tell me")], "B": [(13.8, 17.0, "well it began"), (17.5, 17.9, "yes")],
                          "C": [(17.4, 17.8, "mm")]})
    _, warnings = tiered.combine(recording, {0: aligned(10.0, 10.5, "so"), 1: NO_MATCH, 2: NO_MATCH,
                                             3: aligned(17.4, 17.7, "mm")})
    assert "overlaps" not in warnings[0] and "check also that its interval" in warnings[0]
    assert "it overlaps C's utterance at 0:17.4–0:17.8" in warnings[1]  # most of a short backchannel


def test_the_warnings_of_an_utterance_over_another_speakers_speech_name_it():
    """Trial: "Unless" was placed in the other speaker's speech, and the warning only said it fit poorly."""
    recording = prepared({"Interviewer": [(0.1, 7.4, "so tell me")], "Guest": [(5.9, 12.4, "unless to be")]})
    guest = Alignment([Interval(5.9, 6.2, "unless")], [], warnings=["1 word fits the audio poorly: “Unless” at 0:05.9"])
    _, warnings = tiered.combine(recording, {0: aligned(0.1, 0.5, "so"), 1: guest})
    assert warnings == ["Guest, 0:05.9–0:12.4: 1 word fits the audio poorly: “Unless” at 0:05.9 (it overlaps "
                        "Interviewer's utterance at 0:00.1–0:07.4)"]
