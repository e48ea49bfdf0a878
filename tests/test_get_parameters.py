"""Experiment.get_parameters: the dict ClearML's Task.get_parameters() returns for the
same calls, answered in the training process with no tracker.

The expected dicts were printed by clearml 2.x in offline mode for the ClearML program
each test repeats (the calls in the comments), keys in ClearML's order.
"""

from __future__ import annotations

from enum import Enum

import tracelet


class StringEnumClass(Enum):
    A = "a"


class IntEnumClass(Enum):
    C = 1


def my_task_parameters(**values):
    """ClearML's TaskParameters example. Imported here, under the test's offline ClearML
    environment: ClearML reads its configuration once per process, at import."""
    from clearml.task_parameters import TaskParameters, param, percent_param

    class MyTaskParameters(TaskParameters):
        iterations = param(type=int, desc="Number of iterations to run", range=(0, 100000))
        target_accuracy = percent_param(desc="The target accuracy of the model")

    return MyTaskParameters(**values)


def experiment() -> tracelet.Experiment:
    return tracelet.Experiment("x", "p", ["clearml"], {}, delivery="off")


def test_the_hyper_parameters_example_as_clearml_returns_it() -> None:
    run = experiment()
    run.set_tags({"custom1": "great", "custom2": True})  # set_user_properties(...)
    run.set_tags({"custom3": 1, "custom4": 2.0})
    parameters = run.log_params(  # parameters = task.connect(parameters)
        {
            "list": [1, 2, 3],
            "dict": {"a": 1, "b": 2},
            "tuple": (1, 2, 3),
            "int": 3,
            "float": 2.2,
            "string": "my string",
            "IntEnumParam": StringEnumClass.A,
            "StringEnumParam": IntEnumClass.C,
        }
    )
    parameters["new_param"] = "this is new"
    parameters["float"] = "9.9"
    task_parameters = my_task_parameters(iterations=1000, target_accuracy=0.95)
    assert run.log_params(task_parameters, section="from TaskParameters-like object") is (
        task_parameters
    )
    run.log_configuration("configuration dictionary", {"list": [1, 2, 3]})
    run.log_params(  # ClearML's argparse capture
        {"argparser_int_value": 1, "argparser_disabled": False, "argparser_str_value": "a string"},
        section="Args",
    )
    assert list(run.get_parameters().items()) == [
        ("General/IntEnumParam", "A"), ("General/StringEnumParam", "C"),
        ("General/dict/a", "1"), ("General/dict/b", "2"), ("General/float", "9.9"),
        ("General/int", "3"), ("General/list", "[1, 2, 3]"),
        ("General/new_param", "this is new"), ("General/string", "my string"),
        ("General/tuple", "[1, 2, 3]"),
        ("from TaskParameters-like object/iterations", "1000"),
        ("from TaskParameters-like object/target_accuracy", "0.95"),
        ("properties/custom1", "great"), ("properties/custom2", "True"),
        ("properties/custom3", "1"), ("properties/custom4", "2.0"),
        ("Args/argparser_int_value", "1"), ("Args/argparser_disabled", "False"),
        ("Args/argparser_str_value", "a string"),
    ]  # fmt: skip
    typed = run.get_parameters(backwards_compatibility=False, cast=True)
    assert typed["General/float"] == 9.9 and typed["General/tuple"] == (1, 2, 3)
    assert typed["General/list"] == [1, 2, 3] and typed["General/IntEnumParam"] == "A"
    assert typed["Args/argparser_disabled"] is False and typed["properties/custom3"] == "1"
    assert typed["from TaskParameters-like object/iterations"] == 1000


def test_order_types_and_what_a_connected_dict_keeps() -> None:
    run = experiment()
    run.set_tags({"zz": "1", "aa": 2})
    assert run.get_parameters() == {"properties/zz": "1", "properties/aa": "2"}
    p = run.log_params({"z": 1, "b": 2, "a": {"y": 1, "c": None}})
    assert list(run.get_parameters()) == [
        "properties/aa", "properties/zz", "General/z", "General/b", "General/a/y", "General/a/c",
    ]  # fmt: skip
    p["m"] = 5
    run.log_params({"q": 1, "e": 2}, section="Zed")
    p.update({"z": "str", "b": None})
    p.pop("m")  # a removed key stays, as in ClearML
    p.setdefault("w", 1)  # dict.setdefault logs nothing (ClearML's connected dict too)
    assert list(run.get_parameters().items()) == [
        ("General/a/c", ""), ("General/a/y", "1"), ("General/b", ""), ("General/m", "5"),
        ("General/z", "str"), ("Zed/e", "2"), ("Zed/q", "1"),
        ("properties/aa", "2"), ("properties/zz", "1"),
    ]  # fmt: skip
    typed = run.get_parameters(cast=True)
    # z and b keep the type int they were first logged with; a/c was None (untyped)
    assert (typed["General/z"], typed["General/b"], typed["General/a/c"]) == ("str", "", None)
