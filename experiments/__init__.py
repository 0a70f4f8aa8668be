"""Experiment entry scripts: flags -> config -> genjax.train.fit. No logic of their own."""
