"""Importable logic of the ClinicLLM generalization study.

The notebooks in ``notebooks/`` stay narrative; everything they compute lives here, in modules named after what
they do in the study: ``simulator`` (the embedded health system), ``loaders`` and ``mimic`` (user data),
``cohort``, ``splits``, ``clinicllm``, ``evaluation``, ``baselines``, ``runner`` and ``book``.
"""

__version__ = "0.1.0"
