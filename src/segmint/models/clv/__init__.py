"""Customer lifetime value (layer 3): purchase and spend models, CLV, formulas, validation, churn.

- :class:`BetaGeoModel` (BG/NBD) and :class:`ParetoNBDModel` predict who is alive and how many
  purchases follow; :class:`GammaGammaModel` predicts spend per transaction;
  :func:`customer_lifetime_value` combines them into a discounted CLV.
- :mod:`segmint.models.clv.formulas`: the two formulas marketers use, measured from orders.
- :mod:`segmint.models.clv.validation`: calibration/holdout split, tracking, holdout checks.
- :mod:`segmint.models.clv.churn`: churn-risk bands.
- :func:`customer_scores`: every per-customer metric in one table (P(alive), expected purchases
  and spend, CLV, churn band) for storing and for segment definitions.

Example (Fader, Hardie & Lee 2005 on CDNOW, weeks; an ibis table is condensed in the engine):
    >>> from segmint.datasets import load_cdnow_sample
    >>> from segmint.models.clv import BetaGeoModel, calibration_and_holdout
    >>> cal = calibration_and_holdout(load_cdnow_sample(), "1997-09-30", unit="W")
    >>> summary = cal.rename(frequency="frequency_cal", recency="recency_cal", T="T_cal")
    >>> bg = BetaGeoModel().fit(summary)
    >>> {k: round(v, 3) for k, v in bg.params_.items()}
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    >>> round(bg.log_likelihood_, 1)
    -9582.4
"""

from segmint.models.clv.beta_geo import BetaGeoModel
from segmint.models.clv.churn import churn_risk
from segmint.models.clv.formulas import (
    PurchaseCLTV,
    RetentionCLTV,
    purchase_cltv,
    purchase_cltv_table,
    retention_cltv,
    retention_cltv_table,
)
from segmint.models.clv.gamma_gamma import GammaGammaModel
from segmint.models.clv.pareto_nbd import ParetoNBDModel
from segmint.models.clv.scores import customer_scores
from segmint.models.clv.validation import (
    calibration_and_holdout,
    conditional_expectations,
    cumulative_tracking,
)
from segmint.models.clv.value import customer_lifetime_value

__all__ = [
    "BetaGeoModel",
    "GammaGammaModel",
    "ParetoNBDModel",
    "PurchaseCLTV",
    "RetentionCLTV",
    "calibration_and_holdout",
    "churn_risk",
    "conditional_expectations",
    "cumulative_tracking",
    "customer_lifetime_value",
    "customer_scores",
    "purchase_cltv",
    "purchase_cltv_table",
    "retention_cltv",
    "retention_cltv_table",
]
