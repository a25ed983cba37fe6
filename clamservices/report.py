"""report.json of the forced-alignment service: one outcome per recording, for programs and people.

Format (version 1), also described in docs/operators/clam-services.md:
{"format": "equestria-alignment-report", "version": 1, "warnings": [job-wide warnings],
 "summary": "Aligned 4 of 5 recordings; ...",
 "recordings": [{"audio", "transcript", "status" ("aligned" | "warnings" | "not_aligned"), "code",
                 "reason", "textgrid", "unknown_words", "warnings", "words", "words_aligned", "duration"}]}
"""

import json
import os

FORMAT = "equestria-alignment-report"


class Report:
    def __init__(self, path, no_match_note=""):
        self.path = path
        self.entries = []
        self.warnings = []
        self.no_match_note = no_match_note  # added to every "does not match": what else may have caused it

    def _add(self, audio, transcript, status, **fields):
        self.entries.append({
            "audio": audio, "transcript": transcript, "status": status, "code": "", "reason": "",
            "textgrid": None, "unknown_words": [], "warnings": [], "words": None, "words_aligned": None,
            "duration": None, **fields,
        })

    def not_aligned(self, audio, transcript, code, reason, **fields):
        if code == "no_match" and self.no_match_note:
            reason = f"{reason} ({self.no_match_note})"
        self._add(audio, transcript, "not_aligned", code=code, reason=reason, **fields)

    def aligned(self, audio, transcript, **fields):
        status = "warnings" if fields.get("warnings") else "aligned"
        self._add(audio, transcript, status, **fields)

    def summary(self):
        total = len(self.entries)
        done = sum(1 for e in self.entries if e["status"] != "not_aligned")
        waiting = sum(1 for e in self.entries if e["code"] == "unknown_words")
        text = f"Aligned {done} of {total} recordings"
        if waiting:
            text += f"; {waiting} {'has' if waiting == 1 else 'have'} words without a pronunciation"
        if total - done - waiting:
            text += f"; {total - done - waiting} could not be aligned"
        return text

    def save(self):
        data = {"format": FORMAT, "version": 1, "summary": self.summary(), "warnings": self.warnings,
                "recordings": sorted(self.entries, key=lambda e: e["audio"] or e["transcript"] or "")}
        temporary = f"{self.path}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
        os.replace(temporary, self.path)
