"""The lecture, alive: optimizer race, the lecture's experiments, a loss-curve doctor.

Submodules (numpy only at import time; matplotlib only inside plotting functions,
scikit-learn only inside :func:`solvers.lab.data.load_digits_split`):

* ``race``        -- Adam in the Rule shape, race objectives, :func:`race`
* ``mlp``         -- a small numpy MLP and a training loop driven by the reference rules
* ``data``        -- the digits data set (optional scikit-learn) and a synthetic stand-in
* ``experiments`` -- the lecture's momentum table, beta table and exercise P6
* ``curve_doctor`` -- loss-curve symptoms with documented statistics
* ``curves``      -- synthetic training curves of each symptom, made by the reference rules
* ``plots`` / ``experiment_figures`` -- matplotlib renderers (lazy) and the manual's lab figures
"""

__all__ = ["race", "mlp", "data", "experiments", "curve_doctor", "curves", "plots", "experiment_figures"]
