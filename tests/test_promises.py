"""Promises found in a segment's words, typed and normalised (facts/promises.py). Sentences are the
project's own, in streamer style, including how whisper wrote the demo's (原家, 假衣配时, 包油)."""

import pytest

from pinocchio.core.records import PromiseKind
from pinocchio.facts.promises import PromiseFinder

finder = PromiseFinder()


def found(text):
    return [(p.kind.value, p.said, p.value()) for p in finder.find(text)]


@pytest.mark.parametrize("text,expected", [
    # reference prices and stated prices, the cue closest before each amount
    ("原价九百九十九,今天只要九十九", [("reference_price", "原价九百九十九", "¥999"), ("stated_price", "只要九十九", "¥99")]),
    ("原家做199", [("reference_price", "原家做199", "¥199")]),
    ("日常价二百七十九米,今天一百三十九", [("reference_price", "日常价二百七十九米", "¥279"), ("stated_price", "今天一百三十九", "¥139")]),
    ("专柜要卖八百多,直播间三百九十九", [("reference_price", "专柜要卖八百多", "¥801–899"), ("stated_price", "直播间三百九十九", "¥399")]),
    ("线下门店都是三位数", [("reference_price", "线下门店都是三位数", "¥100–999")]),
    ("划线价一千二到手价六百九十九", [("reference_price", "划线价一千二", "¥1200"), ("stated_price", "到手价六百九十九", "¥699")]),
    ("今天只要99,最近很多人问敏感激能不能用", [("stated_price", "只要99", "¥99")]),
    ("到手价¥59.9", [("stated_price", "到手价¥59.9", "¥59.9")]),
    ("秒杀价九块九", [("stated_price", "秒杀价九块九", "¥9.9")]),
    # a price after a quantity is that quantity's
    ("一盒六十九块", [("stated_price", "一盒六十九块", "¥69")]),
    ("一盒六十九块,两盒一百二十块", [("stated_price", "一盒六十九块", "¥69"), ("stated_price", "两盒一百二十块", "2 × ¥120")]),
    ("3瓶只要99", [("stated_price", "3瓶只要99", "3 × ¥99")]),
    ("今天我们直播间八十八米到手六盒", [("stated_price", "直播间八十八米到手六盒", "6 × ¥88")]),
    ("这个一盒三十包,一盒才五十九块九", [("stated_price", "一盒才五十九块九", "¥59.9")]),
    # guarantees, as written and as whisper heard them
    ("支持七天无理由退货", [("guarantee", "七天无理由", "seven_day_return")]),
    ("直吃七天无理由退火", [("guarantee", "七天无理由", "seven_day_return")]),
    ("直吃几天无理由困惑", [("guarantee", "天无理由", "seven_day_return")]),
    ("支持无理由退货", [("guarantee", "无理由退", "seven_day_return")]),
    ("假一赔十", [("guarantee", "假一赔十", "counterfeit_compensation 10")]),
    ("翡翠手桌假衣配时", [("guarantee", "假衣配时", "counterfeit_compensation 10")]),
    ("正品保证假一赔三", [("guarantee", "假一赔三", "counterfeit_compensation 3")]),
    ("运费险我们送了", [("guarantee", "运费险", "return_shipping")]),
    ("退货包运费,破损包退", [("guarantee", "退货包运费", "return_shipping"), ("guarantee", "破损包退", "damage_refund")]),
    ("支持极速退款,退款不退货", [("guarantee", "极速退款", "fast_refund"), ("guarantee", "退款不退货", "refund_without_return")]),
    # shipping
    ("还包油", [("shipping", "包油", "free_shipping")]),
    ("全国包邮", [("shipping", "全国包邮", "全国 free_shipping")]),
    ("新疆西藏除外全国包邮", [("shipping", "包邮", "free_shipping")]),
    ("顺丰包邮", [("shipping", "顺丰", "sf_express"), ("shipping", "包邮", "free_shipping")]),
    # stock, sales, links
    ("最后五单", [("stock", "最后五单", "单 5")]),
    ("最后的两单了", [("stock", "最后的两单", "单 2")]),
    ("最后五顶", [("stock", "最后五顶", "单 5")]),
    ("最后五班", [("stock", "最后五班", "单 5")]),
    ("最后五端", [("stock", "最后五端", "单 5")]),
    ("仅剩3件", [("stock", "仅剩3件", "件 3")]),
    ("库存只有二十瓶", [("stock", "库存只有二十瓶", "瓶 20")]),
    ("已经卖了十万单了", [("sales", "已经卖了十万单", "单 100000")]),
    ("销量破百万", [("sales", "销量破百万", "1000000–∞")]),
    ("已售1.2万件", [("sales", "已售1.2万件", "件 12000")]),
    ("三号链界已经上好了", [("link", "三号链界", "3")]),
    ("去拍5号链接", [("link", "5号链接", "5")]),
])
def test_promises_are_found_typed_and_normalised(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize("text", [
    # no promise: denials, questions of others, counts and measures, coupons, everyday homophones
    "不支持七天无理由", "这款不包邮", "偏远地区不包邮", "我们没有假一赔十", "保佑你转移发大层",
    "第二款是三叶厂,一盒三十包", "第一款玫瑰面双,50克一瓶", "最后一个问题", "还剩三分钟", "最后一个步骤是涂抹均匀",
    "今天买一送一", "优惠券减五十", "今天给大家上架三百单", "一天只用两次", "家人们晚上好", "最后两个链接给大家讲讲",
    "省了一百块", "满两百减三十", "我赶最后一班地铁回家", "还剩两班车",
])
def test_what_is_no_promise_is_not_taken_for_one(text):
    assert found(text) == []


def test_spans_point_at_the_words_said():
    text = "家人们,原价九百九十九,今天只要九十九,最后五单"
    for promise in finder.find(text):
        assert text[promise.span[0]:promise.span[1]] == promise.said
    kinds = [p.kind for p in finder.find(text)]
    assert kinds == [PromiseKind.REFERENCE_PRICE, PromiseKind.STATED_PRICE, PromiseKind.STOCK]


@pytest.mark.parametrize("text", [
    # amounts that name no price of the product: a clock, a count of shops, a coupon, a festival,
    # a bundle's share, a price the streamer says they will not ask, a weight
    "现在是北京时间十一点二十七分", "线下四十五万家门店都有", "我现在还有一个八米优惠券", "今天是咱们的六幺八返场活动",
    "相当于一盒只需要七十四米的一个价格", "一袋的话才花四毛多", "到手呢只需要八十一米的价格,每盒啊",
    "咱们这个单价单价到手价格,宝宝只要零点七七米", "到手三百不要了,二百不收了", "到手是三百六十两",
])
def test_amounts_that_are_not_the_product_s_price_are_not_taken_for_one(text):
    assert [p for p in found(text) if p[0] in ("stated_price", "reference_price")] == []


def test_a_price_with_a_cue_too_common_to_name_a_price_alone_must_say_its_currency():
    assert found("现在五十九块九到手") == [("stated_price", "现在五十九块九", "¥59.9")]
    assert found("现在一百二") == []
    assert found("日常售价一百二十九米") == [("reference_price", "日常售价一百二十九米", "¥129")]
    assert found("有运险险和七天无理由") == [("guarantee", "运险险", "return_shipping"),
                                    ("guarantee", "七天无理由", "seven_day_return")]
