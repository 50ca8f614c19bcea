"""Reports for the head of sales: the figures of app/domain/reports.py, a chart, and XLSX export."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

from flask import abort, g, request, send_file
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select

from app import access
from app.domain import reports
from app.extensions import db
from app.models.requests import STATUS_LABELS, RequestStatus
from app.models.users import CrmUser

# Text an export writes that Excel would otherwise run as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@")


def _chosen_period() -> reports.Period:
    """From the form, or the current quarter."""
    today = date.today()
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)

    def day(name: str, default: date) -> date:
        try:
            return date.fromisoformat(request.args.get(name, ""))
        except ValueError:
            return default

    start = day("from", quarter_start)
    end = day("to", today)
    return reports.Period(start, end) if start <= end else reports.Period(end, start)


class ReportsView(BaseView):
    route_base = "/reports"
    default_view = "index"

    def _report(self) -> tuple[reports.Report, list[CrmUser]]:
        if not access.may_see_reports(g.user):
            abort(403)
        managers = list(db.session.scalars(select(CrmUser).where(CrmUser.active.is_(True)).order_by(CrmUser.id)))
        chosen = request.args.get("manager", type=int)
        manager = next((m for m in managers if m.id == chosen), None)
        return reports.compute(db.session, g.user, _chosen_period(), manager), managers

    @expose("/")
    @has_access
    def index(self):
        report, managers = self._report()
        return self.render_template(
            "crm/reports.html",
            title=_("Reports"),
            report=report,
            managers=managers,
            statuses={code.value: label for code, label in STATUS_LABELS.items()},
            args={key: value for key, value in request.args.items() if key in ("from", "to", "manager") and value},
            month_period=month_period,
            chart=_chart(report),
        )

    @expose("/xlsx")
    @has_access
    def xlsx(self):
        report, _managers = self._report()
        content = io.BytesIO()
        _workbook(report).save(content)
        content.seek(0)
        name = f"report-{report.period.start.isoformat()}-{report.period.end.isoformat()}.xlsx"
        return send_file(
            content,
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            as_attachment=True,
            download_name=name,
        )


def _chart(report: reports.Report) -> dict:
    """What the page's Chart.js script draws (app/static/crm/reports.js)."""
    return {
        "months": [month for month, _r, _w in report.by_month],
        "received": [received for _m, received, _w in report.by_month],
        "won": [won for _m, _r, won in report.by_month],
        "statuses": [str(STATUS_LABELS[RequestStatus(code)]) for code in report.by_status_now],
        "counts": list(report.by_status_now.values()),
        "labels": {"received": _("Received"), "won": _("Won"), "requests": _("Requests")},
    }


def _append(sheet, values: list) -> None:
    """A row whose text stays text: openpyxl would store "=…" as a formula that Excel runs."""
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith(_FORMULA_STARTS):
            cell.data_type = "s"


def _sums(sums: dict[str, Decimal]) -> str:
    return "; ".join(f"{amount:.2f} {currency}" for currency, amount in sorted(sums.items()))


def _workbook(report: reports.Report) -> Workbook:
    book = Workbook()
    sheet = book.active
    sheet.title = _("Managers")[:31]
    period = f"{report.period.start:%d.%m.%Y} – {report.period.end:%d.%m.%Y}"
    sheet.append([_("Period"), period])
    sheet.append([])
    header = [
        _("Manager"),
        _("Received"),
        _("Won"),
        _("Lost"),
        _("Conversion of received") + ", %",
        _("Won, sum"),
        _("Average days to win"),
        _("Stalled now"),
    ]
    sheet.append(header)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    rows = [(u.get_full_name() if u else _("Without a responsible"), f) for u, f in report.by_manager]
    for name, figures in [*rows, (_("Total"), report.total)]:
        _append(
            sheet,
            [
                name,
                figures.received,
                figures.won,
                figures.lost,
                figures.conversion,
                _sums(figures.won_sums),
                figures.average_days_to_win,
                figures.stalled_now,
            ],
        )
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["F"].width = 30
    statuses = book.create_sheet(_("By status now")[:31])
    statuses.append([_("Status"), _("Requests")])
    for code, count in report.by_status_now.items():
        statuses.append([str(STATUS_LABELS[RequestStatus(code)]), count])
    months = book.create_sheet(_("By month")[:31])
    months.append([_("Month"), _("Received"), _("Won")])
    for month, received, won in report.by_month:
        months.append([month, received, won])
    return book


def month_period(label: str) -> reports.Period:
    """A month of the chart ("2026-11") as a period: its lists are received or won in November."""
    start = date.fromisoformat(f"{label}-01")
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return reports.Period(start, end)
