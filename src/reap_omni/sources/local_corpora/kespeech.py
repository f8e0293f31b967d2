"""KeSpeech: Kaldi data folders, one unit per (part, speaker)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reap_omni.sources.base import Unit
from reap_omni.sources.local_corpora.layout import (
    Layout,
    Row,
    kaldi_map,
    subdirs,
    unit_parts,
)


class KaldiLayout(Layout):
    """KeSpeech: ``Tasks/ASR/<part>/{wav.scp,text,utt2spk[,utt2subdialect]}``; one unit per (part, speaker)."""

    name = "kespeech"
    title = "KeSpeech"
    expected = "Tasks/ASR/<part>/wav.scp + text + utt2spk"
    columns = {"text": "text", "id": "id", "group": "speaker_id", "lang": "subdialect"}

    def _part(self, root: Path, part: str) -> dict[str, dict[str, str]]:
        def load() -> dict[str, dict[str, str]]:
            d = root / "Tasks" / "ASR" / part
            maps = {n: kaldi_map(d / n) for n in ("wav.scp", "text", "utt2spk") if (d / n).is_file()}
            if (d / "utt2subdialect").is_file():
                maps["utt2subdialect"] = kaldi_map(d / "utt2subdialect")
            return maps

        return self.cached(("part", part), load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        wanted = unit_parts(options)
        out = []
        for d in subdirs(root / "Tasks" / "ASR"):
            if wanted and d.name not in wanted:
                continue
            if not all((d / n).is_file() for n in ("wav.scp", "text", "utt2spk")):
                continue
            by_spk: dict[str, int] = defaultdict(int)
            for spk in self._part(root, d.name)["utt2spk"].values():
                by_spk[spk] += 1
            out += [Unit(key=f"{d.name}/{s}", shard=d.name, rows=n, info={"part": d.name, "speaker": s})
                    for s, n in sorted(by_spk.items())]  # fmt: skip
        return out

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        part, speaker = unit.info["part"], unit.info["speaker"]
        maps = self._part(root, part)
        for utt, spk in sorted(maps["utt2spk"].items()):
            if spk != speaker or utt not in maps["wav.scp"] or utt not in maps["text"]:
                continue
            wav = Path(maps["wav.scp"][utt])
            if not wav.is_absolute():
                wav = root / wav if (root / wav).exists() else root / "Tasks" / "ASR" / part / wav
            raw = {"text": maps["text"][utt], "id": utt, "speaker_id": spk, "part": part}
            if "utt2subdialect" in maps:
                raw["subdialect"] = maps["utt2subdialect"].get(utt)
            yield Row(key=f"{part}/{utt}", raw=raw, media=wav, group=spk)
