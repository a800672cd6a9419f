"""The estimator contract every model in ``segmint.models`` follows (layer 3).

After scikit-learn:

- ``__init__`` stores its arguments and nothing else; validation happens in ``fit``.
- Parameter constraints are declared as data (:attr:`Estimator.parameter_constraints`) and give
  one message shape: ``The 'penalizer' parameter of BetaGeoModel must be a float ≥ 0. Got -1
  instead.``
- ``fit`` returns ``self``; fitted attributes end in ``_``; using a model before ``fit`` raises
  :class:`~segmint.errors.NotFittedError`.
- Parameters and fitted state are saved as JSON (:meth:`Estimator.to_json`,
  :meth:`Estimator.from_json`, :func:`model_from_json`), never pickled.

A new model subclasses :class:`Estimator`, declares ``parameter_constraints`` for every
``__init__`` argument and lists its JSON-able fitted attributes in ``fitted_attributes``; then it
joins the shared contract test (``tests/test_model_contract.py``).

Example:
    >>> class Shrink(Estimator):
    ...     parameter_constraints = {"alpha": Interval("float", 0, None)}
    ...     fitted_attributes = ("mean_",)
    ...     def __init__(self, alpha=1.0):
    ...         self.alpha = alpha
    ...     def fit(self, x):
    ...         self._validate_params()
    ...         self.mean_ = sum(x) / (len(x) + self.alpha)
    ...         return self
    >>> Shrink(alpha=1.0).fit([1, 2, 3]).mean_
    1.5
    >>> Shrink(alpha=-1).fit([1])
    Traceback (most recent call last):
    ...
    segmint.errors.ValidationError: The 'alpha' parameter of Shrink must be a float ≥ 0. Got -1 instead.
"""  # noqa: E501

from __future__ import annotations

import inspect
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from segmint.errors import NotFittedError, ValidationError, close_matches

__all__ = [
    "JSON_FORMAT_VERSION",
    "MODEL_MODULES",
    "Boolean",
    "Constraint",
    "Estimator",
    "Interval",
    "NoneOr",
    "Options",
    "check_argument",
    "model_from_json",
    "registered_models",
]

#: Version of the JSON layout written by :meth:`Estimator.to_json`.
JSON_FORMAT_VERSION = 1

_REGISTRY: dict[str, type[Estimator]] = {}

#: Modules that define models; :func:`model_from_json` imports them so every class is known.
#: A new model module adds itself here.
MODEL_MODULES: tuple[str, ...] = ("segmint.models.clv", "segmint.models.cluster")


# -- constraints as data -----------------------------------------------------------------------
class Constraint:
    """One allowed shape for a parameter value."""

    def is_satisfied_by(self, value: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        """Words after "must be", e.g. ``"a float ≥ 0"``."""
        raise NotImplementedError

    def invalid_example(self) -> Any:  # pragma: no cover - abstract
        """A value that breaks the constraint (used by the contract test)."""
        raise NotImplementedError


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Interval(Constraint):
    """An ``int`` or ``float`` in an interval; ``None`` bounds are open-ended.

    >>> Interval("int", 2, None).describe()
    'an int ≥ 2'
    >>> Interval("float", 0, 1, closed="neither").describe()
    'a float in (0, 1)'
    """

    kind: Literal["int", "float"]
    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool | np.bool_):
            return False
        if self.kind == "int":
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            return False
        v = float(value)
        left_closed = self.closed in ("both", "left")
        right_closed = self.closed in ("both", "right")
        if self.low is not None and (v < self.low or (v == self.low and not left_closed)):
            return False
        return not (
            self.high is not None and (v > self.high or (v == self.high and not right_closed))
        )

    def describe(self) -> str:
        noun = "an int" if self.kind == "int" else "a float"
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            left = "[" if self.closed in ("both", "left") else "("
            right = "]" if self.closed in ("both", "right") else ")"
            return f"{noun} in {left}{_fmt(lo)}, {_fmt(hi)}{right}"
        if lo is not None:
            return f"{noun} {'≥' if self.closed in ('both', 'left') else '>'} {_fmt(lo)}"
        if hi is not None:
            return f"{noun} {'≤' if self.closed in ('both', 'right') else '<'} {_fmt(hi)}"
        return noun

    def invalid_example(self) -> Any:
        if self.low is not None:
            return int(self.low) - 1 if self.kind == "int" else self.low - 1.0
        if self.high is not None:
            return int(self.high) + 1 if self.kind == "int" else self.high + 1.0
        return "not a number"


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values.

    >>> Options(("D", "W")).describe()
    "one of 'D', 'W'"
    """

    values: tuple[Any, ...]

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str | int | float | bool | type(None)) and value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def invalid_example(self) -> Any:
        return "__not_an_option__"


@dataclass(frozen=True)
class Boolean(Constraint):
    """``True`` or ``False``."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, bool | np.bool_)

    def describe(self) -> str:
        return "a bool"

    def invalid_example(self) -> Any:
        return "yes"


@dataclass(frozen=True)
class NoneOr(Constraint):
    """``None`` or a value satisfying ``inner``.

    >>> NoneOr(Interval("int", 0, None)).describe()
    'None or an int ≥ 0'
    """

    inner: Constraint

    def is_satisfied_by(self, value: Any) -> bool:
        return value is None or self.inner.is_satisfied_by(value)

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"

    def invalid_example(self) -> Any:
        return self.inner.invalid_example()


def check_argument(owner: str, name: str, value: Any, constraint: Constraint) -> None:
    """The same message shape for plain functions' arguments.

    >>> check_argument("customer_lifetime_value", "horizon_months", 0, Interval("int", 1, None))
    Traceback (most recent call last):
    ...
    segmint.errors.ValidationError: The 'horizon_months' argument of customer_lifetime_value must be an int ≥ 1. Got 0 instead.
    """  # noqa: E501
    if not constraint.is_satisfied_by(value):
        raise ValidationError(
            f"The '{name}' argument of {owner} must be {constraint.describe()}. "
            f"Got {value!r} instead."
        )


# -- JSON encoding of fitted state ---------------------------------------------------------------
def _encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": _encode(obj.tolist()), "dtype": str(obj.dtype)}
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        f = float(obj)
        return f if math.isfinite(f) else {"__float__": repr(f)}
    if isinstance(obj, dict):
        return {str(k): _encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_encode(v) for v in obj]
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"cannot save a {type(obj).__name__} as JSON")


def _decode(obj: Any) -> Any:
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return np.asarray(_decode(obj["__ndarray__"]), dtype=obj["dtype"])
        if "__float__" in obj:
            return float(obj["__float__"])
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


# -- the base class ------------------------------------------------------------------------------
class Estimator:
    """Base class of every segmint model (see the module docstring for the contract)."""

    #: parameter name → constraint; every ``__init__`` argument must appear here.
    parameter_constraints: ClassVar[dict[str, Constraint]] = {}
    #: fitted attributes (ending in ``_``) saved by :meth:`to_json`; the first one marks "fitted".
    fitted_attributes: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a shared base class sets ``abstract = True`` in its own body and is not registered
        if cls.fitted_attributes and not cls.__dict__.get("abstract", False):
            _REGISTRY[cls.__name__] = cls

    # parameters ---------------------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` arguments of this model.

        >>> from segmint.models.clv import BetaGeoModel
        >>> BetaGeoModel(penalizer=0.1).get_params()["penalizer"]
        0.1
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Estimator:
        """Change parameters (checked at the next ``fit``); returns ``self``."""
        names = self._param_names()
        for name, value in params.items():
            if name not in names:
                raise ValidationError(
                    f"{type(self).__name__} has no parameter '{name}'.",
                    suggestions=close_matches(name, names),
                )
            setattr(self, name, value)
        return self

    def _validate_params(self) -> None:
        """Check every parameter against :attr:`parameter_constraints` (call first in ``fit``)."""
        for name, value in self.get_params().items():
            constraint = self.parameter_constraints[name]
            if not constraint.is_satisfied_by(value):
                raise ValidationError(
                    f"The '{name}' parameter of {type(self).__name__} must be "
                    f"{constraint.describe()}. Got {value!r} instead."
                )

    # fitted state -------------------------------------------------------------------------------
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has run (or a fitted model was loaded)."""
        return all(hasattr(self, a) for a in self.fitted_attributes)

    def _check_fitted(self, what: str = "this method") -> None:
        if not self.is_fitted():
            name = type(self).__name__
            raise NotFittedError(
                f"This {name} is not fitted yet, so {what} cannot be used.",
                hint=f"call {name}(...).fit(...) first, or load a fitted model with "
                f"{name}.from_json(text).",
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # JSON ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Parameters and (if fitted) fitted attributes as a JSON-able dict."""
        out: dict[str, Any] = {
            "model": type(self).__name__,
            "format_version": JSON_FORMAT_VERSION,
            "params": _encode(self.get_params()),
        }
        if self.is_fitted():
            out["fitted"] = {a: _encode(getattr(self, a)) for a in self.fitted_attributes}
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """Save parameters and fitted state as JSON text (never pickle).

        >>> from segmint.models.clv import GammaGammaModel
        >>> text = GammaGammaModel().to_json()
        >>> GammaGammaModel.from_json(text).get_params() == GammaGammaModel().get_params()
        True
        """
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Estimator:
        """Load a model saved by :meth:`to_json`."""
        data = _parse_json(text)
        name = data.get("model")
        if name != cls.__name__:
            raise ValidationError(
                f"The JSON describes a {name!r} model, not a {cls.__name__!r}.",
                hint="load it with segmint.models.base.model_from_json(text), which picks the "
                "right class.",
            )
        return cls._from_dict(data)

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Estimator:
        version = data.get("format_version")
        if version != JSON_FORMAT_VERSION:
            raise ValidationError(
                f"The model file format_version must be {JSON_FORMAT_VERSION}. "
                f"Got {version!r} instead.",
                hint="re-save the model with this version of segmint.",
            )
        params = _decode(data.get("params", {}))
        unknown = sorted(set(params) - set(cls._param_names()))
        if unknown:
            raise ValidationError(
                f"The saved {cls.__name__} has unknown parameter(s) {', '.join(unknown)}.",
                suggestions=close_matches(unknown[0], cls._param_names()),
            )
        model = cls(**params)
        fitted = data.get("fitted")
        if fitted is not None:
            missing = [a for a in cls.fitted_attributes if a not in fitted]
            if missing:
                raise ValidationError(
                    f"The saved {cls.__name__} lacks fitted attribute(s) {', '.join(missing)}.",
                    hint="save the model again with to_json().",
                )
            for attr in cls.fitted_attributes:
                setattr(model, attr, _decode(fitted[attr]))
        return model


def _parse_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"A saved model must be JSON text written by to_json(). Got text that does not "
            f"parse ({exc}) instead."
        ) from None
    if not isinstance(data, dict) or "model" not in data:
        raise ValidationError(
            "A saved model must be a JSON object with a 'model' key. Got "
            f"{type(data).__name__} instead."
        )
    return data


def registered_models() -> dict[str, type[Estimator]]:
    """Every model class importable from its module (name → class); used by the contract test.

    Classes defined on the fly (in a doctest or a test) are left out.
    """
    import sys

    return {
        name: cls
        for name, cls in _REGISTRY.items()
        if getattr(sys.modules.get(cls.__module__), name, None) is cls
    }


def model_from_json(text: str) -> Estimator:
    """Load any segmint model saved with :meth:`Estimator.to_json`, whatever its class.

    >>> from segmint.models.clv import BetaGeoModel
    >>> type(model_from_json(BetaGeoModel().to_json())).__name__
    'BetaGeoModel'
    """
    import importlib

    for module in MODEL_MODULES:  # importing a module registers its models
        importlib.import_module(module)
    data = _parse_json(text)
    name = data["model"]
    if name not in _REGISTRY:
        raise ValidationError(
            f"The saved model class must be one of {', '.join(sorted(_REGISTRY))}. "
            f"Got {name!r} instead.",
            suggestions=close_matches(str(name), _REGISTRY),
        )
    return _REGISTRY[name]._from_dict(data)
