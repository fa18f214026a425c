"""Transparency figures for auditors and admins: one page of charts and tables, and a CSV
file per figure. Counts only; nothing on these pages names a case, a person or a reviewer."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from access_control.guard import requires
from core.db import get_session
from moderation.review import transparency
from moderation.review.charts import NO_DATA, bar_chart, number

transparency_bp = Blueprint("transparency", __name__, url_prefix="/transparency")


@transparency_bp.route("")
@requires("transparency", "read")
def figures():
    try:
        period = transparency.parse_period(request.args)
    except transparency.PeriodError as exc:
        return render_template(
            "moderation/review/transparency.html",
            error=str(exc),
            args=request.args,
            figures=[],
        ), 400
    return render_template(
        "moderation/review/transparency.html",
        error="",
        args=request.args,
        period=period,
        figures=transparency.all_figures(get_session(), period),
        chart=bar_chart,
        number=number,
        no_data=NO_DATA,
    )


@transparency_bp.route("/<figure>.csv")
@requires("transparency", "read")
def figure_csv(figure: str):
    build = transparency.FIGURES.get(figure) or abort(404)
    try:
        period = transparency.parse_period(request.args)
    except transparency.PeriodError as exc:
        return Response(f"{exc}\n", status=400, mimetype="text/plain")
    days = "_".join(f"{name}-{day}" for name, day in period.as_args().items()) or "all-time"
    return Response(
        transparency.figure_csv(build(get_session(), period)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="vigil-{figure}-{days}.csv"'},
    )
