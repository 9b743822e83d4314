"""`mlp explain --expr`: the notes' worked examples, random expressions against finite differences,
and a parser that runs nothing it was not built to."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import run
from mlp.errors import MlpError
from mlp.explain.expression import Graph, explain_expression, parse_at


def gradients(text, at):
    graph = Graph(text)
    value = graph.evaluate(at)
    return value, {name: node.grad for name, node in graph.variables.items()}


def test_the_notes_simple_example():
    value, grads = gradients("(x + y) * z", {"x": -2, "y": 5, "z": -4})
    assert value == -12 and grads == {"x": -4, "y": -4, "z": 3}


def test_the_notes_sigmoid_neuron():
    at = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}
    value, grads = gradients("sigmoid(w0*x0 + w1*x1 + w2)", at)
    assert round(value, 2) == 0.73
    assert [round(grads[k], 2) for k in ("w0", "w1", "w2")] == [-0.20, -0.39, 0.20]
    assert [round(grads[k], 2) for k in ("x0", "x1")] == [0.39, -0.59]


def test_a_variable_on_two_paths_sums_its_gradients():
    value, grads = gradients("x*x + x", {"x": 3})
    assert value == 12 and grads["x"] == 7  # 2x + 1


LEAVES = st.sampled_from(["x", "y", "z", "1.5", "0.5"])


def expressions(depth=3):
    """Random expressions whose every operation is defined and smooth near the point."""
    if depth == 0:
        return LEAVES
    inner = expressions(depth - 1)
    return st.one_of(
        LEAVES,
        st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} / (2 + {t[1]} * {t[1]}))"),
        inner.map(lambda a: f"exp({a} / 10)"),
        inner.map(lambda a: f"log(1 + {a} * {a})"),
        inner.map(lambda a: f"tanh({a})"),
        inner.map(lambda a: f"sigmoid({a})"),
        inner.map(lambda a: f"({a}) ** 2"),
    )


def python_value(text, at):
    """The test's own evaluation of the same text (the package never evaluates Python)."""
    names = {"exp": math.exp, "log": math.log, "tanh": math.tanh, "sigmoid": lambda v: 1 / (1 + math.exp(-v))}
    return eval(text, {"__builtins__": {}}, {**names, **at})


@settings(max_examples=150, deadline=None)
@given(expressions(), st.floats(-2, 2), st.floats(-2, 2), st.floats(-2, 2))
def test_random_expressions_agree_with_python_and_finite_differences(text, x, y, z):
    at = {"x": x, "y": y, "z": z}
    graph = Graph(text)
    used = {name: at[name] for name in graph.variables}
    value = graph.evaluate(used)
    assert math.isclose(value, python_value(text, at), rel_tol=1e-12, abs_tol=1e-12)
    for name, node in graph.variables.items():
        eps = 1e-6
        plus, minus = dict(at), dict(at)
        plus[name] += eps
        minus[name] -= eps
        numeric = (python_value(text, plus) - python_value(text, minus)) / (2 * eps)
        assert math.isclose(node.grad, numeric, rel_tol=1e-5, abs_tol=1e-6), (text, name)


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os').system('true')", "is not allowed in an expression"),
        ("x.real", "'x.real' is not allowed"),
        ("x[0]", "is not allowed"),
        ("(lambda: 1)()", "is not allowed"),
        ("open('f')", "unknown function 'open'"),
        ("max(x)", "max takes 2 argument(s), got 1"),
        ("exp(x=1)", "is not allowed"),
        ("'a' + x", "is not allowed"),
        ("x if y else z", "is not allowed"),
        ("exp", "exp is a function: write exp(...)"),
        ("x +", "not an arithmetic expression"),
        ("x" + " + x" * 1000, "characters long"),
    ],
)
def test_anything_but_arithmetic_is_refused(text, message):
    with pytest.raises(MlpError, match=None) as error:
        Graph(text)
    assert message in str(error.value)


def test_values_must_fit_the_expression():
    with pytest.raises(MlpError, match="--at gives no value for z"):
        explain_expression("x + z", "x=1")
    with pytest.raises(MlpError, match="--at names w, which the expression does not use"):
        explain_expression("x", "x=1,w=2")
    with pytest.raises(MlpError, match="log needs a positive number"):
        explain_expression("log(x)", "x=0")
    with pytest.raises(MlpError, match="division by zero"):
        explain_expression("1 / x", "x=0")
    with pytest.raises(MlpError, match="is not a number"):
        parse_at("x=abc")


def test_the_command_prints_the_graph_both_ways_and_writes_dot(tmp_path):
    result = run("explain", "--expr", "(x + y) * z", "--at", "x=-2,y=5,z=-4", "--dot", tmp_path / "f.dot")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "q1 = x + y = 3" in text and "f = q1 · z = -12" in text
    assert "∂q1/∂x = 1, so ∂f/∂x += -4 × 1 = -4" in text
    assert "∂f/∂z = 3  (central finite difference 3," in text
    dot = (tmp_path / "f.dot").read_text()
    assert dot.startswith("digraph f {") and dot.count("->") == 4 and 'label="f = q1 · z\\nvalue -12' in dot
    refused = run("explain", "--expr", "__import__('os')", "--at", "x=1")
    assert refused.exit_code == 2 and refused.output.startswith("error: ")
