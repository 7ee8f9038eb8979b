import pytest

from dfew_build.emotions import EMOTIONS, NAMES, parse_emotion


def test_dfew_order_and_codes():
    assert NAMES == ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
    assert [e.code for e in EMOTIONS] == list(range(1, 8))
    assert [e.index for e in EMOTIONS] == list(range(7))


@pytest.mark.parametrize("value,code", [("1", 1), (7, 7), ("Fear", 7), (" surprise ", 5),
                                        ("anger", 4), ("happiness", 1)])
def test_parse_emotion(value, code):
    assert parse_emotion(value).code == code


@pytest.mark.parametrize("value", ["0", "8", "joy", ""])
def test_parse_emotion_rejects(value):
    with pytest.raises(ValueError, match="unknown emotion"):
        parse_emotion(value)
