"""`findling export-onnx` and `findling models`: the ONNX fast path from the command line.

Both read the group's `--backend` as `ctx.obj.backend` (else `FINDLING_BACKEND`, else auto).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from indexer.cli.terminal import visible
from indexer.models.embedding import BUNDLED_MODEL_ID, ModelInfo, bundled_model_path, model_info
from indexer.models.onnx_runtime import (
    OnnxUnavailable,
    models_dir,
    planned_backend,
    registered_exports,
    resolve_backend,
    shipped_onnx,
)
from indexer.models.resolution import locate, resolve_model

if TYPE_CHECKING:
    from indexer.cli.common import App


def _say(message: str) -> None:
    click.echo(visible(message), err=True)


def _megabytes(size: int | None) -> str:
    return "?" if size is None else f"{size / 1e6:,.1f} MB"


def _figures(validation: dict[str, Any]) -> str:
    """The validation's figures, as far as it has them (a skipped or pinned gate has no minimum)."""
    parts = [str(validation.get("metric", "validation"))]
    for key, label in (("mean", "mean"), ("minimum", "min")):
        if isinstance(validation.get(key), (int, float)):
            parts.append(f"{label} {validation[key]:.4f}")
    return " ".join(parts[:2]) + "".join(f", {p}" for p in parts[2:])


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@click.command("export-onnx")
@click.argument("model", required=False)
@click.option("--quantize", type=click.Choice(["int8", "none"]), default="int8", show_default=True,
              help="Also write an int8 model (dynamic quantization); `none` exports float32 only.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Export folder (default: the per-user models directory, env FINDLING_MODELS_DIR).")
@click.option("--reranker", is_flag=True,
              help="MODEL is a cross-encoder (default: the configured reranker) instead of an embedder.")
@click.option("--json", "as_json", is_flag=True, help="Print the export's manifest as JSON.")
@click.pass_obj
def export_onnx(app: App, model: str | None, quantize: str, out: Path | None, reranker: bool,
                as_json: bool) -> None:
    """Export MODEL (default: the configured embedder) to ONNX, check it against PyTorch, register it.

    Every index that uses the model then embeds through ONNX Runtime (`--backend auto`, the default).
    """
    from indexer.models.onnx_export import (
        ExportRefused,
        export_embedder,
        export_reranker,
        require_export_needs,
    )

    require_export_needs()  # PyTorch and `onnx` (the torch extra): a plain message without them

    chosen = None if quantize == "none" else quantize
    try:
        if reranker:
            name = model or app.config.reranker
            if not name:
                raise click.UsageError("No reranker is configured: name one, e.g. `findling export-onnx "
                                       "--reranker cross-encoder/ms-marco-MiniLM-L-6-v2`.")
            found = locate(name)
            if isinstance(found, str):
                raise click.ClickException(f"Reranker {name!r} is not available ({found}).")
            result = export_reranker(found[0], found[1], chosen, out, log=_say)
        else:
            info = _embedder_info(app, model)
            result = export_embedder(info, chosen, out, log=_say)
    except ExportRefused as exc:
        hint = " Try `--quantize none` for a float32 export only." if chosen and "int8:" in str(exc) else ""
        raise click.ClickException(f"{exc}{hint}") from exc
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - tracing can fail in many ways; say which, not a traceback
        raise click.ClickException(f"The ONNX export failed: {type(exc).__name__}: {exc}") from exc
    if as_json:
        click.echo(json.dumps({"path": str(result.path), **result.manifest}, ensure_ascii=False))
        return
    _say(f"Registered the ONNX export of {result.manifest['source_model']} in {result.path}:")
    for variant, entry in result.manifest["variants"].items():
        _say(f"  {variant}: {_megabytes(entry['bytes'])}, {_figures(entry['validation'])}")


def _embedder_info(app: App, model: str | None) -> ModelInfo:
    """A named model must exist (exporting a stand-in would be wrong); the configured one resolves
    as it does for indexing, bundled fallback included."""
    if model is None:
        info = resolve_model(app.model_override or app.config.model)
        if info.note:
            _say(f"Note: {info.note}")
        return info
    found = locate(model)
    if isinstance(found, str):
        raise click.ClickException(f"Model {model!r} is not available ({found}).")
    return model_info(*found)


# -- findling models -------------------------------------------------------------------------------


def _hf_cache_models() -> dict[str, Path]:
    """sentence-transformers models in the Hugging Face cache: repo id -> newest snapshot."""
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - a dependency of sentence-transformers
        return {}
    found: dict[str, Path] = {}
    cache = Path(constants.HF_HUB_CACHE)
    for snapshot in sorted(cache.glob("models--*/snapshots/*"), key=lambda p: p.stat().st_mtime):
        if (snapshot / "modules.json").exists() or (snapshot / "config_sentence_transformers.json").exists():
            found[snapshot.parent.parent.name[len("models--"):].replace("--", "/")] = snapshot
    return found


def _onnx_backends(export: dict[str, Any]) -> list[dict[str, Any]]:
    manifest = export["manifest"]
    folder = Path(export["path"])
    if manifest is None:
        return [{"backend": "onnx", "path": str(folder), "status": "missing or unreadable"}]
    rows = []
    for variant, entry in manifest["variants"].items():
        file = folder / entry["file"]
        size = file.stat().st_size if file.is_file() else None
        status = "ok" if size == entry.get("bytes") else "missing" if size is None else "corrupt (bad size)"
        rows.append({"backend": f"onnx {variant}", "path": str(file), "bytes": size, "status": status,
                     "quantization": entry.get("quantization"), "validation": entry.get("validation")})
    return rows


def _active(app: App, backend: str) -> dict[str, Any]:
    """The model this data dir uses and the backend that would run it (nothing is loaded or downloaded)."""
    from indexer.models.in_use import model_in_use

    name = app.model_override or app.data.recorded_model() or app.config.model
    in_use = model_in_use(name, backend)
    line = in_use["line"]
    found = locate(name)
    if isinstance(found, str):
        return {"model": name, "model_id": None, "backend": None, "reason": found, "line": line,
                "in_use": in_use}
    info = model_info(*found)
    try:
        plan = planned_backend(info, backend)
    except OnnxUnavailable as exc:
        plan = f"torch ({exc})"
    return {"model": name, "model_id": info.model_id, "backend": plan, "line": line, "in_use": in_use}


def known_models(app: App, backend: str) -> dict[str, Any]:
    """Every model known locally, one entry per model id with its backends, and the active one."""
    from indexer.models.embedding import TORCH_EXTRA, torch_installed

    entries: dict[str, dict[str, Any]] = {}
    torch_status = "ok" if torch_installed() else f"needs the torch extra: {TORCH_EXTRA}"

    def entry(model_id: str, kind: str) -> dict[str, Any]:
        return entries.setdefault(model_id, {"model_id": model_id, "kind": kind, "backends": []})

    def add_torch(model_id: str, path: Path, kind: str = "embedder") -> None:
        rows = entry(model_id, kind)["backends"]
        if any(r["backend"] == "torch" for r in rows):
            return
        rows.insert(0, {"backend": "torch", "path": str(path), "bytes": _folder_bytes(path),
                        "status": torch_status})
        if shipped := shipped_onnx(path):
            rows.append({"backend": "onnx shipped", "path": str(shipped.file), "status": "ok",
                         "bytes": shipped.file.stat().st_size})

    for export in registered_exports():
        entry(export["model_id"], export.get("kind", "embedder"))["backends"] += _onnx_backends(export)
        source = Path((export["manifest"] or {}).get("source_path", ""))
        if export["manifest"] and source.is_dir():
            add_torch(export["model_id"], source, export.get("kind", "embedder"))
    if bundled := bundled_model_path():
        add_torch(BUNDLED_MODEL_ID, bundled)
    for repo_id, snapshot in _hf_cache_models().items():
        add_torch(repo_id, snapshot)
    active = _active(app, backend)
    if active["model_id"]:
        found = locate(active["model_id"])
        if isinstance(found, tuple):
            add_torch(found[0], found[1])
        entries[active["model_id"]]["active"] = True
    from indexer.models.catalogue import CATALOGUE
    from indexer.models.in_use import availability

    catalogue = [{"model_id": e.model_id, "name": e.name, "kind": e.kind, "languages": e.languages,
                  "origin": e.origin, "licence": e.licence, "size_mb": e.size_mb,
                  "availability": availability(e.model_id)} for e in CATALOGUE]
    return {"models_dir": str(models_dir()), "data_dir": str(app.data.path), "backend_setting": backend,
            "active": active, "models": list(entries.values()), "catalogue": catalogue}


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List the models known locally, their backends and sizes, and the one this index uses.

    `findling models download NAME` fetches a model: the only command that uses the network.
    """
    if ctx.invoked_subcommand is not None:
        return
    app: App = ctx.obj
    backend = resolve_backend(getattr(app, "backend", None))
    report = known_models(app, backend)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    active = report["active"]
    click.echo(visible(f"Models dir: {report['models_dir']}"))
    from indexer.cli.status import model_status

    click.echo(visible(f"This index ({report['data_dir']}): {model_status(active['in_use'])}"))
    if active["backend"]:
        click.echo(visible(f"  {active['model']} → {active['backend']} [backend {backend}]"))
    for model in report["models"]:
        click.echo()
        click.echo(visible(f"{'*' if model.get('active') else ' '} {model['model_id']} ({model['kind']})"))
        for row in model["backends"]:
            figures = f"  {_figures(row['validation'])}" if row.get("validation") else ""
            status = "" if row["status"] == "ok" else f"  [{row['status']}]"
            size = _megabytes(row.get("bytes"))
            click.echo(visible(f"    {row['backend']:<12} {size:>11}{figures}{status}  {row['path']}"))
    click.echo()
    click.echo("Known models (`findling models download ID` fetches one):")
    for known in report["catalogue"]:
        click.echo(visible(f"  {known['model_id']:<44} {known['kind']:<8} {known['languages']:<14} "
                           f"{known['licence']:<10} ~{known['size_mb']:>5} MB  {known['availability']}"))


@models.command("download")
@click.argument("name")
def download(name: str) -> None:
    """Download the hub model NAME into the local cache, with progress (the only network use)."""
    from tqdm import tqdm

    from indexer.models.download import DownloadFailed, download_model

    _say(f"Downloading {name} from the Hugging Face hub…")
    try:
        done = download_model(name, tqdm_class=tqdm)
    except DownloadFailed as exc:
        raise click.ClickException(str(exc)) from exc
    _say(done.note)
    _say(f"Use it: `findling reindex --model {name}` (or choose it in the app's Settings).")
    if not done.runs_on:
        raise SystemExit(1)
