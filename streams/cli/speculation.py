"""``toolformer speculation train``: rebuild the speculation predictor from the log, save it.

Reads the ``calls`` and ``results`` topics (``TOOLFORMER_TOPIC_PREFIX``), feeds every
session to a fresh transition predictor and writes each tenant's model as one JSON
object (``{tenant: snapshot}``), the form ``agents.speculation.load`` reads back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from async_toolformer.agents.speculation import PredictorSettings, TransitionPredictor, dump
from async_toolformer.streams.cli._runtime import console, run
from async_toolformer.streams.cli.render import print_report
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.ops.speculation_log import rebuild
from async_toolformer.streams.worker.settings import Settings

speculation_app = typer.Typer(help="The speculation predictor.", no_args_is_help=True)


@speculation_app.command("train")
def train(
    out: Annotated[Path | None, typer.Option(
        help="Write the tenants' models here as JSON ({tenant: snapshot}).")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's sessions.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Rebuild the predictor from the calls and results topics; report what it learned."""
    settings = Settings()
    bootstrap, _ = settings.require_services()
    predictor = TransitionPredictor(PredictorSettings())
    with console.status(f"reading {settings.topic_prefix}calls and "
                        f"{settings.topic_prefix}results ..."):
        report = run(rebuild(predictor, bootstrap, topics=TopicCatalogue(settings.topic_prefix),
                             tenant=tenant, security=KafkaSecurity.from_settings(settings)))
    models = {name: dump(predictor.model(name), predictor.thresholds(name))
              for name in sorted(predictor.tenants())}
    stored = orjson.dumps(models)
    if out is not None:
        out.write_bytes(stored)
    summary: dict[str, Any] = {
        "sessions": report.fed.sessions, "calls": report.fed.calls,
        "results": report.fed.results, "orphan_results": report.fed.orphan_results,
        "undecodable": report.undecodable, "outputs_dropped": report.outputs_dropped,
        "truncated": report.truncated, "tenants": len(models), "model_bytes": len(stored),
        "transitions": {name: sum(len(row) for row in model["follow"].values())
                        for name, model in models.items()}}
    if out is not None:
        summary["written"] = str(out)
    print_report(summary, as_json=as_json)
