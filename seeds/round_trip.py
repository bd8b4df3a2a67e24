"""Corpus lines as whisper really writes them: spoken by an offline voice, heard by the pipeline's whisper.

Two steps, each in the environment that has its parts (the voice is not a project dependency):

    /work/ttsvenv/bin/python seeds/round_trip.py speak [--every N] [--out DIR]   # fixtures/demo's venv
    .venv/bin/python seeds/round_trip.py hear [--out DIR] [--dry-run]             # the project's venv

`speak` reads the written lines of seeds/corpus.jsonl, keeps one in N by its id's hash (so the choice
never depends on the other lines), and has Kokoro-82M read each (the recipe and the venv of
fixtures/demo/make_demo.py: int8 ONNX, misaki's Mandarin phonemes) in one of its five voices, chosen
by the id, at a speed between 0.9 and 1.2, with the demo's room noise under it; it writes
DIR/<id>.wav (24 kHz) and DIR/spoken.jsonl. Lines Kokoro cannot say (Latin letters it has no
phonemes for) are listed and left out.

`hear` decodes those files with the pipeline's own whisper (the settings' model, beam and VAD), a few
lines laid side by side in one 30 s window as the live worker packs feeds, and rewrites the corpus's
`whispered` lines: one per spoken line whose transcript differs from the line, id `<base id>-w1`,
with its base's labels, product and split (the homophones, merged and dropped words are whisper's;
none of them adds a claim, so the labels stay). A transcript that comes back empty, longer than a
corpus line may be, with characters a line may not hold, or so far from the line (character error
rate above MAX_CER) that its claim may be gone is left out and counted. Written and varied lines are kept as they are; running `hear` twice gives the same file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "seeds" / "corpus.jsonl"
DEFAULT_OUT = Path("/tmp/pinocchio-round-trip")
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
WHISPERED_MARK = "-w1"
MAX_CHARS = 60  # the corpus's longest line
PACK = 6  # lines a whisper call hears side by side (each 2-6 s, 1 s of silence between)
# The voice has a Japanese accent: whisper sometimes hears a line so badly that its claim is gone
# (便秘一吃就通 -> 严密吃酒桶), and such a transcript must not carry the line's labels.
MAX_CER = 0.35


def _hash(line_id: str, salt: str) -> int:
    return int(hashlib.sha256(f"{salt}:{line_id}".encode()).hexdigest()[:8], 16)


def chosen(rows: list[dict], every: int) -> list[dict]:
    return [r for r in rows if r["origin"] == "written" and _hash(r["id"], "round-trip") % every == 0]


def speak(every: int, out: Path) -> None:
    sys.path.insert(0, str(ROOT / "fixtures" / "demo"))
    import make_demo as demo
    import numpy as np

    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    todo = chosen(rows, every)
    out.mkdir(parents=True, exist_ok=True)
    tts = demo.Kokoro(demo.kokoro_model(Path(demo.os.environ.get("KOKORO_CACHE", "/tmp/kokoro-cache"))))
    spoken, refused = [], 0
    for n, row in enumerate(todo, 1):
        h = _hash(row["id"], "voice")
        voice, speed = VOICES[h % len(VOICES)], 0.9 + (h >> 4) % 4 * 0.1
        try:
            audio = demo.set_speech_level(tts(row["text"], voice, speed))
        except ValueError as error:
            print(f"corpus.jsonl {row['id']}: not spoken: {error}", file=sys.stderr)
            refused += 1
            continue
        lead = int(0.3 * demo.SR)
        padded = np.concatenate([np.zeros(lead, np.float32), audio, np.zeros(lead, np.float32)])
        padded = padded + demo.room_noise(len(padded), np.random.default_rng(h))
        with wave.open(str(out / f"{row['id']}.wav"), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(demo.SR)
            f.writeframes((np.clip(padded, -1, 1) * 32767).astype("<i2").tobytes())
        spoken.append({"id": row["id"], "voice": voice, "speed": round(speed, 1)})
        if n % 50 == 0:
            print(f"{n}/{len(todo)} spoken", file=sys.stderr)
    (out / "spoken.jsonl").write_text("".join(json.dumps(s) + "\n" for s in spoken), encoding="utf-8")
    print(f"spoken: {len(spoken)} of {len(todo)} chosen lines (one in {every}); {refused} refused; in {out}")


def _fits(text: str) -> bool:
    return 4 <= len(text) <= MAX_CHARS and not re.search(r"[。！？!?；;：:“”\"'、…]", text)


def hear(out: Path, dry_run: bool) -> None:
    from pinocchio.core.settings import Settings
    from pinocchio.listen.audio import decode_chunks
    from pinocchio.listen.pipeline import Pipeline
    from pinocchio.training.evaluate import character_error_rate

    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_id = {r["id"]: r for r in rows}
    spoken = [json.loads(line) for line in (out / "spoken.jsonl").read_text(encoding="utf-8").splitlines()]
    transcriber = Pipeline(Settings.from_env()).transcriber
    heard: dict[str, str] = {}
    for start in range(0, len(spoken), PACK):
        batch = spoken[start:start + PACK]
        windows = [next(iter(decode_chunks(out / f"{s['id']}.wav", chunk_s=30.0))) for s in batch]
        for s, utterances in zip(batch, transcriber.transcribe_pack(windows, [None] * len(windows))):
            text = "，".join(u.text.strip("，,。 ") for u in utterances if u.text.strip("，,。 "))
            heard[s["id"]] = text.replace(",", "，")
        if (start // PACK) % 20 == 0:
            print(f"{start + len(batch)}/{len(spoken)} heard", file=sys.stderr)
    taken = {r["text"] for r in rows if r["origin"] != "whispered"}
    kept, same, unfit, garbled = [], 0, 0, 0
    for s in spoken:
        base, text = by_id[s["id"]], heard.get(s["id"], "")
        if text in taken or text.replace("，", "") == base["text"].replace("，", "").replace(" ", ""):
            same += 1
        elif not _fits(text):
            unfit += 1
        elif character_error_rate([(base["text"], text)]) > MAX_CER:
            garbled += 1
        else:
            kept.append({"id": base["id"] + WHISPERED_MARK, "text": text, "labels": base["labels"],
                         "product": base["product"], "split": base["split"], "origin": "whispered"})
    print(f"heard {len(spoken)} spoken lines: {len(kept)} written differently (kept), {same} as written (or as a line already there), "
          f"{unfit} empty or not a corpus line, {garbled} too far from the line (CER > {MAX_CER}); whisper RTF {transcriber.real_time_factor:.3f}")
    if dry_run:
        for k in kept[:20]:
            print(f"{by_id[k['id'][:-len(WHISPERED_MARK)]]['text']}  ->  {k['text']}")
        return
    others = [r for r in rows if r["origin"] != "whispered"]
    CORPUS.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [*others, *kept]), encoding="utf-8")
    print(f"written: {CORPUS} ({len(others)} written and varied lines, {len(kept)} whispered)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    say = steps.add_parser("speak")
    say.add_argument("--every", type=int, default=16, help="speak one written line in this many")
    say.add_argument("--out", type=Path, default=DEFAULT_OUT)
    listen = steps.add_parser("hear")
    listen.add_argument("--out", type=Path, default=DEFAULT_OUT)
    listen.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    if args.step == "speak":
        speak(args.every, args.out)
    else:
        hear(args.out, args.dry_run)


if __name__ == "__main__":
    main()
