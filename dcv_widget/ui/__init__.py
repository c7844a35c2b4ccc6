"""The notebook widgets (Desktop, Instances, ClassOverview) and what their cards say: the only
layer that knows ipywidgets. Everything it shows is decided by pure functions here, from what
the managers below report."""
