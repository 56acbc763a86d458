"""Per-DSL semantics: validation against a catalog, execution, API sequences.

A DSL folder names its support module in ``dsl.toml`` (``language = "geoquery"``); the module
lives here as ``dsl/languages/<name>.py`` and defines ``Support``, a subclass of
:class:`dsl.languages.base.LanguageSupport`. Only names in ``SUPPORT_MODULES`` are imported:
a ``dsl.toml`` never makes us import arbitrary code.
"""

from __future__ import annotations

SUPPORT_MODULES = {
    "geoquery": "dsl.languages.geoquery",
    "workflow": "dsl.languages.workflow",
}
