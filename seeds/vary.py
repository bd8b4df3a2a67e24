"""Make ASR-style variations of the hand-written seed utterances.

    .venv/bin/python seeds/vary.py            # rewrite the varied lines of seeds/corpus.jsonl
    .venv/bin/python seeds/vary.py --dry-run  # print what would be written, change nothing

The written lines (origin "written") are kept as they are, in their order. Every line with
origin "varied" is dropped and made again from the written lines (the "whispered" lines of
round_trip.py are kept, after them), so running this twice gives
the same file. Each variant keeps its base's labels, product and split; its id is
"<base id>-v<k>", so the base id (and therefore the split) is the id up to "-v".

A variant is made by one to three of these operations, chosen by a random generator seeded
with SEED and the base id (so a base's variants never depend on the other lines):
  filler     add a streamer filler before or after (家人们, 来来来, 扣1, 三二一上车, ...)
  numbers    Chinese numerals <-> digits as ASR writes them (九十九 <-> 99, 百分之百 <-> 100%)
  homophone  ASR homophone errors (治->制, 降->将, 祛->去/趋, 斑->班, 皱->周, 微信->薇信/威信)
  disguise   disguised spellings streamers use (V信, vx, 加v, zui好, 第1)
  spacing    whisper-style segmentation: spaces -> commas, or no separators at all
  stutter    a repeated word (这个这个, 来来来)
  trim       drop a leading address (家人们 / 宝宝们 / 老铁们 / 姐妹们)
Labels are never changed: none of the operations adds or removes a claim.
"""
from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

from pinocchio.training.corpus import (
    split_for,  # one split rule, shared with the checker
)

SEED = 20240601
CORPUS = Path(__file__).resolve().parent / "corpus.jsonl"
MAX_CHARS = 64

PREFIXES = ["家人们", "宝宝们", "来来来", "姐妹们", "老铁们", "哎", "那个", "对", "我跟你们说",
            "听我说", "好", "然后呢", "所以说", "真的", "来", "朋友们", "我说句实话"]
SUFFIXES = ["上链接", "三二一上车", "扣1", "点点关注", "好吧", "对吧", "是不是", "知道吧",
            "啊", "哈", "扣个1", "家人们", "宝宝们", "听懂了吗", "对不对"]
ADDRESS = ("家人们", "宝宝们", "老铁们", "姐妹们", "宝妈们", "朋友们", "茶友们", "同学们")

HOMOPHONES = {
    "治": ["制"], "降": ["将"], "祛": ["去", "趋"], "斑": ["班"], "皱": ["周"],
    "微信": ["薇信", "威信", "微芯"], "辟邪": ["避邪"], "招财": ["招才"], "太岁": ["太碎"],
    "链接": ["连接"], "痘痘": ["豆豆"], "湿疹": ["湿诊"], "效果": ["笑果"],
}
DISGUISES = {
    "微信": ["V信", "vx", "VX", "wx", "v信"], "加我微信": ["加v", "加V", "+v"],
    "最好": ["zui好"], "最低": ["zui低"], "最强": ["zui强"], "第一": ["第1", "NO.1"],
    "私信": ["si信"], "百分之百": ["100%"], "块钱": ["米"],
}
STUTTER_WORDS = ["这个", "我们", "今天", "真的", "就是", "你们"]

DIG = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
       "九": 9}
UNIT = {"十": 10, "百": 100, "千": 1000}
CN_DIGITS = "零一二三四五六七八九"
MEASURE = ("块", "元", "斤", "克", "天", "盒", "瓶", "粒", "单", "件", "箱", "台", "岁", "公斤",
           "厘米", "公分", "分钟", "秒", "小时", "折", "罐", "袋", "毫升", "度", "周", "倍",
           "个", "年", "次", "颗", "片", "包", "支", "套", "条", "双", "张", "号", "点")
NUM_SPAN = re.compile(r"[零一二两三四五六七八九十百千万]+")


def _small(s: str, outer_unit: int | None = None) -> int | None:
    """Value of a numeral below 10000 ('三百九十九', '一千二', '十八'); None if not one."""
    val, num, last, zero = 0, None, None, False
    for ch in s:
        if ch == "零":
            if num is not None:
                return None
            zero = True
            continue
        if ch in DIG:
            if num is not None:
                return None
            num = DIG[ch]
        elif ch in UNIT:
            u = UNIT[ch]
            if last is not None and u >= last:
                return None
            if num is None:
                if ch != "十" or last is not None:
                    return None
                num = 1
            val, num, last, zero = val + num * u, None, u, False
        else:
            return None
    if num is not None:
        if last is None and outer_unit and not zero:
            val += num * outer_unit // 10          # 两万八 -> 28000
        elif last is not None and last >= 100 and not zero:
            val += num * last // 10                # 三百五 -> 350, 一千二 -> 1200
        else:
            val += num
    return val


def cn_to_int(s: str) -> int | None:
    if s.count("万") > 1:
        return None
    if "万" in s:
        hi, lo = s.split("万")
        a = _small(hi) if hi else None
        if a is None:
            return None
        b = _small(lo, 10000) if lo else 0
        return None if b is None else a * 10000 + b
    return _small(s)


def int_to_cn(n: int) -> str:
    if n >= 10000:
        hi, lo = divmod(n, 10000)
        head = int_to_cn(hi)
        if hi == 2:
            head = "两"
        if lo == 0:
            return head + "万"
        return head + "万" + ("零" if lo < 1000 else "") + int_to_cn(lo)
    if n < 10:
        return CN_DIGITS[n]
    out, started, pending_zero = "", False, False
    for u, name in ((1000, "千"), (100, "百"), (10, "十")):
        d = n // u % 10
        if d:
            if pending_zero:
                out += "零"
            if u == 10 and d == 1 and not started:
                out += "十"
            else:
                out += ("两" if d == 2 and u >= 100 and not started else CN_DIGITS[d]) + name
            started, pending_zero = True, False
        elif started:
            pending_zero = True
    if n % 10:
        out += ("零" if pending_zero else "") + CN_DIGITS[n % 10]
    return out


def to_digits(text: str) -> str:
    """Chinese numerals -> digits where ASR would write digits."""
    text = text.replace("百分之百", "100%")

    def pct(m: re.Match) -> str:
        v = cn_to_int(m.group(1))
        return m.group(0) if v is None else f"{v}%"
    text = re.sub(r"百分之([零一二两三四五六七八九十百]+)", pct, text)

    def rep(m: re.Match) -> str:
        s, start, end = m.group(0), m.start(), m.end()
        before, after = text[start - 1:start], text[end:end + 2]
        if before in ("几", "好", "数", "上", "万", "千", "第") and s[0] in "十百千万":
            return s
        if s[0] in "百千万":
            return s                                # 万一, 千万别, 百分
        if s == "十" and after.startswith("分") and not after.startswith("分钟"):
            return s                                # 十分 (very)
        if any(u in s for u in "十百千万"):
            v = cn_to_int(s)
            if v is None:
                return s
            if v >= 10000:                          # 三十万 -> 30万, 两万八 -> 2万8
                hi, lo = s.split("万")
                tail = "" if not lo else (str(DIG[lo]) if lo in DIG else str(cn_to_int(lo)))
                return f"{cn_to_int(hi)}万{tail}"
            return str(v)
        if len(s) >= 3:
            return "".join(str(DIG[c]) for c in s)  # 三二一, 一三八
        if len(s) == 1 and s != "一" and (after.startswith(MEASURE) or before in ("块", "点")):
            return str(DIG[s])                      # 两粒 -> 2粒, 九块九 -> 9块9
        return s
    return NUM_SPAN.sub(rep, text)


def to_chinese(text: str) -> str:
    """Digits -> Chinese numerals (the other way ASR sometimes writes them)."""
    text = re.sub(r"(?<![A-Za-z0-9./])100%", "百分之百", text)
    text = re.sub(r"(?<![A-Za-z0-9./])(\d{1,2})%", lambda m: "百分之" + int_to_cn(int(m.group(1))), text)

    def rep(m: re.Match) -> str:
        s = m.group(0)
        if s in ("618", "520", "315", "925") or len(s) > 8 or (len(s) > 1 and s[0] == "0"):
            return s
        return int_to_cn(int(s))
    return re.sub(r"(?<![A-Za-z0-9./\-])\d+(?![A-Za-z0-9./%\-])", rep, text)


def _sep(text: str) -> str:
    return "，" if "，" in text else (" " if " " in text else "")


def op_filler(text: str, rng: random.Random) -> str:
    sep = _sep(text)
    if rng.random() < 0.6:
        word = rng.choice(PREFIXES)
        return text if text.startswith(word) else word + sep + text
    word = rng.choice(SUFFIXES)
    return text if text.endswith(word) else text + sep + word


def op_numbers(text: str, rng: random.Random) -> str:
    if re.search(r"\d", text) and rng.random() < 0.5:
        return to_chinese(text)
    return to_digits(text)


def _swap(text: str, table: dict, rng: random.Random, most: int) -> str:
    keys = [k for k in sorted(table, key=len, reverse=True) if k in text]
    rng.shuffle(keys)
    done = 0
    for k in keys:
        if done == most or k not in text:
            continue
        text = text.replace(k, rng.choice(table[k]), 1)
        done += 1
    return text


def op_homophone(text: str, rng: random.Random) -> str:
    return _swap(text, HOMOPHONES, rng, 2)


def op_disguise(text: str, rng: random.Random) -> str:
    return _swap(text, DISGUISES, rng, 1)


def op_spacing(text: str, rng: random.Random) -> str:
    if " " in text:
        return text.replace(" ", "，" if rng.random() < 0.5 else "")
    if "，" in text:
        return text.replace("，", " ")
    return text


def op_stutter(text: str, rng: random.Random) -> str:
    words = [w for w in STUTTER_WORDS if w in text]
    if not words:
        return "来来来" + _sep(text) + text if not text.startswith("来") else text
    w = rng.choice(words)
    return text.replace(w, w + w, 1)


def op_trim(text: str, rng: random.Random) -> str:
    for a in ADDRESS:
        if text.startswith(a) and len(text) > len(a) + 4:
            return text[len(a):].lstrip(" ，")
    return text


OPS = [(op_filler, 3), (op_numbers, 3), (op_homophone, 2), (op_disguise, 2), (op_spacing, 2),
       (op_stutter, 1), (op_trim, 1)]


def variants_for(row: dict, taken: set) -> list:
    rng = random.Random(f"{SEED}:{row['id']}")
    roll = rng.random()
    want = 0 if roll < 0.62 else (1 if roll < 0.95 else 2)
    out = []
    for _ in range(want * 4):                      # a few tries for each wanted variant
        if len(out) == want:
            break
        text = row["text"]
        k = rng.choice((1, 1, 2, 2, 3))
        funcs = rng.choices([f for f, _ in OPS], weights=[w for _, w in OPS], k=k)
        for f in funcs:
            text = f(text, rng)
        text = text.strip(" ，")
        if text == row["text"] or text in taken or not 4 <= len(text) <= MAX_CHARS:
            continue
        taken.add(text)
        out.append({"id": f"{row['id']}-v{len(out) + 1}", "text": text,
                    "labels": list(row["labels"]), "product": row["product"],
                    "split": split_for(row["id"]), "origin": "varied"})
    return out


def main(argv: list) -> int:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    written = [r for r in rows if r["origin"] == "written"]
    taken = {r["text"] for r in written}
    taken |= {r["text"] for r in rows if r["origin"] == "whispered"}
    varied = [v for r in written for v in variants_for(r, taken)]
    whispered = [r for r in rows if r["origin"] == "whispered"]  # seeds/round_trip.py's, kept as they are
    lines = [json.dumps(r, ensure_ascii=False) for r in written + varied + whispered]
    if "--dry-run" in argv:
        for r in varied:
            print(r["id"], r["labels"], r["text"])
        print(f"{len(written)} written, {len(varied)} varied (dry run)", file=sys.stderr)
        return 0
    CORPUS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(written)} written, {len(varied)} varied -> {CORPUS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
