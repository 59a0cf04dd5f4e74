"""Restoration: the degradations and their forward operators (``operators``); models and solvers follow."""
