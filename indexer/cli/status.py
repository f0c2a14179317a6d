"""`findling status`: counts of indexed, skipped and failed files, the models, sizes, and which files
were skipped or failed and why."""

from __future__ import annotations

import json

import click

from indexer.cli.common import App
from indexer.cli.terminal import visible
from indexer.store.errors import StoreUnavailable

SKIPPED_SHOWN = 50  # skipped files listed by the text output (--json lists all)


def reranker_state(name: str) -> dict:
    """The configured reranker and whether it can be used here (it is looked for locally, never fetched)."""
    if not name:
        return {"name": None, "available": False, "reason": "none configured"}
    from indexer.models.resolution import locate

    found = locate(name)
    return {"name": name, "available": not isinstance(found, str),
            "reason": found if isinstance(found, str) else None}


def reranker_line(state: dict) -> str:
    if state["name"] is None:
        return "none (results are ranked without a cross-encoder)"
    if state["available"]:
        return state["name"]
    return f"{state['name']}: not available ({state['reason']}), so reranking is off"


def model_status(in_use: dict) -> str:
    """The model line, with what is not yet so (a conversion to come, a stand-in, nothing usable)."""
    if in_use["state"] == "unavailable":
        return f"{in_use['name']}: unavailable ({in_use['reason']})"
    line = in_use["line"]
    if in_use["state"] == "converts on first use":
        line += " (prepared once, on first use)"
    if in_use.get("instead_of"):
        line += f" (instead of {in_use['instead_of']}: {in_use['reason']})"
    return line


def ocr_status(enabled: bool, counts: dict[str, int]) -> dict:
    """The OCR figures and whether OCR runs here (`available`), with the reason when it does not."""
    from indexer.ingest.ocr.availability import ocr_unavailable_reason

    missing = ocr_unavailable_reason()
    reason = "off in the settings (ocr = false)" if not enabled else missing
    return {**counts, "available": reason is None, "reason": reason}


def ocr_line(ocr: dict) -> str:
    files = "file" if ocr["done"] == 1 else "files"
    counts = (f"{ocr['done']} {files} read with text, {ocr['no_text']} without text, {ocr['errors']} failed, "
              f"{ocr['pending']} waiting")
    return counts if ocr["available"] else f"{counts}; not running: {ocr['reason']}"


def shared_store_state(app: App) -> dict | None:
    """Where this writer's shared index stands (`milvus_mirror`): recorded in the catalog, no connection."""
    if not app.data.exists():
        return None
    from indexer.store.catalog import Catalog, CatalogOutdated

    try:
        catalog = Catalog(app.data.catalog_path, readonly=True)
    except CatalogOutdated:
        return None
    try:
        recorded = catalog.meta_get("shared_store")
    finally:
        catalog.close()
    return json.loads(recorded) if recorded else None


def shared_index_state(app: App) -> dict | None:
    """With `--store`: what the shared index holds and who writes it (read from Milvus)."""
    import time

    from indexer.cli.shared_store import open_store, store_target

    target = store_target(app)
    if target is None:
        return None
    store = open_store(app, target)
    try:
        stats = store.stats()
        files = store.count("ordinal == 0")  # a file's first passage: Milvus counts no distinct values
        lease = json.loads(store.meta["lease"]) if store.meta.get("lease") else None
    finally:
        store.close()
    writer = None
    if lease:
        writer = {"holder": lease.get("holder"), "host": lease.get("host"), "pid": lease.get("pid"),
                  "renewed_s_ago": round(time.time() - float(lease.get("renewed", 0)))}
    return {"store": target.shown, "passages": stats.passages, "files": files, "model": stats.model,
            "generation": store.meta.get("generation"), "writer": writer}


def writer_line(shared: dict) -> str:
    writer = shared["writer"]
    if not writer:
        return "no writer now"
    return (f"{writer['holder']} on {writer['host']} (pid {writer['pid']}), lease renewed "
            f"{writer['renewed_s_ago']} s ago")


def shared_index_lines(shared: dict, mirror: dict | None) -> list[str]:
    """The shared index's block of `findling status`; `mirror`: this writer's record of it, if any."""
    head = f"Shared index: {shared['store']}" + (
        " (this index is its writer)" if mirror else " (read here; no local catalog writes it)")
    if "unreachable" in shared:
        return [head, f"  Not reachable now: {shared['unreachable']}", f"  Mirror:   {mirror_line(mirror)}"]
    lines = [head,
             f"  Passages: {shared['passages']:,} in {shared['files']:,} files",
             f"  Model:    {shared['model']}",
             f"  Generation: {shared['generation'] if shared['generation'] is not None else 'none yet'}",
             f"  Writer:   {writer_line(shared)}"]
    if mirror is not None:
        lines.append(f"  Mirror:   {mirror_line(mirror)}")
    return lines


def mirror_line(mirror: dict) -> str:
    """Where this writer's mirror stands, from its catalog (no connection)."""
    if mirror.get("lost"):
        return f"not written by this index now: {mirror['problem']}"
    if mirror["behind"]:
        return f"shared index {mirror['behind']} batches behind, retrying ({mirror['problem']})"
    return "in step with this index"


def export_state(model_id: str | None) -> dict | None:
    """The background ONNX export of the index's model (`indexer.models.auto_export`), with its line."""
    if not model_id:
        return None
    from indexer.models.auto_export import describe, read_state

    state = read_state(model_id)
    return None if state is None else {**state, "line": describe(state)}


def backends_line(counts: dict[str, int]) -> str | None:
    """Which backends embedded the index's passages, when more than one did (their vectors are mixed)."""
    if len(counts) < 2:
        return None
    parts = ", ".join(f"{backend} {count:,}" for backend, count in sorted(counts.items()))
    return (f"passages embedded by two backends ({parts}): their vectors are mixed in this index; the "
            "ONNX export passed its cosine check against PyTorch, `findling reindex` makes them one")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def status(app: App, as_json: bool) -> None:
    """Counts of indexed, skipped and failed files, the model, sizes and the errors."""
    from indexer.models.factory import model_name
    from indexer.models.in_use import model_in_use
    from indexer.models.resolution import reindex_offer
    from indexer.store.stats import index_stats, vector_line

    mirror = shared_store_state(app)
    try:
        shared_index = shared_index_state(app)
    except StoreUnavailable as exc:  # on its writer, the local index and the mirror's record still show
        from indexer.cli.shared_store import store_target

        shown = store_target(app).shown
        if mirror is None or mirror.get("store") != shown:
            raise
        shared_index = {"store": shown, "unreachable": str(exc)}
    if shared_index is not None and (mirror is None or mirror.get("store") != shared_index["store"]):
        _reader_status(shared_index, as_json)  # no local catalog writes this store: its lines only
        return
    stats = index_stats(app.data, sizes=True)
    name = model_name(app.config, app.model_override, stats.model)
    in_use = model_in_use(name, app.backend)
    offer = None if app.model_override else reindex_offer(stats.model, app.config.model)
    info: dict = {"data_dir": str(app.data.path), "roots": app.config.roots,
                  "indexed": stats.indexed, "skipped": stats.skipped, "errors": stats.errors,
                  "chunks": stats.chunks, "model": stats.model, "catalog_bytes": stats.catalog_bytes,
                  "index_bytes": stats.index_bytes, "vector_index": stats.vector_index,
                  "error_files": [{"path": path, "reason": reason} for path, reason in stats.failed],
                  "skipped_files": [{"path": path, "reason": reason} for path, reason in stats.skipped_files],
                  "reranker": reranker_state(app.config.reranker),
                  "unavailable": [{"path": path, "reason": reason} for path, reason in stats.unavailable],
                  "model_line": in_use["line"], "model_in_use": in_use,
                  "reindex_offer": None if offer is None else {
                      "recorded": offer.recorded, "target": offer.target, "command": offer.command,
                      "text": offer.text}}
    if app.data.exists():
        info.update(chunks_embedded=stats.chunks_embedded, chunks_pending=stats.chunks_pending,
                    embedding_eta_s=stats.embedding_eta_s)
    info["shared_store"] = mirror
    info["shared_index"] = shared_index
    if shared_index is not None:
        info["role"] = "writer"
    info["onnx_export"] = export_state(in_use.get("model_id"))
    info["embedding_backends"] = stats.embedding_backends
    info["mixed_backends"] = len(stats.embedding_backends) > 1
    info["ocr"] = ocr_status(app.config.ocr, stats.ocr)
    info["ocr"].update(eta_s=stats.ocr_eta_s,
                       error_files=[{"path": path, "reason": reason} for path, reason in stats.ocr_failed])
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    if shared_index is not None:
        click.echo("Local index (the shared index's writer; its catalog is the truth):")
    click.echo(visible(f"Index:    {info['data_dir']}"))
    click.echo(visible(f"Roots:    {', '.join(info['roots']) or '(none)'}"))
    click.echo(visible(f"Model:    {model_status(in_use)}"))
    if offer is not None:
        click.echo(visible(f"          {offer.text}"))
    if info["onnx_export"] is not None and info["onnx_export"]["state"] != "done":
        click.echo(visible(f"          {info['onnx_export']['line']}"))
    click.echo(visible(f"Reranker: {reranker_line(info['reranker'])}"))
    click.echo(f"Files:    {info['indexed']} indexed, {info['skipped']} skipped, {info['errors']} errors")
    click.echo(f"Chunks:   {info['chunks']} ({info.get('chunks_embedded', 0)} embedded, "
               f"{info.get('chunks_pending', 0)} waiting)")
    if info.get("chunks_pending"):
        eta = info["embedding_eta_s"]
        click.echo("Embedding: keyword search works now; meaning search fills in"
                   + (f", about {eta // 60} min {eta % 60} s left" if eta else "") + ".")
    if mixed := backends_line(info["embedding_backends"]):
        click.echo(visible(f"Backends: {mixed}"))
    click.echo(visible(f"OCR:      {ocr_line(info['ocr'])}"))
    click.echo(f"Size:     catalog {info['catalog_bytes'] / 1e6:.1f} MB, "
               f"vector index {info['index_bytes'] / 1e6:.1f} MB")
    click.echo(f"Vectors:  {vector_line(info['vector_index'])}")
    if shared_index is not None:
        for line in shared_index_lines(shared_index, mirror):
            click.echo(visible(line))
    elif mirror is not None:  # status without --store on a writer: its own record of the mirror
        click.echo(visible(f"Shared:   {mirror['store']}: {mirror_line(mirror)}"))
    for error in info["error_files"]:
        click.echo(visible(f"  error: {error['path']}: {error['reason']}"))
    for failed in info["ocr"]["error_files"]:
        click.echo(visible(f"  OCR failed: {failed['path']}: {failed['reason']}"))
    for skipped in info["skipped_files"][:SKIPPED_SHOWN]:
        click.echo(visible(f"  skipped: {skipped['path']}: {skipped['reason'] or 'no reason recorded'}"))
    if len(info["skipped_files"]) > SKIPPED_SHOWN:
        click.echo(f"  … and {len(info['skipped_files']) - SKIPPED_SHOWN} more skipped files "
                   "(`findling status --json` lists them all)")
    for item in info["unavailable"]:
        click.echo(visible(f"  unavailable (files kept, still searchable): {item['path']}: {item['reason']}"))


def _reader_status(shared: dict, as_json: bool) -> None:
    """`findling --store URI status` where no local catalog writes that store: the shared index only."""
    if as_json:
        click.echo(json.dumps({"role": "reader", "shared_index": shared}, ensure_ascii=False))
        return
    for line in shared_index_lines(shared, None):
        click.echo(visible(line))
