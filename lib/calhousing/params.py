"""The pipeline's parameters, each declared once in :data:`PARAMETERS`, and their checks.

``calhousing run -p``, the notebooks' ``parameters`` cells and first checks, and the README's
table derive from it, so a bad value gets the same ``ValueError`` wherever it arrives.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

SCHEMES = ("asymmetric", "symmetric")
GRANULARITIES = ("per_tensor", "per_channel")
SPACES = ("raw", "standardized")
ROUNDINGS = ("nearest", "gptq", "optimal")
# The float fit, its quantized (dequantized-weights) form and the integer-only model.
MODELS = ("float", "quantized", "integer")

MIN_BITS = 2
MAX_BITS = 16
DATA_ROWS = 20_640  # rows of California Housing, which every split divides


@dataclass(frozen=True)
class Allowed:
    """The values of `kind` (a bool is no number) `within` bounds, as `text` says them; a
    value not even of `kind` is named with its type if `names_type`."""

    text: str
    kind: type
    within: Callable[[Any], bool] = lambda value: True
    names_type: bool = False

    def check(self, name: str, value: Any) -> Any:
        of_kind = isinstance(value, self.kind) and not isinstance(value, bool)
        if not (of_kind and self.within(value)):  # NaN fails every bound too
            named = f" ({type(value).__name__})" if self.names_type and not of_kind else ""
            raise ValueError(f"{name} must be {self.text}, got {value!r}{named}")
        return value


class SplitFraction(Allowed):
    """A test fraction leaving enough rows on both sides; the test part has
    ``ceil(fraction × rows)`` rows, as in scikit-learn's ``train_test_split``."""

    def check(self, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value < 1:
            raise ValueError(f"{name} must be {self.text} (the test fraction), got {value!r}")
        n_test = math.ceil(float(value) * DATA_ROWS)
        if n_test < 2 or DATA_ROWS - n_test < 9:
            raise ValueError(
                f"{name}={value!r} leaves {n_test} test and {DATA_ROWS - n_test} training rows "
                f"of the {DATA_ROWS:,}; at least 2 test rows (for R²) and 9 training rows "
                "(8 coefficients and an intercept) are needed"
            )
        return value


def integers(low: int, high: int | None = None) -> Allowed:
    """Integers from `low` to `high` (no upper bound for ``None``)."""
    bound = f"of at least {low}" if high is None else f"from {low} to {high}"
    within = (lambda v: low <= v) if high is None else (lambda v: low <= v <= high)
    return Allowed(f"an integer {bound}", Integral, within, names_type=True)


def choices(values: tuple[str, ...]) -> Allowed:
    """One of `values`."""
    return Allowed(f"one of {', '.join(map(repr, values))}", str, values.__contains__)


@dataclass(frozen=True)
class Parameter:
    """One parameter: `help` says what it does, `notebooks` are those whose ``parameters``
    cell declares it; only a `settable` one may be set by ``calhousing run -p``."""

    name: str
    default: Any
    allowed: Allowed
    help: str
    notebooks: tuple[str, ...]
    settable: bool = True

    def check(self, value: Any) -> Any:
        """`value` of the default's type (the notebook's annotation), or ``ValueError``."""
        return type(self.default)(self.allowed.check(self.name, value))


def _choice(name: str, default: str, values: tuple[str, ...], what: str) -> Parameter:
    """One of 02_quantize's choices among `values`."""
    return Parameter(name, default, choices(values), what, ("02_quantize",))


# 05_summary last: it sums up the others; the report shows it first.
NOTEBOOKS = ("01_train", "02_quantize", "03_compare", "04_sweep", "06_deploy", "05_summary")

PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "test_size",
        0.2,
        SplitFraction("a number strictly between 0 and 1", Real),
        "fraction of the rows held out for testing",
        ("01_train",),
    ),
    Parameter(
        "random_state", 42, integers(0, 2**32 - 1), "seed of train_test_split", ("01_train",)
    ),
    Parameter(
        "bits",
        8,
        integers(MIN_BITS, MAX_BITS),
        "code width of the quantized coefficients",
        ("02_quantize",),
    ),
    _choice(
        "scheme",
        "asymmetric",
        SCHEMES,
        "code grid: unsigned over min..max, or signed with zero point 0",
    ),
    _choice(
        "granularity", "per_tensor", GRANULARITIES, "one scale for all coefficients, or one each"
    ),
    _choice("space", "raw", SPACES, "coefficients as fitted, or times each feature's std"),
    _choice("rounding", "nearest", ROUNDINGS, "how each coefficient picks its grid point"),
    Parameter("n_samples", 10, integers(1), "test rows shown in the error table", ("03_compare",)),
    Parameter(
        "max_r2_loss",
        0.001,
        Allowed("a number from 0 up to (not including) 1", Real, lambda v: 0 <= v < 1),
        "largest loss of training R² against float the budgeted choice accepts",
        ("04_sweep",),
    ),
    Parameter(
        "artifacts_dir",
        "",
        Allowed("a folder; empty means the project's artifacts/", str, names_type=True),
        "where the artifacts are read and written",
        NOTEBOOKS,
        settable=False,
    ),
)
BY_NAME: dict[str, Parameter] = {parameter.name: parameter for parameter in PARAMETERS}
# The parameters `calhousing run -p` accepts; artifacts_dir is set with --artifacts-dir.
PIPELINE_PARAMETERS: tuple[str, ...] = tuple(p.name for p in PARAMETERS if p.settable)

# The checks of the library's own arguments, with the messages of the parameters.
check_bits: Callable[[Any], int] = BY_NAME["bits"].check
check_test_size: Callable[[Any], float] = BY_NAME["test_size"].check
check_random_state: Callable[[Any], int] = BY_NAME["random_state"].check
check_n_samples: Callable[[Any], int] = BY_NAME["n_samples"].check


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else ``ValueError``."""
    return choices(allowed).check(name, value)


def check_parameters(given: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``calhousing run -p`` parameters in the order given; an unknown name's
    ``ValueError`` lists the known ones."""
    hint = " (set it with --artifacts-dir)" if "artifacts_dir" in given else ""
    _refuse_unknown(given, PIPELINE_PARAMETERS, hint)
    return {name: BY_NAME[name].check(value) for name, value in given.items()}


def effective_parameters(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every settable parameter with the value a run uses: `given` checked, else the default."""
    checked = check_parameters(given)
    return {name: checked.get(name, BY_NAME[name].default) for name in PIPELINE_PARAMETERS}


def notebook_parameters(notebook: str) -> tuple[Parameter, ...]:
    """The parameters declared for `notebook` (``"02_quantize"``), in declaration order."""
    if notebook not in NOTEBOOKS:
        raise ValueError(f"notebook must be one of {', '.join(NOTEBOOKS)}, got {notebook!r}")
    return tuple(p for p in PARAMETERS if notebook in p.notebooks)


def check_notebook(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Check a notebook's parameters in its namespace, with the messages of ``calhousing run``;
    only a name papermill injected but the notebook lacks is refused, not those its cells made."""
    declared = notebook_parameters(notebook)
    names = tuple(p.name for p in declared)
    _refuse_unknown(injected_names(namespace.get("In")), names)
    missing = [name for name in names if name not in namespace]
    if missing:
        raise ValueError(
            f"{notebook} lacks the parameter(s) {', '.join(missing)}: run its parameters cell"
        )
    return {p.name: p.check(namespace[p.name]) for p in declared}


def injected_names(history: Any) -> list[str]:
    """The names assigned by the latest cell papermill injected (``# Parameters``), from
    IPython's ``In``: a shared kernel keeps earlier notebooks' cells, but the latest is its own.
    """
    cells = history if isinstance(history, Sequence) and not isinstance(history, str) else []
    injected = [s for s in cells if isinstance(s, str) and s.startswith("# Parameters\n")]
    return [
        target.id
        for node in ast.parse(injected[-1] if injected else "").body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    ]


def parameter_cell(notebook: str) -> str:
    """The source of `notebook`'s ``parameters`` cell: one annotated line per parameter."""
    return "\n".join(
        f"{p.name}: {type(p.default).__name__} = {_python_literal(p.default)}"
        f"  # {p.help}; {p.allowed.text}"
        for p in notebook_parameters(notebook)
    )


def markdown_table() -> str:
    """The README's table of parameters: name, default, notebooks, allowed values, help."""
    header = "| parameter | default | notebook | allowed | what it does |\n|---|---|---|---|---|"
    unsettable = " (`calhousing run` sets it with `--artifacts-dir`)"
    rows = [
        f"| `{p.name}` | `{_python_literal(p.default)}` | {', '.join(p.notebooks)} "
        f"| {p.allowed.text} | {p.help}{'' if p.settable else unsettable} |"
        for p in PARAMETERS
    ]
    return "\n".join([header, *rows])


def _refuse_unknown(names: Iterable[str], known: tuple[str, ...], hint: str = "") -> None:
    if unknown := sorted(set(names) - set(known)):
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)}; known parameters: {', '.join(known)}{hint}"
        )


def _python_literal(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)
