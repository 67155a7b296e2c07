"""framecast: predict the next frames of a video."""

__version__ = "0.1.0"
