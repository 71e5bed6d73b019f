"""Each parameter is declared once; the CLI, the notebooks and the README follow the declaration."""

from __future__ import annotations

import re

import nbformat
import papermill
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calhousing import cli, params, pipeline
from calhousing.core import quantization, rounding
from calhousing.run.artifacts import project_root

NOTEBOOKS = pipeline.notebooks_dir()


@pytest.mark.parametrize("bits", [2, 8, 16])
def test_bits_in_range_are_accepted(bits):
    assert params.check_bits(bits) == bits


@pytest.mark.parametrize("bits", [1, 17, 0, -8, 8.0, "8", True, None])
def test_bits_out_of_range_or_not_integers_name_the_allowed_values(bits):
    with pytest.raises(ValueError, match=r"bits must be an integer from 2 to 16"):
        params.check_bits(bits)


@pytest.mark.parametrize("random_state", [4.5, "42", None, -1, 2**32])
def test_bad_random_state_is_refused(random_state):
    with pytest.raises(ValueError, match="random_state"):
        params.check_random_state(random_state)


@pytest.mark.parametrize("budget", [-0.001, 1, 1.5, float("nan"), float("inf"), True, "0.1"])
def test_bad_r2_loss_budget_is_refused(budget):
    with pytest.raises(ValueError, match="max_r2_loss must be a number from 0 up to"):
        params.check_parameters({"max_r2_loss": budget})


def test_zero_budget_is_allowed_and_becomes_a_float():
    assert params.check_parameters({"max_r2_loss": 0}) == {"max_r2_loss": 0.0}


@pytest.mark.parametrize("n_samples", [0, -3, 2.5])
def test_bad_n_samples_is_refused(n_samples):
    with pytest.raises(ValueError, match="n_samples must be an integer of at least 1"):
        params.check_n_samples(n_samples)


def test_choice_lists_the_allowed_names():
    with pytest.raises(ValueError, match=r"scheme must be one of 'a', 'b', got 'c'"):
        params.check_choice("scheme", "c", ("a", "b"))


@pytest.mark.parametrize(
    ("test_size", "message"),
    [
        (1e-9, "test_size=1e-09 leaves 1 test and 20639 training rows of the 20,640"),
        (4.8e-5, "test_size=4.8e-05 leaves 1 test and 20639 training rows"),
        (0.99999, "test_size=0.99999 leaves 20640 test and 0 training rows"),
        (0.9996, "test_size=0.9996 leaves 20632 test and 8 training rows"),
    ],
)
def test_a_split_too_small_to_test_or_to_fit_is_refused(test_size, message):
    with pytest.raises(ValueError) as refused:
        params.check_test_size(test_size)
    assert str(refused.value).startswith(message)
    assert "at least 2 test rows (for R²) and 9 training rows" in str(refused.value)


@pytest.mark.parametrize("test_size", [5e-5, 0.2, 0.9995])
def test_the_smallest_usable_parts_are_accepted(test_size):
    assert params.check_test_size(test_size) == test_size


def test_the_declared_row_count_is_the_datas(housing):
    assert len(housing) == params.DATA_ROWS == 20_640


def test_choices_are_declared_once_and_the_quantizers_use_them():
    assert params.SCHEMES == ("asymmetric", "symmetric")
    assert params.GRANULARITIES == ("per_tensor", "per_channel")
    assert params.SPACES == ("raw", "standardized")
    assert params.ROUNDINGS == ("nearest", "gptq", "optimal")
    assert quantization.SCHEMES is params.SCHEMES
    assert quantization.SPACES is params.SPACES
    assert rounding.ROUNDINGS is params.ROUNDINGS


def test_run_accepts_every_settable_parameter_but_artifacts_dir():
    assert params.PIPELINE_PARAMETERS == (
        "test_size",
        "random_state",
        "bits",
        "scheme",
        "granularity",
        "space",
        "rounding",
        "n_samples",
        "max_r2_loss",
    )


def test_unknown_parameter_names_the_known_ones():
    with pytest.raises(ValueError) as refused:
        params.check_parameters({"colour": "red"})
    assert str(refused.value) == (
        "unknown parameter(s) colour; known parameters: test_size, random_state, bits, "
        "scheme, granularity, space, rounding, n_samples, max_r2_loss"
    )


def test_effective_parameters_fill_in_every_default():
    assert params.effective_parameters({"bits": 4, "space": "standardized"}) == {
        "test_size": 0.2,
        "random_state": 42,
        "bits": 4,
        "scheme": "asymmetric",
        "granularity": "per_tensor",
        "space": "standardized",
        "rounding": "nearest",
        "n_samples": 10,
        "max_r2_loss": 0.001,
    }


PARAMETERS_02 = {
    "bits": 8,
    "scheme": "asymmetric",
    "granularity": "per_tensor",
    "space": "raw",
    "rounding": "nearest",
    "artifacts_dir": "",
}


def _namespace(injected: str | None, **values):
    """A notebook's globals after its parameters cell, papermill's `injected` cell (if any),
    and `values` left by earlier cells."""
    history = ["", params.parameter_cell("02_quantize")]
    if injected is not None:
        history.append(injected)
    return {
        "__name__": "__main__",
        "In": history,
        "Out": {},
        "get_ipython": lambda: None,
        "params": params,
        **PARAMETERS_02,
        **values,
    }


def test_notebook_check_returns_its_parameters():
    namespace = _namespace('# Parameters\nbits = 4\nartifacts_dir = "/tmp/a"\n', bits=4)
    assert params.check_notebook("02_quantize", namespace) == {
        **PARAMETERS_02,
        "bits": 4,
    }


def test_notebook_check_refuses_a_name_papermill_injected_but_the_notebook_lacks():
    namespace = _namespace('# Parameters\ncolour = "red"\n', colour="red")
    with pytest.raises(ValueError) as refused:
        params.check_notebook("02_quantize", namespace)
    assert str(refused.value) == (
        "unknown parameter(s) colour; known parameters: bits, scheme, granularity, space, "
        "rounding, artifacts_dir"
    )


def test_notebook_check_refuses_a_parameter_of_another_notebook():
    namespace = _namespace("# Parameters\ntest_size = 0.3\n", test_size=0.3)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) test_size;"):
        params.check_notebook("02_quantize", namespace)


def test_names_the_notebook_defined_itself_are_not_parameters():
    """Run All twice in JupyterLab: the first run's variables are not injected parameters."""
    namespace = _namespace(None, metrics={"test": {"r2": 0.57}}, n_rows=3)
    assert params.check_notebook("02_quantize", namespace) == PARAMETERS_02


def test_only_the_latest_injected_cell_counts_in_a_shared_kernel():
    """%reset -f keeps IPython's history: 01's injected test_size is not 02's."""
    namespace = _namespace('# Parameters\nartifacts_dir = "/tmp/a"\n')
    namespace["In"].insert(1, "# Parameters\ntest_size = 0.3\n")
    assert params.check_notebook("02_quantize", namespace)["artifacts_dir"] == ""


def test_notebook_and_cli_give_the_same_message_for_a_bad_value():
    with pytest.raises(ValueError) as from_notebook:
        params.check_notebook("02_quantize", _namespace("# Parameters\nbits = 99\n", bits=99))
    with pytest.raises(ValueError) as from_cli:
        params.check_parameters({"bits": 99})
    assert (
        str(from_notebook.value)
        == str(from_cli.value)
        == ("bits must be an integer from 2 to 16, got 99")
    )


def test_injected_names_are_read_from_papermills_cell():
    history = ["", "bits: int = 8", '# Parameters\nbits = 4\ncolour = "red"\n', "x = 1"]
    assert params.injected_names(history) == ["bits", "colour"]
    assert params.injected_names(["", "bits = 4"]) == []
    assert params.injected_names(None) == []


def test_notebook_check_knows_only_the_five_notebooks():
    with pytest.raises(ValueError, match="notebook must be one of 01_train"):
        params.check_notebook("06_extra", {})


def _parameters_cell(notebook: str) -> str:
    nb = nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0].source


@pytest.mark.parametrize("notebook", params.NOTEBOOKS)
def test_each_notebooks_parameters_cell_is_the_declaration(notebook):
    assert _parameters_cell(notebook) == params.parameter_cell(notebook)


@pytest.mark.parametrize("notebook", params.NOTEBOOKS)
def test_papermill_reads_each_declared_type_default_and_help(notebook):
    inferred = papermill.inspect_notebook(str(NOTEBOOKS / f"{notebook}.ipynb"))
    declared = params.notebook_parameters(notebook)
    assert list(inferred) == [p.name for p in declared]
    for parameter in declared:
        found = inferred[parameter.name]
        assert found["inferred_type_name"] == type(parameter.default).__name__
        assert found["help"] == f"{parameter.help}; {parameter.allowed.text}"
        assert eval(found["default"]) == parameter.default  # a Python literal


def test_papermill_shows_bits_as_written_out():
    found = papermill.inspect_notebook(str(NOTEBOOKS / "02_quantize.ipynb"))["bits"]
    assert found == {
        "name": "bits",
        "inferred_type_name": "int",
        "default": "8",
        "help": "code width of the quantized coefficients; an integer from 2 to 16",
    }


@pytest.mark.parametrize("notebook", params.NOTEBOOKS)
def test_each_notebook_checks_its_parameters_in_its_first_code_cell(notebook):
    nb = nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert f'params.check_notebook("{notebook}", globals())' in code[1]


def test_readme_table_is_the_declaration():
    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- parameters:start -->\n(.*?)\n<!-- parameters:end -->", readme, re.S)
    assert block is not None
    assert block.group(1) == params.markdown_table()


def test_readme_table_shows_bits_as_written_out():
    assert (
        "| `bits` | `8` | 02_quantize | an integer from 2 to 16 | code width of the quantized "
        "coefficients |"
    ) in params.markdown_table().splitlines()


def test_cli_help_lists_the_settable_parameters(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "one of: test_size, random_state, bits, scheme, granularity, space, rounding, " in (
        help_text
    )


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=1e-12, max_value=1e-3),
        st.floats(min_value=0.999, max_value=1 - 1e-12),
        st.floats(min_value=1e-12, max_value=1 - 1e-12),
    )
)
def test_an_accepted_test_size_gives_scikit_learn_a_usable_split(test_size):
    """scikit-learn is the oracle: what the check accepts, train_test_split can do with room."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    rows = np.arange(params.DATA_ROWS)
    try:
        params.check_test_size(test_size)
    except ValueError:
        accepted = False
    else:
        accepted = True
    try:
        train, test = train_test_split(rows, test_size=test_size, random_state=0)
    except ValueError:  # scikit-learn refuses an empty part itself
        assert not accepted
        return
    assert accepted == (len(test) >= 2 and len(train) >= 9)
