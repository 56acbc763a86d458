"""dsl: the language layer of dslforge. Load a DSL folder; parse, validate, format, execute;
compile its grammar for constrained decoding. Imports only the standard library and Lark.

>>> import dsl
>>> geo = dsl.load("geoquery")
>>> geo.execute("answer(capital(loc_2(stateid('texas'))))")
['austin']
"""

from dsl.errors import Diagnostic, DSLError, DSLSyntaxError, ExecutionError, GrammarError, Span
from dsl.language import DSL
from dsl.loading import available, grammars_root, load

__all__ = [
    "DSL",
    "DSLError",
    "DSLSyntaxError",
    "Diagnostic",
    "ExecutionError",
    "GrammarError",
    "Span",
    "available",
    "grammars_root",
    "load",
]
