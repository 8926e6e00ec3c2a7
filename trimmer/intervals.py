"""Statistics of a search's choice: Wilson intervals of accuracies, the relative gain's interval, and how far
apart candidates must score on a validation split to be told apart."""
from __future__ import annotations

__all__ = ["Z95", "accuracy_interval", "pairwise_half_width", "relative_gain_interval", "selection_margin"]

#: Two-sided 95% normal quantile for the accuracy intervals.
Z95 = 1.959964


def accuracy_interval(accuracy: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of an accuracy measured on ``n`` images (None without images)."""
    import math

    if not n or accuracy != accuracy:
        return None
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def pairwise_half_width(accuracy: float, other_accuracy: float, n: int, z: float = Z95) -> float:
    """Half-width of the pairwise interval of the difference of two accuracies on ``n`` validation images each (the
    two treated as independent): closer than this, the split cannot tell them apart.  ``n`` must be positive."""
    import math

    return z * math.sqrt((accuracy * (1 - accuracy) + other_accuracy * (1 - other_accuracy)) / n)


def selection_margin(n_compared: int, n_val: int, alpha: float = 0.05) -> float | None:
    """Accuracy difference (fraction) below which ``n_compared`` candidates cannot be told apart on ``n_val``
    validation images with confidence 1 - ``alpha`` (Hoeffding's bound with a union over the candidates)."""
    import math

    if n_compared < 2 or not n_val:
        return None
    return 2 * math.sqrt(math.log(2 * n_compared / alpha) / (2 * n_val))


def relative_gain_interval(accuracy: float, baseline_accuracy: float, n: int, z: float = Z95
                           ) -> tuple[float, float] | None:
    """95% interval of ``accuracy / baseline_accuracy - 1`` for two accuracies on ``n`` test images each
    (delta method on the log ratio, the two treated as independent: conservative, since both are scored on the
    same images and move together).  None without images or with a zero accuracy."""
    import math

    if not n or not accuracy > 0 or not baseline_accuracy > 0:
        return None
    ratio = math.log(accuracy / baseline_accuracy)
    se = math.sqrt((1 - accuracy) / (n * accuracy) + (1 - baseline_accuracy) / (n * baseline_accuracy))
    return math.exp(ratio - z * se) - 1, math.exp(ratio + z * se) - 1

