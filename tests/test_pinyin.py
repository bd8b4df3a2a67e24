from pinocchio.core.pinyin import BREAK, number_reading, syllables


def test_number_reading_covers_prices_and_counts():
    cases = {"0": "零", "3": "三", "10": "十", "15": "十五", "99": "九十九", "100": "一百", "101": "一百零一",
             "999": "九百九十九", "1010": "一千零一十", "39800": "三万九千八百", "3.5": "三点五"}
    for digits, reading in cases.items():
        assert number_reading(digits) == reading, digits


def test_syllables_map_back_to_characters():
    s = syllables("3天将血压,zui好")
    assert s.syllables == ("san", "tian", "jiang", "xue", "ya", BREAK, "zui", "hao")
    start = s.key.index(" jiang xue ya ")
    assert s.char_span(start, start + len(" jiang xue ya ")) == (2, 5)
    start = s.key.index(" san tian ")
    assert s.char_span(start, start + len(" san tian ")) == (0, 2)


def test_homophones_share_a_key():
    assert syllables("降血压").key == syllables("将血压").key
    assert syllables("祛斑").key == syllables("趋班").key
    assert syllables("三天见效").key == syllables("3天见效").key
