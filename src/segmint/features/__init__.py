"""segmint.features: pure ibis builders over the canonical tables (layer 2; never execute).

- :mod:`~segmint.features.purchases`: which orders count, the as-of day, the per-customer
  purchase summary (one pass over the orders);
- :mod:`~segmint.features.rfm`: RFM scores and the 11 named segments (:data:`RFM_SEGMENTS`);
- :mod:`~segmint.features.btyd`: frequency, recency, T, monetary_value for CLV models;
- :mod:`~segmint.features.abc`: ABC (Pareto) classes by revenue share and the Pareto curve.
"""
