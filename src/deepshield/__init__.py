"""DeepShield: label AI output, verify any file, and stop the spread of intimate-image abuse."""

__version__ = "0.1.0"
