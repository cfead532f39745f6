"""tabflow: the domain package of the serverless tabular-ML pipeline.

Modules are imported explicitly (``from tabflow import contract``); this file imports nothing
so that the prediction path never pulls in pandas or scikit-learn by accident.
"""

__version__ = "0.1.0"
