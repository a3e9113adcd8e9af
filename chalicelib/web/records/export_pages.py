"""Take-away records on My Profile: ask for a copy (a form post, no JavaScript), follow its progress
(a "check again" link) and download it (a redirect to a link valid for five minutes, audited)."""

from urllib.parse import quote

from chalice import Blueprint

from chalicelib.services.records import exports
from chalicelib.web.framework import PATIENT, PageCtx, page, redirect

bp = Blueprint(__name__)


def _size(size_bytes: int | None) -> str:
    if not size_bytes:
        return ""
    return f"{size_bytes / (1024 * 1024):.1f} MB" if size_bytes >= 1024 * 1024 else f"{max(1, size_bytes // 1024)} KB"


def _show(ctx: PageCtx, export: dict | None):
    return ctx.render("records.html", export=export, size=_size((export or {}).get("size_bytes")))


@page(bp, "/profile/records", access=PATIENT)
def records(ctx: PageCtx):
    return _show(ctx, exports.latest_export(ctx.caller))


@page(bp, "/profile/records", ("POST",), access=PATIENT)
def request_records(ctx: PageCtx):
    started = exports.request_export(ctx.caller)
    return redirect(f"/profile/records/{quote(started['id'], safe='')}")


@page(bp, "/profile/records/{export_id}", access=PATIENT)
def export_progress(ctx: PageCtx, export_id: str):
    return _show(ctx, exports.export_summary(ctx.caller, export_id))


@page(bp, "/profile/records/{export_id}/download", access=PATIENT)
def download(ctx: PageCtx, export_id: str):
    answer = exports.export_status(ctx.caller, export_id)
    if answer["status"] != "ready":
        return redirect(f"/profile/records/{quote(export_id, safe='')}")
    return redirect(answer["url"])
