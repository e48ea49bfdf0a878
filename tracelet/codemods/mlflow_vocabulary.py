"""The MLflow calls that go to tracelet's run vocabulary: models, images, figures, tables,
dicts and texts, and the run's identity.

================================================  ================================================
source                                            migrated
================================================  ================================================
``mlflow.pytorch.log_model(m, "model")``,         ``experiment.log_model(m, name="model")``
``mlflow.sklearn.log_model(m, name="model")``,
``mlflow.xgboost.log_model(b, name="model")``     (``input_example=``, ``signature=``,
                                                  ``metadata=``, ``params=``, ``tags=``,
                                                  ``model_type=``, ``step=`` kept by name;
                                                  left for pytorch)
``mlflow.log_image(img, key="k", step=s)``        ``experiment.log_image("k", img, step=s)``
``mlflow.log_dict(d, "cfg.json")``                ``experiment.log_artifact(d, name="cfg.json")``
``mlflow.log_text(t, "notes.txt")``               ``experiment.log_artifact(t, name="notes.txt")``
``mlflow.log_figure(fig, "plots/roc.png")``       ``experiment.log_artifact(fig,
                                                  name="plots/roc.png")``: the same file
``mlflow.log_image(img, "sample.png")``           ``experiment.log_artifact(img,
                                                  name="sample.png")`` (an image suffix)
``mlflow.log_table(df, "results.json")``          ``experiment.log_table("results", df)``
                                                  (``--unsafe``: tracelet names the table file)
``run.info.run_id``,                              ``experiment.ids["mlflow"]``
``mlflow.active_run().info.run_id``
``run.info.run_name``                             ``experiment.name``
``mlflow.get_artifact_uri([p])``                  ``mlflow.get_run(experiment.ids["mlflow"])
                                                  .info.artifact_uri [+ "/" + p]``
================================================  ================================================
"""

from __future__ import annotations

import posixpath

import libcst as cst

from tracelet.codemods.base import Decision, TrackerCodemod, unmapped
from tracelet.codemods.cstutil import (
    bind_args,
    call_with,
    expr,
    literal,
    quote_string,
    string_value,
)
from tracelet.codemods.resolve import Role, Usage
from tracelet.pictures import IMAGE_SUFFIXES

MODEL_PARAMS = {
    "pytorch": (
        "pytorch_model", "artifact_path", "conda_env", "code_paths", "pickle_module",
        "registered_model_name", "signature", "input_example", "await_registration_for",
        "extra_files", "pip_requirements", "extra_pip_requirements", "metadata", "name",
        "params", "tags", "model_type", "step", "model_id", "requirements_file",
    ),
    "sklearn": (
        "sk_model", "artifact_path", "conda_env", "code_paths", "serialization_format",
        "registered_model_name", "signature", "input_example", "await_registration_for",
        "pip_requirements", "extra_pip_requirements", "pyfunc_predict_fn", "metadata",
        "name", "params", "tags", "model_type", "step", "model_id",
    ),
    "xgboost": (
        "xgb_model", "artifact_path", "conda_env", "code_paths", "registered_model_name",
        "signature", "input_example", "await_registration_for", "pip_requirements",
        "extra_pip_requirements", "model_format", "metadata", "extra_files", "name", "params",
        "tags", "model_type", "step", "model_id",
    ),
}  # fmt: skip
# log_model arguments given their default value: the model saved is the same without them
MODEL_DEFAULTS = {"model_format": "ubj", "step": 0}
# log_model arguments that change nothing stored (it waits for a registration, which is
# left): dropped with a warning
MODEL_NOTES = ("await_registration_for",)
# log_model arguments MLflow stores with the model (input_example.json and
# serving_input_example.json, the signature and metadata in MLmodel, the logged model's
# params, tags, type and output step): experiment.log_model takes them by the same names
MODEL_ANNOTATIONS = ("input_example", "signature", "metadata", "params", "tags", "model_type",
                     "step")  # fmt: skip
# experiment.log_model saves a torch model in MLflow's pickle format; with an input
# example, mlflow.pytorch.log_model saves it as pt2 (torch.export)
TORCH_ANNOTATED = (
    "{names}: mlflow.pytorch.log_model saves the model as pt2 (torch.export of the input "
    "example) with {them}, experiment.log_model in MLflow's pickle format; keep this call "
    "on MLflow, or drop {them} where nothing reads the MLflow model's format"
)
# log_model arguments that change what is saved or where it is registered
MODEL_LEFT = {
    "registered_model_name": "registering the model: after the run, call "
    "mlflow.register_model(f\"runs:/{experiment.ids['mlflow']}/<name>\", <registered name>)",
}
MODEL_ENVIRONMENT = (
    "experiment.log_model saves the model with MLflow's default environment; to keep "
    "{names}, save it with mlflow.{flavor}.save_model(model, path, ...) (needs no run) and "
    "experiment.log_artifact(path, name=...)"
)
IMAGE_PARAMS = ("image", "artifact_file", "key", "step", "timestamp", "synchronous")
RUN_INFO = {"run_id": '.ids["mlflow"]', "run_name": ".name"}


class MlflowVocabulary(TrackerCodemod):
    """The vocabulary rewrites of the MLflow codemod (see the module docstring)."""

    # ------------------------------------------------------------------ models
    def log_model(self, usage: Usage, flavor: str) -> Decision:
        if flavor not in MODEL_PARAMS:
            return self.left(
                "ML101",
                "experiment.log_model takes torch modules, scikit-learn estimators and xgboost "
                f"models; save this one with mlflow.{flavor}.save_model(model, path) (needs no "
                "run) and experiment.log_artifact(path, name=...)",
            )
        bound = bind_args(usage.call, MODEL_PARAMS[flavor], positional=2)
        model_param = MODEL_PARAMS[flavor][0]
        if bound is None or bound.unknown or model_param not in bound:
            return self.left(
                "TL002",
                f"mlflow.{flavor}.log_model with arguments the codemod cannot map; write "
                "experiment.log_model(model, name=...)",
            )
        if usage.result_role != Role.STATEMENT:
            return self.left(
                "ML101",
                "the ModelInfo log_model returns is used: tracelet's delivery agent creates "
                "the logged model after the call, so experiment.log_model returns none; call "
                "it alone, and after the run find the model with mlflow.search_logged_models("
                "filter_string=f\"source_run_id='{experiment.ids['mlflow']}'\")",
            )
        for name, reason in MODEL_LEFT.items():
            if name in bound and literal(bound.value(name)) is not None:
                return self.left("ML101", reason)
        given = [
            n
            for n in bound.named
            if n not in (model_param, "artifact_path", "name", *MODEL_NOTES)
            and literal(bound.value(n)) not in (None, MODEL_DEFAULTS.get(n))
        ]
        annotations = [n for n in MODEL_ANNOTATIONS if n in given]
        if annotations and flavor == "pytorch":
            names = ", ".join(f"{n}=" for n in annotations)
            them = "it" if len(annotations) == 1 else "them"
            return self.left("ML101", TORCH_ANNOTATED.format(names=names, them=them))
        environment = sorted(n for n in given if n not in MODEL_ANNOTATIONS)
        if environment:
            names = ", ".join(f"{n}=" for n in environment)
            return self.left("ML101", MODEL_ENVIRONMENT.format(names=names, flavor=flavor))
        notes = [
            f"{name}= dropped: the MLflow model is logged without it"
            for name in MODEL_NOTES
            if name in bound and literal(bound.value(name)) is not None
        ]
        name_arg = bound.named.get("name") or bound.named.get("artifact_path")
        experiment = self.experiment_code(usage.node)
        model_index = usage.call.args.index(bound.named[model_param])
        keywords = [] if name_arg is None else [("name", usage.call.args.index(name_arg))]
        keywords += [(n, usage.call.args.index(bound.named[n])) for n in annotations]

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args: list = [(None, updated.args[model_index])]
            args += [(keyword, updated.args[index]) for keyword, index in keywords]
            return call_with(updated, expr(f"{experiment}.log_model"), args)

        return self.rewrite("ML010", usage.node, transform, notes)

    # ------------------------------------------------------------------ content
    def log_content(self, usage: Usage, method: str) -> Decision | None:
        """``log_image`` / ``log_figure`` / ``log_table`` / ``log_dict`` / ``log_text``."""
        if method == "log_image":
            return self._log_image(usage)
        params = {
            "log_figure": ("figure", "artifact_file", "save_kwargs"),
            "log_table": ("data", "artifact_file", "run_id"),
            "log_dict": ("dictionary", "artifact_file", "run_id"),
            "log_text": ("text", "artifact_file", "run_id"),
        }.get(method)
        if params is None:
            return None
        bound = bind_args(usage.call, params)
        if bound is None or bound.unknown or not set(params[:2]) <= set(bound.named):
            return self.left("TL002", unmapped(f"mlflow.{method}"))
        if literal(bound.value("run_id")) is not None or "save_kwargs" in bound:
            return self.left(
                "TL002",
                f"mlflow.{method}(run_id= / save_kwargs=): write the file yourself and "
                "experiment.log_artifact(path, name=...)",
            )
        artifact_file = bound.value("artifact_file")
        if method == "log_figure":
            # log_artifact saves a figure with MLflow's own savefig / write_html call
            return self._content_call(usage, bound, "log_artifact", "figure", "ML015")
        if method in ("log_dict", "log_text"):
            file_name = string_value(artifact_file)
            if method == "log_dict" and (file_name is None or not file_name.endswith(".json")):
                return self.left(
                    "ML103",
                    "log_dict to a YAML (or computed) file name: tracelet writes dicts as "
                    "JSON; name it <file>.json, or dump the YAML yourself and "
                    "experiment.log_artifact(path, name=...)",
                )
            return self._content_call(usage, bound, "log_artifact", params[0], "ML012")
        key = _stem(artifact_file)
        if key is None:
            return self.left(
                "ML103",
                f"mlflow.{method} with a computed artifact_file: write "
                f"experiment.{method}(key, value, step=...) with the key you want",
            )
        return self._keyed_call(usage, bound, "log_table", params[0], key, "ML011")

    def _log_image(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, IMAGE_PARAMS)
        if bound is None or bound.unknown or "image" not in bound:
            return self.left("TL002", unmapped("mlflow.log_image"))
        if literal(bound.value("timestamp")) is not None:
            return self.left(
                "TL002",
                "mlflow.log_image(timestamp=...): tracelet stamps the image when it is logged; "
                "drop timestamp=",
            )
        if "key" in bound:
            return self._keyed_call(usage, bound, "log_image", "image", None, "ML014")
        file_name = string_value(bound.value("artifact_file"))
        if file_name is None or posixpath.splitext(file_name)[1].lower() not in IMAGE_SUFFIXES:
            # an array becomes an image file only under an image name (else a .npy file)
            return self.left(
                "ML103",
                "mlflow.log_image(image, artifact_file=<computed or not an image suffix>): "
                "name the file in the call, e.g. experiment.log_artifact(image, "
                f"name='<file>.png') (suffixes: {', '.join(sorted(IMAGE_SUFFIXES))})",
            )
        return self._content_call(usage, bound, "log_artifact", "image", "ML015")

    def _keyed_call(
        self, usage: Usage, bound, method: str, value: str, key: str | None, rule: str
    ) -> Decision:
        """``experiment.<method>(key, value[, step=s])``: ``key`` from the file name, or
        the call's own ``key=`` when ``None``."""
        experiment = self.experiment_code(usage.node)
        index = {name: usage.call.args.index(arg) for name, arg in bound.named.items()}

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            key_arg = updated.args[index["key"]] if key is None else expr(quote_string(key))
            args: list = [(None, key_arg), (None, updated.args[index[value]])]
            if "step" in index:
                args.append(("step", updated.args[index["step"]]))
            return call_with(updated, expr(f"{experiment}.{method}"), args)

        decision = self.rewrite(rule, usage.node, transform)
        if rule == "ML011":
            decision.reason = (
                f"MLflow stores the file {string_value(bound.value('artifact_file'))} (appended "
                "to when logged again) and lists it in the run tag mlflow.loggedArtifacts; "
                f"experiment.{method}({key!r}, ...) logs a {method.removeprefix('log_')} at "
                "step 0 instead"
            )
        return decision

    def _content_call(self, usage: Usage, bound, method: str, value: str, rule: str) -> Decision:
        experiment = self.experiment_code(usage.node)
        value_index = usage.call.args.index(bound.named[value])
        file_index = usage.call.args.index(bound.named["artifact_file"])

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args = [(None, updated.args[value_index]), ("name", updated.args[file_index])]
            return call_with(updated, expr(f"{experiment}.{method}"), args)

        return self.rewrite(rule, usage.node, transform)

    # ------------------------------------------------------------------ identity
    def run_info(self, usage: Usage) -> Decision:
        """``run.info.run_id`` / ``mlflow.active_run().info.run_id``."""
        attrs = usage.path.attrs
        if len(attrs) == 2 and attrs[0] == "info" and attrs[1] in RUN_INFO:
            if usage.role in (Role.STORE, Role.DELETE):
                return self.left("ML104", f"{self.describe(usage)} is set")
            suffix = self.quoted_for(usage.node, RUN_INFO[attrs[1]])
            if attrs[1] == "run_id" and "mlflow" not in self.targets:
                return self.left(
                    "ML104",
                    "run.info.run_id names an MLflow run, and this migration does not log to "
                    "MLflow: read experiment.ids[<tracker>] for the run id there",
                )

            def transform(updated: cst.CSTNode) -> cst.CSTNode:
                assert isinstance(updated, cst.Attribute)
                info = updated.value
                assert isinstance(info, cst.Attribute)
                return expr(self.module.code_for_node(info.value) + suffix)

            return self.rewrite("ML013", usage.node, transform)
        return self.left(
            "ML104",
            f"{self.describe(usage)}: the tracelet run gives ids (experiment.ids['mlflow']) "
            "and its name; read other fields with mlflow.get_run(experiment.ids['mlflow'])",
        )

    def artifact_uri(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("artifact_path",))
        if bound is None or bound.unknown:
            return self.left("TL002", unmapped("get_artifact_uri"))
        if "mlflow" not in self.targets:
            return self.left(
                "ML104",
                "get_artifact_uri reads the MLflow run's artifact location, and this migration "
                "does not log to MLflow: log files with experiment.log_artifact(path, name=...)",
            )
        experiment = self.experiment_code(usage.node)
        index = usage.call.args.index(bound.named["artifact_path"]) if bound.named else None
        root = self.quoted_for(
            usage.node, f'mlflow.get_run({experiment}.ids["mlflow"]).info.artifact_uri'
        )

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            if index is None:
                return expr(root)
            path = self.module.code_for_node(updated.args[index].value)
            return expr(f'{root} + "/" + {path}')

        decision = self.rewrite("ML013", usage.node, transform)
        decision.notes.append(
            "the artifact URI is read from the MLflow run tracelet opened "
            "(experiment.ids waits until the agent has opened it)"
        )
        return decision


def _stem(node: cst.BaseExpression | None) -> str | None:
    """``"plots/roc.png"`` -> ``"plots/roc"``: the key a file name becomes."""
    text = string_value(node)
    if not text:
        return None
    stem, _ = posixpath.splitext(text)
    return stem or None
