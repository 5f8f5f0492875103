"""Test configuration: draw every figure headless."""

import matplotlib

matplotlib.use("Agg")
