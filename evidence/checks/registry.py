"""The list of checks the pipeline runs, in order. Add a check here to enable it."""

from __future__ import annotations

import importlib
import inspect
from functools import cache

from evidence.checks.base import Check

CHECK_MODULES = (
    "evidence.checks.integrity",
    "evidence.checks.metadata",
    "evidence.checks.aigc_labels",
    "evidence.checks.c2pa_manifest",
    "evidence.checks.generator_traces",
    "evidence.checks.sd_watermark",
    "evidence.checks.reference_match",
    "evidence.checks.reuse",
    "evidence.checks.pixel_forensics",
    "evidence.checks.copy_move",
    "evidence.checks.localisation",
    "evidence.checks.challenge_code",
)


@cache
def all_checks() -> tuple[Check, ...]:
    """One instance of every Check subclass defined in CHECK_MODULES, in module order."""
    checks: list[Check] = []
    for dotted in CHECK_MODULES:
        module = importlib.import_module(dotted)
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Check) and obj is not Check and obj.__module__ == dotted:
                checks.append(obj())
    names = [c.name for c in checks]
    if len(names) != len(set(names)):
        raise RuntimeError(f"duplicate check names: {names}")
    return tuple(checks)


def check_by_name(name: str) -> Check:
    for check in all_checks():
        if check.name == name:
            return check
    raise KeyError(name)


def default_weights() -> dict[str, tuple[int, str]]:
    """Every finding code any check can emit, with its default weight and description."""
    weights: dict[str, tuple[int, str]] = {
        "check_error": (0, "A check failed on this file; it says nothing about the photo."),
        "file_rejected": (15, "The file could not be decoded as an image."),
    }
    for check in all_checks():
        weights.update(check.codes)
    return weights
