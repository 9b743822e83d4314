"""The encoding of raw table columns, against values computed by hand."""

import warnings

import numpy as np
import pytest

from mlp.config import DataConfig, ImputeConfig
from mlp.data.encoding import MISSING_CATEGORY, DataWarning, Encoding
from mlp.data.table import read_csv_columns
from mlp.errors import DataError


def cells_of(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    header = text.splitlines()[0].split(",")
    return read_csv_columns(path, lambda h: (list(range(len(h))), h, None))[0], header


def options(**keys):
    impute = keys.pop("impute", {})
    return DataConfig(**{"missing": "impute", **keys}, impute=ImputeConfig(**impute))


TABLE = "num,cat\n1,b\nNA,a\n3,\n10,a\n7,zz\n"  # the last row is not a training row in these tests
TRAIN = np.arange(4)


@pytest.mark.parametrize("how,fill", [("median", 3.0), ("mean", 14 / 3), ("constant", 0.0)])
def test_numeric_fill_from_the_training_rows_only(tmp_path, how, fill):
    cells, _ = cells_of(tmp_path, TABLE)
    encoding = Encoding.fit(cells, TRAIN, options(impute={"numeric": how}))
    plan = encoding.columns[0]
    assert plan.kind == "numeric" and plan.fill == pytest.approx(fill)  # median of 1, 3, 10 is 3; not 7
    with pytest.warns(DataWarning, match="column 'cat': 1"):  # row 4's zz: no training row had it
        encoded = encoding.encode(cells)
    np.testing.assert_allclose(encoded[:, 0], [1, fill, 3, 10, 7])


def test_one_hot_in_sorted_order_with_the_most_frequent_fill(tmp_path):
    cells, _ = cells_of(tmp_path, TABLE)
    encoding = Encoding.fit(cells, TRAIN, options())
    plan = encoding.columns[1]
    assert plan.kind == "categorical" and plan.levels == ["a", "b"] and plan.fill == "a"  # a twice, b once
    assert encoding.output_names() == ["num", "cat=a", "cat=b"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoded = encoding.encode(cells)
    np.testing.assert_array_equal(encoded[:, 1:], [[0, 1], [1, 0], [1, 0], [1, 0], [0, 0]])  # zz: unknown
    assert len(caught) == 1 and issubclass(caught[0].category, DataWarning)
    assert "column 'cat': 1 (['zz'])" in str(caught[0].message)


def test_a_constant_category_and_indicator_columns(tmp_path):
    cells, _ = cells_of(tmp_path, TABLE)
    encoding = Encoding.fit(cells, TRAIN, options(impute={"categorical": "constant", "indicator": True}))
    assert encoding.columns[1].levels == [MISSING_CATEGORY, "a", "b"]
    assert encoding.output_names() == ["num", "num_missing", "cat_missing", f"cat={MISSING_CATEGORY}", "cat=a", "cat=b"]
    encoded = encoding.encode(cells, np.array([1, 2]))
    np.testing.assert_array_equal(encoded, [[3, 1, 0, 0, 1, 0], [3, 0, 1, 1, 0, 0]])


def test_ties_take_the_first_category_in_sorted_order(tmp_path):
    cells, _ = cells_of(tmp_path, "c\nq\np\nNA\nq\np\n")
    assert Encoding.fit(cells, np.arange(5), options()).columns[0].fill == "p"


def test_missing_cells_are_an_error_naming_the_fix(tmp_path):
    cells, _ = cells_of(tmp_path, "a,b\n1,2\n3,N/A\n")
    with pytest.raises(DataError, match=r"t.csv, line 3, column 'b': missing value; set data.missing: impute"):
        Encoding.fit(cells, np.arange(2), options(missing="error"))


def test_a_typo_in_a_numeric_column_is_not_a_category(tmp_path):
    cells, _ = cells_of(tmp_path, "x\n1\n2\n3O\n4\n")
    with pytest.raises(DataError, match=r"line 4, column 'x': '3O' is not a number, but 3 of the column's cells are"):
        Encoding.fit(cells, np.arange(4), options())
    listed = Encoding.fit(cells, np.arange(4), options(categorical=["x"]))
    assert listed.columns[0].levels == ["1", "2", "3O", "4"]


def test_too_many_categories_is_likely_an_id(tmp_path):
    cells, _ = cells_of(tmp_path, "name\n" + "".join(f"car {i}\n" for i in range(12)))
    with pytest.raises(
        DataError,
        match=r"column 'name' has 12 categories in the training rows, more than "
        r"data.max_categories \(10\): likely an ID",
    ):
        Encoding.fit(cells, np.arange(12), options(max_categories=10))


def test_columns_are_chosen_by_name(tmp_path):
    cells, _ = cells_of(tmp_path, "a,b,c\n1,2,3\n4,5,6\n")
    assert Encoding.fit(cells, np.arange(2), options(ignore=["b"])).names == ["a", "c"]
    assert Encoding.fit(cells, np.arange(2), options(features=["c", "a"])).names == ["a", "c"]
    with pytest.raises(DataError, match="data.ignore names column 'd', which the file does not have"):
        Encoding.fit(cells, np.arange(2), options(ignore=["d"]))
