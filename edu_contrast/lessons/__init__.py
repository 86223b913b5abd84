"""One module per notebook stem: the experiments notebook ``NN_stem.ipynb`` runs live in ``lessons/stem.py``.

Lessons train and measure with ``methods``, ``measure`` and ``train``; ``widgets`` only draw what the
lessons compute. ``_cache.cached`` keeps a run for the session so a widget can switch between runs.
"""
