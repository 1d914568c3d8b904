"""The numpy-namespace ops (elementwise, creation, comparisons): every backend vs numpy."""

import pytest

from tests.ops.harness import Case, check_grad, check_op, check_symbolic, rand, wants_grad

CASES = [
    Case("add", rand(2, 3), rand(2, 3, seed=1)),
    Case("add", rand(2, 3, dtype="int8", low=-5, high=5), 3, _id="weak-int"),
    Case("add", rand(3, dtype="int32", low=0, high=9), rand(3, dtype="float16"), _id="promote"),
    Case("matmul", rand(2, 3, 4), rand(4, 5, seed=1)),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_matches_numpy(case, backend):
    check_op(case, backend)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_symbolic(case):
    check_symbolic(case)


@pytest.mark.parametrize("case", [c for c in CASES if wants_grad(c)], ids=repr)
def test_gradients_agree(case):
    check_grad(case)
