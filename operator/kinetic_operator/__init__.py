"""The Kinetic operator: thin kopf handlers, pure decisions and status derivation.

Importing the package registers the handlers with kopf, so ``kopf run -m kinetic_operator``
works as well as ``kinetic operator run``. The pure modules (``reconcile``, ``decisions``)
do no I/O and are tested on their own.
"""

from kinetic_operator import handlers  # noqa: F401
