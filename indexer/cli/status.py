"""`findling status`: counts of indexed, skipped and failed files, the model, sizes and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import click

from indexer.cli.common import App
from indexer.cli.terminal import visible


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def status(app: App, as_json: bool) -> None:
    """Counts of indexed, skipped and failed files, the model, sizes and the errors."""
    info: dict = {"data_dir": str(app.data.path), "roots": app.config.roots,
                  "indexed": 0, "skipped": 0, "errors": 0, "chunks": 0, "model": None,
                  "catalog_bytes": 0, "index_bytes": 0, "error_files": [], "unavailable": []}
    if app.data.exists():
        catalog = app.data.open_catalog(readonly=True)
        try:
            counts = catalog.status_counts()
            embedded, pending, _ = catalog.embedding_progress()
            rate = float(catalog.meta_get("embed_chunks_per_s") or 0)
            eta = round(pending / rate) if pending and rate else None
            info.update(indexed=counts["indexed"], skipped=counts["skipped"], errors=counts["error"],
                        chunks=catalog.chunk_count(), chunks_embedded=embedded, chunks_pending=pending,
                        embedding_eta_s=eta if pending else 0,
                        model=catalog.meta_get("model"),
                        error_files=[{"path": f.path, "reason": f.reason}
                                     for f in catalog.files_with_status("error")],
                        unavailable=[{"path": u.path, "reason": u.reason} for u in catalog.unavailable()])
        finally:
            catalog.close()
        info["catalog_bytes"] = _size(app.data.catalog_path)
        if app.data.vectors_path.exists():
            info["index_bytes"] = app.data.vectors_path.stat().st_size
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(visible(f"Index:    {info['data_dir']}"))
    click.echo(visible(f"Roots:    {', '.join(info['roots']) or '(none)'}"))
    click.echo(visible(f"Model:    {info['model'] or '(none yet)'}"))
    click.echo(f"Files:    {info['indexed']} indexed, {info['skipped']} skipped, {info['errors']} errors")
    click.echo(f"Chunks:   {info['chunks']} ({info.get('chunks_embedded', 0)} embedded, "
               f"{info.get('chunks_pending', 0)} waiting)")
    if info.get("chunks_pending"):
        eta = info["embedding_eta_s"]
        click.echo("Embedding: keyword search works now; meaning search fills in"
                   + (f", about {eta // 60} min {eta % 60} s left" if eta else "") + ".")
    click.echo(f"Size:     catalog {info['catalog_bytes'] / 1e6:.1f} MB, "
               f"vector index {info['index_bytes'] / 1e6:.1f} MB")
    for error in info["error_files"]:
        click.echo(visible(f"  error: {error['path']}: {error['reason']}"))
    for item in info["unavailable"]:
        click.echo(visible(f"  unavailable (files kept, still searchable): {item['path']}: {item['reason']}"))
