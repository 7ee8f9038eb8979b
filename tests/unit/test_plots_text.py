"""Report figures: user text is never parsed as mathtext, legends and ticks read right."""

import numpy as np

from dfew_build.emotions import EMOTIONS
from dfew_build.labels import plots


def _annotator(name, accuracy=0.5):
    return {"annotator": name, "ds_accuracy": accuracy, "loo_agreement": accuracy,
            "confusion": np.eye(len(EMOTIONS)).tolist()}


def test_mathtext_name_draws(tmp_path):
    people = [_annotator("Ann $\\foo{ x$"), _annotator("Bob $x$", 0.7)]
    assert plots.annotator_agreement(people, tmp_path / "a.png").stat().st_size > 0
    assert plots.annotator_confusion(people, tmp_path / "c.png").stat().st_size > 0


def test_legend_swatches_are_not_an_emotion_colour(tmp_path, monkeypatch):
    seen = {}
    from matplotlib.axes import Axes

    original = Axes.legend

    def spy(self, *args, **kwargs):
        legend = original(self, *args, **kwargs)
        seen["colours"] = [tuple(h.get_facecolor()[:3]) for h in legend.legend_handles]
        return legend

    monkeypatch.setattr(Axes, "legend", spy)
    plots.emotion_distribution([1 / 7] * 7, [1] * 7, tmp_path / "e.png")
    from matplotlib.colors import to_rgb

    emotion_colours = {to_rgb(e.colour) for e in EMOTIONS}
    assert len(seen["colours"]) == 2
    assert not emotion_colours & {tuple(round(c, 6) for c in col) for col in seen["colours"]}


def test_vote_entropy_integer_ticks(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    figures = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figures.append(self),
                                                                  original(self, *a, **k)))
    matrix = np.array([[10, 0, 0, 0, 0, 0, 0], [5, 5, 0, 0, 0, 0, 0]])
    plots.vote_entropy(matrix, tmp_path / "v.png")
    ticks = figures[0].axes[0].get_yticks()
    assert all(float(t).is_integer() for t in ticks)


def _saved_figures(monkeypatch):
    from matplotlib.figure import Figure

    figures = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figures.append(self),
                                                                  original(self, *a, **k)))
    return figures


def test_annotator_confusion_masks_unseen_rows_and_shows_scale_and_numbers(tmp_path,
                                                                             monkeypatch):
    """Issue 17 item 4: an annotator who saw only happy, sad and neutral clips. Dawid-Skene
    smoothing gives the other rows a uniform 1/7; the heatmap must not draw it as data."""
    confusion = np.full((7, 7), 1 / 7)
    confusion[:3] = np.eye(7)[:3] * 0.93 + 0.01
    confusion[0] = [0.74, 0.01, 0.25 - 0.05, 0.01, 0.01, 0.01, 0.01]
    support = [4.0, 12.0, 20.0, 0.2, 0.0, 0.0, 0.0]
    late = {**_annotator("late"), "confusion": confusion.tolist(), "support": support}
    shown = plots.confusion_shown(late)
    assert np.isnan(shown[3:]).all() and not np.isnan(shown[:3]).any()
    assert shown[0, 2] == confusion[0, 2]
    # Without support (an older view) every row is data.
    assert not np.isnan(plots.confusion_shown(_annotator("old"))).any()

    figures = _saved_figures(monkeypatch)
    plots.annotator_confusion([late, _annotator("eye", 0.9)], tmp_path / "c.png")
    figure = figures[0]
    first, second, colourbar = figure.axes
    assert (first.get_title(), second.get_title()) == ("eye", "late")  # by name
    heatmap = second
    assert colourbar.get_ylabel() == "P(answered | true)"
    drawn = heatmap.images[0].get_array()
    assert drawn.mask[3:].all() and not drawn.mask[:3].any()
    texts = [t.get_text() for t in heatmap.texts]
    assert texts.count("not seen") == 4 and len(texts) == 3 * 7 + 4
    assert texts[2] == ".20" and texts[0] == ".74"
    assert [t.get_text() for t in heatmap.get_yticklabels()] == [
        "hap (4)", "sad (12)", "neu (20)", "ang (0.2)", "sur (0)", "dis (0)", "fea (0)"]
    assert (tmp_path / "c.png").stat().st_size > 0


def test_a_drawn_row_never_reads_zero_clips():
    # 0.5 expected clips is drawn (SEEN_MIN_SUPPORT) and must not be labelled "(0)"
    assert [plots._clips(x) for x in (0.0, 0.5, 0.98, 4.0, 12.3)] == [
        "0", "0.5", "1", "4", "12.3"]
    assert plots.SEEN_MIN_SUPPORT == 0.5
