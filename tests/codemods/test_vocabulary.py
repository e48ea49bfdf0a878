"""The codemods' use of the run vocabulary (issue 11's API): argument mapping details the
fixtures do not each show, and the promise that every call site left says what to write."""

from __future__ import annotations

import re
import textwrap

import pytest

from tests.codemods.test_fixtures import CASES, FIXTURES
from tracelet.codemods.rules import RULES, Safety
from tracelet.codemods.runner import Options, transform_bytes

# what a reason may not be: a statement that there is nothing, without the way out
BARE = re.compile(
    r"no (tracelet )?equivalent|no tracelet rewrite|is not migrated|not supported|has no such", re.I
)


def migrate(source: str, code: str, to: str | None = None, unsafe: bool = False):
    options = Options(source, (to or source).split(","), unsafe, ())
    data = textwrap.dedent(code).encode()
    new, file_report, _ = transform_bytes(data, "script.py", options)
    assert file_report.error is None, file_report.error
    return new.decode(), [entry.short() for entry in file_report.entries]


@pytest.mark.parametrize("case", CASES)
def test_every_left_reason_in_the_fixtures_says_what_to_write(case: str) -> None:
    for line in (FIXTURES / case / "report.txt").read_text().splitlines():
        if " left: " in line:
            assert not BARE.search(line), line


def test_manual_rules_do_not_say_only_that_nothing_exists() -> None:
    for rule in RULES.values():
        if rule.safety == Safety.MANUAL:
            assert not BARE.search(rule.summary), rule.label


def test_timm_style_conditional_resume_becomes_resume_must() -> None:
    new, entries = migrate(
        "wandb",
        """
        import wandb
        wandb.init(project="p", resume="must" if a.rid else None, id=a.rid if a.rid else None)
        wandb.log({"a": 1})
        """,
    )
    assert (
        'tracelet.start_logging(project="p", backend="wandb", '
        'resume=a.rid if a.rid else None, resume_mode="must")'
    ) in new
    assert entries[0] == "3 WB001 rewritten"


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ('id="x", resume="never"', "resume_mode is 'allow' or 'must'"),
        ('resume_from="x?_step=20"', "rewinds or forks a W&B run"),
        ("resume=True", "pass that run's id"),
    ],
)
def test_resumes_tracelet_cannot_match_are_left_with_what_to_write(
    arguments: str, reason: str
) -> None:
    _, entries = migrate("wandb", f"import wandb\nwandb.init({arguments})\n")
    assert entries[0].startswith("2 WB013 left: ") and reason in entries[0], entries


def test_resume_for_several_trackers_names_the_wandb_run() -> None:
    new, _ = migrate("wandb", 'import wandb\nwandb.init(id="abc", resume="must")\n', "wandb,mlflow")
    assert 'resume={"wandb": "abc"}, resume_mode="must"' in new


def test_run_id_reads_the_first_tracker_when_wandb_is_not_a_target() -> None:
    new, entries = migrate(
        "wandb", 'import wandb\nrun = wandb.init(project="p")\nprint(run.id)\n', "mlflow"
    )
    assert 'print(run.ids["mlflow"])' in new
    assert "3 WB011 warning: run.id now reads the mlflow run's" in entries


def test_a_run_id_inside_an_f_string_keeps_the_output_valid_before_python_3_12() -> None:
    # yolov5 utils/loggers/wandb/wandb_utils.py: f"run_{wandb.run.id}_model"
    new, _ = migrate(
        "wandb",
        """
        import wandb
        run = wandb.init(project="p")
        name = f"run_{run.id}_model"
        other = f'run_{run.id}'
        """,
    )
    assert "name = f\"run_{run.ids['wandb']}_model\"" in new
    assert "other = f'run_{run.ids[\"wandb\"]}'" in new
    compile(new, "script.py", "exec")


def test_an_artifact_of_two_files_is_left_with_the_folder_advice() -> None:
    _, entries = migrate(
        "wandb",
        """
        import wandb
        run = wandb.init(project="p")
        artifact = wandb.Artifact("model", type="model")
        artifact.add_file("config.json")
        artifact.add_file("weights.pt")
        run.log_artifact(artifact)
        """,
    )
    left = [e for e in entries if " left: " in e]
    assert left and all("put them in one folder" in e for e in left), entries


def test_media_with_boxes_is_left_and_a_logged_list_of_media_is_not() -> None:
    _, entries = migrate(
        "wandb",
        """
        import wandb
        wandb.init(project="p")
        wandb.log({"a": wandb.Image(x, boxes={"predictions": {}})})
        wandb.log({"b": [wandb.Image(i) for i in images]})
        """,
    )
    assert any("4 WB100 left: wandb.Image(boxes=...)" in e for e in entries), entries
    assert any(e.startswith("5 WB014 held") for e in entries), entries  # by line 4 only


def test_define_metric_best_with_goal_is_left_with_min_or_max() -> None:
    _, entries = migrate(
        "wandb",
        'import wandb\nwandb.init()\nwandb.define_metric("acc", summary="best", goal="maximize")\n',
    )
    assert any("3 WB008 left:" in e and "summary='max'" in e for e in entries), entries


def test_mlflow_log_dict_to_yaml_is_left_and_tables_move_only_with_unsafe() -> None:
    code = """
    import mlflow
    with mlflow.start_run():
        mlflow.log_dict({"a": 1}, "config.yaml")
        mlflow.log_table(df, "results.json")
    """
    _, entries = migrate("mlflow", code)
    assert any("4 ML103 left:" in e and "JSON" in e for e in entries), entries
    assert any("5 ML011 left:" in e and "--unsafe" in e for e in entries), entries
    new, _ = migrate("mlflow", code.replace("config.yaml", "config.json"), unsafe=True)
    assert 'experiment.log_table("results", df)' in new
    assert 'experiment.log_artifact({"a": 1}, name="config.json")' in new


def test_mlflow_figures_and_image_files_become_artifacts_of_the_same_name() -> None:
    code = """
    import mlflow
    with mlflow.start_run():
        mlflow.log_figure(fig, "plots/roc.png")
        mlflow.log_figure(figure=curve, artifact_file=f"plots/{name}.png")
        mlflow.log_image(img, artifact_file="samples/first.jpg")
    """
    new, entries = migrate("mlflow", code)
    assert 'experiment.log_artifact(fig, name="plots/roc.png")' in new
    assert 'experiment.log_artifact(curve, name=f"plots/{name}.png")' in new
    assert 'experiment.log_artifact(img, name="samples/first.jpg")' in new
    assert [e.split(" ", 2)[:2] for e in entries if " ML015 " in e] == [
        ["4", "ML015"],
        ["5", "ML015"],
        ["6", "ML015"],
    ], entries
    # an array is an image file only under an image name: other names are left
    _, entries = migrate(
        "mlflow",
        'import mlflow\nwith mlflow.start_run():\n    mlflow.log_image(img, "raw.ppm")\n'
        "    mlflow.log_image(img, artifact_file=path)\n",
    )
    assert any("3 ML103 left:" in e and "'<file>.png'" in e for e in entries), entries
    assert any("4 ML103 left:" in e for e in entries), entries


def test_mlflow_log_model_keeps_the_name_and_leaves_torch_annotations_and_other_flavors() -> None:
    code = """
    import mlflow
    with mlflow.start_run():
        mlflow.pytorch.log_model(pytorch_model=net, name="net", signature=sig)
    """
    _, entries = migrate("mlflow", code)
    assert any(
        "4 ML101 left: signature=: mlflow.pytorch.log_model saves the model as pt2" in e
        for e in entries
    ), entries
    new, entries = migrate(
        "mlflow", code.replace("signature=sig", "await_registration_for=0, step=0")
    )
    assert 'experiment.log_model(net, name="net")' in new
    assert (
        "4 ML010 warning: await_registration_for= dropped: the MLflow model is logged without it"
        in entries
    )
    _, entries = migrate(
        "mlflow", code.replace("pytorch.log_model(pytorch_model=", "keras.log_model(")
    )
    assert any("4 ML101 left:" in e and "mlflow.keras.save_model" in e for e in entries), entries


def test_mlflow_log_model_annotations_keep_their_names() -> None:
    code = """
    import mlflow
    with mlflow.start_run():
        mlflow.sklearn.log_model(rf, "rf", signature=infer_signature(x, y), input_example=x[:5],
                                 metadata={"v": 1}, params=p, tags={"t": 1}, model_type="rf",
                                 step=epoch, await_registration_for=0)
        mlflow.xgboost.log_model(b, name="b", input_example=None, step=0, model_format="ubj")
    """
    new, entries = migrate("mlflow", code)
    assert (
        'experiment.log_model(rf, name="rf", input_example=x[:5], signature=infer_signature(x, '
        'y), metadata={"v": 1}, params=p, tags={"t": 1}, model_type="rf", step=epoch)'
        in " ".join(new.split())  # the call keeps its line breaks
    ), new
    assert 'experiment.log_model(b, name="b")' in new  # None and the defaults: nothing to say
    assert [e for e in entries if "ML010" in e] == [
        "4 ML010 rewritten",
        "4 ML010 warning: await_registration_for= dropped: the MLflow model is logged without it",
        "7 ML010 rewritten",
    ], entries


def test_mlflow_xgboost_log_model_in_another_format_is_left() -> None:
    code = """
    import mlflow
    with mlflow.start_run():
        mlflow.xgboost.log_model(booster, "model", model_format="ubj")
    """
    new, _ = migrate("mlflow", code)
    assert 'experiment.log_model(booster, name="model")' in new
    _, entries = migrate("mlflow", code.replace('"ubj"', '"json"'))
    assert any(
        "4 ML101 left:" in e and "model_format=" in e and "mlflow.xgboost.save_model" in e
        for e in entries
    ), entries


def test_mlflow_pytorch_autolog_without_lightning_is_left_with_what_it_stores() -> None:
    # with a Lightning Trainer it becomes tracelet.autolog (ML021, test_lightning_autolog_e2e)
    code = """
    import mlflow
    mlflow.pytorch.autolog()
    with mlflow.start_run():
        train(model)
    """
    new, entries = migrate("mlflow", code)
    [entry] = [e for e in entries if "ML100 left:" in e]
    assert entry.startswith("3 ML100 left: mlflow.pytorch.autolog without a Lightning Trainer")
    assert "SummaryWriter scalars" in entry and "drop the call" in entry
    assert "with mlflow.start_run():" in new  # the file stays on MLflow


def test_clearml_rows_table_takes_its_header_and_properties_become_tags() -> None:
    new, entries = migrate(
        "clearml",
        """
        from clearml import Task
        task = Task.init(project_name="p", task_name="t")
        logger = task.get_logger()
        logger.report_table("t", "rows", iteration=2, table_plot=[["a", "b"], [1, 2]])
        task.set_user_properties({"backbone": "resnet"}, depth=50)
        """,
    )
    assert 'logger.log_table("t/rows", [[1, 2]], columns=["a", "b"], step=2)' in new
    assert 'task.set_tags({"backbone": "resnet", "depth": 50})' in new
    assert not [e for e in entries if " left: " in e], entries


def test_clearml_histogram_of_a_computed_value_asks_for_a_name() -> None:
    _, entries = migrate(
        "clearml",
        """
        from clearml import Logger
        Logger.current_logger().report_histogram("h", "s", values=f(), iteration=0)
        """,
    )
    assert any("3 CL100 left:" in e and "counts = ..." in e for e in entries), entries


def test_moved_artifact_arguments_keep_their_own_rewrites() -> None:
    """facebookresearch/ConvNeXt, utils.py: the artifact is named after ``wandb.run.id``."""
    new, _ = migrate(
        "wandb",
        """
        import wandb
        wandb.init(project="p")
        artifact = wandb.Artifact(wandb.run.id + "_model", type="model")
        artifact.add_dir(output_dir)
        wandb.log_artifact(artifact, aliases=["latest", "best"])
        """,
    )
    assert (
        "tracelet.get_active_experiment().log_artifact(output_dir, name=tracelet."
        'get_active_experiment().ids["wandb"] + "_model", type="model", '
        'aliases=["latest", "best"])'
    ) in new
    assert "Artifact" not in new and "add_dir" not in new


def test_add_file_names_its_entry_inside_the_artifact() -> None:
    """ultralytics/yolov5, utils/loggers/wandb/wandb_utils.py: ``add_file(p, name=...)`` is
    the entry's name inside the artifact, ``<artifact>/<entry>`` in tracelet's name; every
    line of the artifact is in the report."""
    code = """
    import wandb
    run = wandb.init(project="p")
    model_artifact = wandb.Artifact("run_" + run.id + "_model", type="model")
    model_artifact.add_file(str(path / "last.pt"), name="best.pt")
    run.log_artifact(model_artifact, aliases=["latest"])
    """
    new, entries = migrate("wandb", code)
    assert (
        'run.log_artifact(str(path / "last.pt"), name="run_" + run.ids["wandb"] + "_model" + '
        '"/best.pt", type="model", aliases=["latest"])'
    ) in new
    assert [e.split(":")[0] for e in entries if "WB012" in e] == [
        "4 WB012 rewritten", "5 WB012 rewritten", "6 WB012 rewritten",
    ]  # fmt: skip


def test_add_file_of_a_computed_path_names_the_entry_after_the_file() -> None:
    """lucidrains/DALLE-pytorch, train_dalle.py: ``save_artifact(model_config, model_path,
    name)`` adds ``model_path``; W&B names the entry after the file."""
    new, _ = migrate(
        "wandb",
        """
        import wandb
        run = wandb.init(project="p")
        def save_artifact(model_config, model_path, name='trained-dalle'):
            model_artifact = wandb.Artifact(name, type='model', metadata=dict(model_config))
            model_artifact.add_file(model_path)
            run.log_artifact(model_artifact)
        """,
    )
    assert (
        'run.log_artifact(model_path, name=f"{name}/{os.path.basename(model_path)}", '
        "type='model', metadata=dict(model_config))"
    ) in new
    assert "import os" in new
    called = """
    import wandb
    run = wandb.init(project="p")
    artifact = wandb.Artifact("m", type="model")
    artifact.add_file(save(model))
    run.log_artifact(artifact)
    """
    _, entries = migrate("wandb", called)  # save() would run twice for the entry's name
    assert any("5 WB103 left: add_file(<expression>)" in e for e in entries), entries


def test_media_appended_to_a_logged_list_is_not_left_and_returned_media_are() -> None:
    """wandb/examples, pytorch-cnn-mnist/main.py: images appended to a list, then logged."""
    _, entries = migrate(
        "wandb",
        """
        import wandb
        wandb.init(project="p")
        example_images = []
        example_images.append(wandb.Image(data[0], caption="Pred"))
        wandb.log({"Examples": example_images})
        def sample(x):
            return wandb.Image(x)
        """,
    )
    assert any(e.startswith("5 WB014 held") for e in entries), entries  # by line 8 only
    assert any("8 WB100 left:" in e and "returned from a function" in e for e in entries)


@pytest.mark.parametrize(
    ("use", "reason"),
    [
        ("print(len(images))", "used other than in wandb.log"),
        ("images.extend(more)", "used other than in wandb.log"),
        ("images = images[:2]", "used other than in wandb.log"),
        ('wandb.log({"n": 1}, step=images)', "used other than in wandb.log"),
        ('wandb.log({"other": [wandb.Image(a), 3]})', "a list mixing wandb.Image"),
    ],
)
def test_a_media_list_that_goes_elsewhere_than_wandb_log_is_left(use: str, reason: str) -> None:
    _, entries = migrate(
        "wandb",
        f"""
        import wandb
        wandb.init(project="p")
        images = [wandb.Image(x) for x in batch]
        wandb.log({{"images": images}})
        {use}
        """,
    )
    assert any(" WB100 left: " in e and reason in e for e in entries), entries


def test_a_media_list_in_a_dict_variable_only_wandb_log_is_given_is_rewritten() -> None:
    code = """
        import wandb
        wandb.init(project="p")
        log = {"examples": [wandb.Image(x) for x in batch], "acc": 0.5}
        log["more"] = (wandb.Image(a), wandb.Image(b))
        wandb.log(log, step=3)
        shown = {"examples": [wandb.Image(x) for x in batch]}
        print(shown)
        wandb.log(shown)
        """
    _, entries = migrate("wandb", code)
    assert any("7 WB100 left: a list of wandb.Image values used other" in e for e in entries)
    assert [e[:10] for e in entries if e[0] in "45"] == ["4 WB014 he", "5 WB014 he", "5 WB014 he"]
    without_print = "\n".join(line for line in code.splitlines() if "print" not in line)
    new, entries = migrate("wandb", without_print)
    assert 'log["more"] = (tracelet.Image(a), tracelet.Image(b))' in new
    assert not [e for e in entries if " rewritten" not in e], entries


def test_appended_media_whose_list_goes_elsewhere_is_left() -> None:
    _, entries = migrate(
        "wandb",
        """
        import wandb
        wandb.init(project="p")
        def collect(batch, helper):
            images = []
            for x in batch:
                images.append(wandb.Image(x))
            helper(images)
            wandb.log({"images": images})
        """,
    )
    assert any("7 WB100 left: a wandb.Image value passed to code" in e for e in entries), entries


def test_log_of_a_non_dict_literal_raises_in_both_and_is_kept_with_a_warning() -> None:
    """huggingface/transformers-research-projects, vqgan-clip/VQGAN_CLIP.py."""
    new, entries = migrate(
        "wandb",
        """
        import wandb
        wandb.init(project="face-editor")
        wandb.log("Original Image", wandb.Image(image))
        """,
    )
    assert 'tracelet.log("Original Image", tracelet.Image(image))' in new
    assert {"4 WB002 rewritten", "4 WB009 rewritten"} <= set(entries), entries


def test_clearml_report_media_of_an_image_file_is_an_image() -> None:
    """allegroai/clearml, examples/reporting/image_reporting.py: an image sent as media."""
    code = """
    from clearml import Logger
    Logger.current_logger().report_media(
        "image", "picasso", iteration=0, local_path=path, file_extension="jpg"
    )
    """
    new, entries = migrate("clearml", code)
    assert '.log_image(\n    "image/picasso", path, step=0\n)' in new, new
    _, entries = migrate("clearml", code.replace('"jpg"', '"mp3"'))
    assert any("3 CL100 left:" in e and "experiment.log_artifact" in e for e in entries), entries


def test_mlflow_run_by_experiment_id_goes_to_that_experiment_by_name() -> None:
    code = """
    import mlflow
    exp = mlflow.get_experiment_by_name("mnist")
    with mlflow.start_run(experiment_id=exp.experiment_id):
        mlflow.log_metric("acc", 0.9)
    """
    new, _ = migrate("mlflow", code)
    assert 'tracelet.start_logging(project="mnist", backend="mlflow")' in new
    # another experiment selected by set_experiment, or an id bound twice: left
    other = code.replace("import mlflow\n", 'import mlflow\n    mlflow.set_experiment("cifar")\n')
    _, entries = migrate("mlflow", other)
    assert any(" ML102 left:" in e and '"mnist"' in e and '"cifar"' in e for e in entries)
    _, entries = migrate(
        "mlflow",
        'import mlflow\ni = mlflow.create_experiment("a")\ni = mlflow.create_experiment("b")\n'
        "mlflow.start_run(experiment_id=i)\n",
    )
    assert any("4 ML102 left:" in e and "not one name bound once" in e for e in entries), entries
