"""tfcompare: compare TensorFlow Serving backends on your own images."""

__version__ = "0.1.0"
