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
