"""Spoken amounts, as streamers say them and whisper writes them, read as the range they mean."""

import math

import pytest

from pinocchio.core.pinyin import number_reading
from pinocchio.facts.numerals import find_amounts, read_amount

INF = math.inf

# (said, low, high): exact amounts have low == high.
SPOKEN = [
    # plain numerals, written out and as digits
    ("九十九", 99, 99), ("九百九十九", 999, 999), ("一百二十", 120, 120), ("三百六十八", 368, 368),
    ("一千二百九十九", 1299, 1299), ("二十", 20, 20), ("十", 10, 10), ("十二", 12, 12), ("一百零八", 108, 108),
    ("两千零九", 2009, 2009), ("一千零一", 1001, 1001), ("十万八千", 108000, 108000), ("十万", 100000, 100000),
    ("一百万", 1_000_000, 1_000_000), ("两", 2, 2), ("两千", 2000, 2000), ("两万", 20000, 20000), ("三千五", 3500, 3500),
    ("999", 999, 999), ("99", 99, 99), ("9.9", 9.9, 9.9), ("59.9", 59.9, 59.9), ("1299", 1299, 1299),
    ("1,299", 1299, 1299), ("12,800", 12800, 12800), ("0.5", 0.5, 0.5), ("5", 5, 5), ("１２９", 129, 129),
    # shortened as people say them: the last unit left off
    ("一百二", 120, 120), ("两百八", 280, 280), ("一千二", 1200, 1200), ("一万二", 12000, 12000), ("三百五", 350, 350),
    ("二百五", 250, 250), ("五千八", 5800, 5800), ("两万五", 25000, 25000), ("九百九", 990, 990), ("一千三", 1300, 1300),
    # read digit by digit, 幺 for one
    ("幺零九", 109, 109), ("一九九", 199, 199), ("三九九", 399, 399), ("一二九", 129, 129), ("二九九", 299, 299),
    ("九九", 99, 99), ("四九", 49, 49), ("五九", 59, 59), ("幺幺九", 119, 119), ("六九", 69, 69),
    # decimals and 万 after them
    ("九点九", 9.9, 9.9), ("九十九点九", 99.9, 99.9), ("零点五", 0.5, 0.5), ("一点二万", 12000, 12000),
    ("1.2万", 12000, 12000), ("1万2", 12000, 12000), ("1千2", 1200, 1200), ("12万", 120000, 120000), ("3.5万", 35000, 35000),
    ("10w", 100000, 100000), ("1w", 10000, 10000), ("2k", 2000, 2000),
    # money: 块/元/米 (slang for 元), 毛/角, 分
    ("九块九", 9.9, 9.9), ("五十九块九", 59.9, 59.9), ("十九块九", 19.9, 19.9), ("九块九毛九", 9.99, 9.99),
    ("九毛九", 0.99, 0.99), ("两块五", 2.5, 2.5), ("两块五毛", 2.5, 2.5), ("三块", 3, 3), ("三毛", 0.3, 0.3),
    ("99元", 99, 99), ("199元", 199, 199), ("九十九米", 99, 99), ("三百六十八米", 368, 368), ("一百块钱", 100, 100),
    ("一百块", 100, 100), ("两块", 2, 2), ("9块9", 9.9, 9.9), ("19块9", 19.9, 19.9), ("一块二毛五", 1.25, 1.25),
    ("八十八元", 88, 88), ("八块八", 8.8, 8.8), ("六块六", 6.6, 6.6), ("四十九块九", 49.9, 49.9), ("一千块", 1000, 1000),
    ("一百九十九元", 199, 199), ("两百", 200, 200), ("一万", 10000, 10000), ("百万", 1_000_000, 1_000_000), ("六十九块", 69, 69), ("一百二十块", 120, 120), ("九十九大洋", 99, 99), ("五角", 0.5, 0.5),
    ("¥99", 99, 99), ("￥1,299", 1299, 1299), ("¥59.9", 59.9, 59.9), ("三十块钱", 30, 30), ("十块", 10, 10),
    # how many digits: a price class
    ("三位数", 100, 999), ("四位数", 1000, 9999), ("两位数", 10, 99), ("3位数", 100, 999), ("五位数", 10000, 99999),
    # two neighbouring numerals before a unit
    ("两三百", 200, 300), ("五六十", 50, 60), ("七八千", 7000, 8000), ("三四万", 30000, 40000), ("一二百", 100, 200),
    ("八九十", 80, 90), ("四五百", 400, 500),
    # 多, 几, 来: more than, some, about
    ("一百多", 101, 199), ("十多", 11, 19), ("二十多", 21, 29), ("两千多", 2001, 2999), ("一万多", 10001, 19999),
    ("三百多", 301, 399), ("一百多块", 101, 199), ("几百", 200, 900), ("几十", 20, 90), ("几千", 2000, 9000),
    ("几万", 20000, 90000), ("好几百", 200, 900), ("好几千", 2000, 9000), ("十几", 11, 19), ("二十几", 21, 29),
    ("三十几", 31, 39), ("十来块", 8, 13), ("成千上万", 1000, 99999),
    # bounds and approximations said around a number
    ("不到一百", 0, 99), ("不到¥100", 0, 99), ("不足五十", 0, 49), ("不超过两百", 0, 200), ("小一千", 800, 1000),
    ("将近一千", 800, 1000), ("接近两百", 160, 200), ("近千", 800, 1000), ("一百左右", 90, 110), ("两百上下", 180, 220),
    ("大概五十", 45, 55), ("差不多三百", 270, 330), ("约一千", 900, 1100), ("一百出头", 100, 120), ("上千", 1000, 9999),
    ("上万", 10000, 99999), ("破万", 10000, INF), ("过千", 1000, INF), ("超过一万", 10000, INF), ("突破十万", 100000, INF),
    ("10万+", 100000, INF), ("一千以上", 1000, INF), ("五百以内", 0, 500), ("一百以下", 0, 100), ("破百万", 1_000_000, INF),
]

# Not amounts at all.
NOT_AMOUNTS = ["", "块", "元", "多少", "几", "位数", "万", "一盒", "最后", "5.5折", "abc", "¥", "百分之"]


@pytest.mark.parametrize("said,low,high", SPOKEN, ids=[s for s, _, _ in SPOKEN])
def test_a_spoken_amount_reads_as_the_range_it_means(said, low, high):
    amount = read_amount(said)
    assert amount is not None, said
    assert amount.low == pytest.approx(low) and amount.high == pytest.approx(high)


@pytest.mark.parametrize("said", NOT_AMOUNTS)
def test_words_that_are_no_amount_read_as_none(said):
    assert read_amount(said) is None


# Every price a streamer might name, written out in full by the house's own reader (99 -> 九十九),
# as digits, and with its currency: the three ways whisper writes the same number.
SWEEP = [1, 3, 7, 9, 10, 11, 15, 19, 20, 25, 29, 30, 39, 45, 49, 50, 59, 66, 68, 69, 79, 80, 88, 89, 98, 99, 100,
         101, 105, 110, 118, 119, 120, 128, 129, 139, 150, 168, 188, 199, 200, 208, 219, 229, 239, 249, 259, 268,
         279, 288, 298, 299, 300, 318, 328, 339, 358, 368, 388, 399, 428, 459, 499, 500, 520, 588, 598, 599, 666,
         680, 699, 799, 800, 888, 899, 980, 999, 1000, 1080, 1280, 1299, 1499, 1680, 1888, 1999, 2000, 2380, 2999,
         3280, 3999, 4999, 5000, 6800, 8888, 9999, 10000, 12800, 19999, 25000]


@pytest.mark.parametrize("value", SWEEP)
def test_every_price_reads_the_same_written_out_as_digits_and_with_its_currency(value):
    for said in (number_reading(str(value)), str(value), f"{value}元", f"{number_reading(str(value))}块"):
        amount = read_amount(said)
        assert amount is not None and amount.exact and amount.low == value, said


def test_there_are_at_least_two_hundred_spoken_forms():
    assert len(SPOKEN) + len(NOT_AMOUNTS) + 4 * len(SWEEP) >= 200
    assert len(SPOKEN) >= 150


def test_amounts_are_found_where_they_are_said_and_say_whether_money_was_named():
    found = find_amounts("原价九百九十九,今天只要九十九块")
    assert [(f.said, f.amount.low, f.money) for f in found] == [("九百九十九", 999, False), ("九十九块", 99, True)]
    assert [f.span for f in found] == [(2, 7), (12, 16)]
    assert [f.amount.low for f in find_amounts("一盒六十九块,两盒一百二十块")] == [1, 69, 2, 120]
    assert find_amounts("家人们晚上好") == []
