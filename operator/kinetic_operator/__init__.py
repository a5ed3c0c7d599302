"""The Kinetic operator: kopf handlers (thin) and the pure status derivation in `reconcile`.

Nothing here imports kopf at package import time, so `kinetic_operator.reconcile` can be used
(and tested) without the operator's runtime dependencies being loaded.
"""
