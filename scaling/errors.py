"""The errors every scaling law raises: bad input naming its field, and use before ``fit``.

:class:`NotFittedError` is the project's one not-fitted error (``predictors`` raises it too), a
:class:`ValueError` and an :class:`AttributeError` as scikit-learn's ``sklearn.exceptions.NotFittedError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["NotFittedError", "ScalingInputError", "check_is_fitted"]


class ScalingInputError(ValueError):
    """Invalid input to a scaling law (too few points, NaN, out-of-range values ...).

    Parameters
    ----------
    message : str
        Human-readable description, giving the rule and the bad value.
    field : str, optional
        Which input is at fault, as a JSON-Pointer-like path, e.g. ``"points[3].y"``,
        ``"points"`` or ``"options.level"``.
    """

    def __init__(self, message: str, *, field: str = "points") -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_input_error, (str(self), self.field))


def _rebuild_input_error(message: str, field: str) -> ScalingInputError:
    return ScalingInputError(message, field=field)


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fit (``predict``, ``result`` ...) is called on an unfitted estimator."""


def check_is_fitted(estimator: object, attributes: Sequence[str] = ("params_",)) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has all fitted ``attributes``."""
    missing = [a for a in attributes if not hasattr(estimator, a)]
    if missing:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet; call 'fit' with "
            f"appropriate arguments before using this method (missing {', '.join(missing)})."
        )
