"""netcut's shipped data, installed as the package ``netcut_data``: predictors, the calibration corpus's
feature table and the embedded Fashion-MNIST subset (read through :mod:`latmodel.resources`)."""
