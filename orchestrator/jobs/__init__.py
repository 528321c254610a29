"""Reference jobs for the continuous-learning loop: prepare a dataset version, retrain, predict, gate.

These modules need the ``ml`` extra (``pip install 'continuous-learning-orchestrator[ml]'``: scikit-learn,
skops, pyarrow).
The core package never imports them; import the submodule you need, e.g.
``from orchestrator.jobs import model``. Nothing heavy is imported here.
"""
