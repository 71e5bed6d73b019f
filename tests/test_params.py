import pytest

from calhousing import params


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


@pytest.mark.parametrize("n_samples", [0, -3, 2.5])
def test_bad_n_samples_is_refused(n_samples):
    with pytest.raises(ValueError, match="n_samples"):
        params.check_n_samples(n_samples)


def test_choice_lists_the_allowed_names():
    with pytest.raises(ValueError, match=r"scheme must be one of 'a', 'b', got 'c'"):
        params.check_choice("scheme", "c", ("a", "b"))


def test_cli_lists_exactly_the_parameters_the_pipeline_checks():
    from calhousing.pipeline import PARAMETER_CHECKS

    assert tuple(PARAMETER_CHECKS) == params.PIPELINE_PARAMETERS
